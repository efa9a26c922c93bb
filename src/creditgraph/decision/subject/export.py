"""Everything the platform holds about one person, as one JSON-ready document (PIPL Art. 45).

Read in the caller's transaction so the document is one consistent view, and so the access
that the export itself records is part of the access log it shows. Sections come in a fixed
order, each list sorted by time then id, so two exports of unchanged data are equal apart from
their request and time. Money is yuan as exact decimal strings; times are ISO text.

Other people are never disclosed: an alert's evidence that names someone else's pseudonym
shows ``another person`` in its place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, Table, select

from creditgraph.decision.records import public as decision_public
from creditgraph.decision.records import review_public
from creditgraph.money import from_fen
from creditgraph.privacy.access_log import accesses_of
from creditgraph.store.models import (
    Alert,
    Consent,
    CreditLimitControl,
    DecisionRecord,
    ExternalLoan,
    LegalHold,
    Loan,
    LoanInstalment,
    LoanTransaction,
    OnlineFeatures,
    Person,
    ReviewRequest,
    Score,
    SubjectRequest,
    table_of,
)

EXPORT_FORMAT = "creditgraph-subject-export/1"
IdentityReader = Callable[[Connection, str], Mapping[str, Any]]
"""The person's decrypted personal fields (external id, name, phone, id number, note, declared
monthly income in fen) from their pseudonym."""

SECTIONS = (
    "identity",
    "person",
    "consents",
    "features",
    "scores",
    "decisions",
    "loans",
    "external_loans",
    "social_data",
    "alerts",
    "limit_controls",
    "legal_holds",
    "subject_requests",
    "access_log",
)
OTHER_PERSON = "another person"
_PSEUDONYM = re.compile(r"[0-9a-f]{32}")
# bookkeeping of ingestion: how a row arrived, not something about the person
_INTERNAL = frozenset({"row_hash", "batch_id", "person_id"})


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _plain(row: Mapping[str, Any], drop: frozenset[str] = _INTERNAL) -> dict[str, Any]:
    """A row as JSON-ready data: ``*_fen`` columns become yuan strings under the bare name."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in drop:
            continue
        if name.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
            out[name[: -len("_fen")]] = str(from_fen(value))
        else:
            out[name] = _value(value)
    return out


def _rows(conn: Connection, table: Table, where: Any, *order: Column[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(table).where(where).order_by(*order)).mappings()]


def _hide_others(value: Any, person_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _hide_others(v, person_id) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_hide_others(v, person_id) for v in value]
    if isinstance(value, str) and value != person_id and _PSEUDONYM.fullmatch(value):
        return OTHER_PERSON
    return value


def identity_section(identity: Mapping[str, Any]) -> dict[str, Any]:
    return _plain(dict(identity), frozenset({"person_id"}))


def person_section(conn: Connection, person_id: str) -> dict[str, Any]:
    persons = table_of(Person)
    shown = [
        persons.c.segment,
        persons.c.region_tier,
        persons.c.birth_year,
        persons.c.gender,
        persons.c.occupation,
        persons.c.registered_at,
        persons.c.created_at,
        persons.c.updated_at,
    ]
    row = conn.execute(select(*shown).where(persons.c.person_id == person_id)).mappings().one()
    return _plain(dict(row))


def consents_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(Consent)
    rows = _rows(conn, t, t.c.person_id == person_id, t.c.granted_at, t.c.id)
    return [_plain(r) for r in rows]


def features_section(conn: Connection, person_id: str) -> dict[str, Any] | None:
    t = table_of(OnlineFeatures)
    row = conn.execute(select(t).where(t.c.person_id == person_id)).mappings().first()
    if row is None:
        return None
    out = _plain(dict(row))
    out["values"] = {k: row["values"][k] for k in sorted(row["values"])}
    return out


def scores_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(Score)
    rows = _rows(conn, t, t.c.person_id == person_id, t.c.as_of, t.c.model_id)
    return [_plain(r) for r in rows]


def decisions_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(DecisionRecord)
    reviews = table_of(ReviewRequest)
    out = []
    for row in _rows(conn, t, t.c.person_id == person_id, t.c.created_at, t.c.id):
        asked = _rows(
            conn, reviews, reviews.c.decision_id == row["id"], reviews.c.created_at, reviews.c.id
        )
        decision = decision_public(row, [review_public(r) for r in asked])
        decision.pop("person_id")
        decision["inputs"] = {k: row["inputs"][k] for k in sorted(row["inputs"])}
        out.append(decision)
    return out


def loans_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    loans = table_of(Loan)
    instalments = table_of(LoanInstalment)
    postings = table_of(LoanTransaction)
    out = []
    for row in _rows(conn, loans, loans.c.person_id == person_id, loans.c.created_at, loans.c.id):
        loan = _plain(row)
        loan["instalments"] = [
            _plain(r, frozenset({"id", "loan_id"}))
            for r in _rows(
                conn,
                instalments,
                instalments.c.loan_id == row["id"],
                instalments.c.schedule_version,
                instalments.c.number,
            )
        ]
        loan["transactions"] = [
            _plain(r, frozenset({"loan_id", "request_sha256", "idempotency_key"}))
            for r in _rows(
                conn,
                postings,
                postings.c.loan_id == row["id"],
                postings.c.business_date,
                postings.c.created_at,
                postings.c.id,
            )
        ]
        out.append(loan)
    return out


def external_loans_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(ExternalLoan)
    rows = _rows(conn, t, t.c.person_id == person_id, t.c.reported_at, t.c.id)
    return [_plain(r) for r in rows]


def alerts_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(Alert)
    out = []
    for row in _rows(conn, t, t.c.person_id == person_id, t.c.occurred_at, t.c.id):
        alert = _plain(row, frozenset({"person_id", "dedup_key"}))
        alert["evidence"] = _hide_others(row["evidence"], person_id)
        alert["actions"] = _hide_others(row["actions"], person_id)
        out.append(alert)
    return out


def limit_controls_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(CreditLimitControl)
    rows = _rows(conn, t, t.c.person_id == person_id, t.c.created_at, t.c.id)
    return [_plain(r) for r in rows]


def legal_holds_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(LegalHold)
    rows = _rows(conn, t, t.c.person_id == person_id, t.c.created_at, t.c.id)
    return [_plain(r) for r in rows]


def requests_section(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    t = table_of(SubjectRequest)
    rows = _rows(conn, t, t.c.person_id == person_id, t.c.received_at, t.c.id)
    return [_plain(r) for r in rows]


def assemble(
    conn: Connection,
    person_id: str,
    identity: IdentityReader,
    request_id: str,
    generated_at: datetime,
    social_data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole export of a held person (the caller checked they are held); ``social_data``
    is the lake's summary (``lake.social_section``), read before: a scan of the lake has no
    place inside the caller's write transaction."""
    return {
        "format": EXPORT_FORMAT,
        "request_id": request_id,
        "generated_at": generated_at.isoformat(),
        "person_id": person_id,
        "identity": identity_section(identity(conn, person_id)),
        "person": person_section(conn, person_id),
        "consents": consents_section(conn, person_id),
        "features": features_section(conn, person_id),
        "scores": scores_section(conn, person_id),
        "decisions": decisions_section(conn, person_id),
        "loans": loans_section(conn, person_id),
        "external_loans": external_loans_section(conn, person_id),
        "social_data": social_data or [],
        "alerts": alerts_section(conn, person_id),
        "limit_controls": limit_controls_section(conn, person_id),
        "legal_holds": legal_holds_section(conn, person_id),
        "subject_requests": requests_section(conn, person_id),
        "access_log": accesses_of(conn, person_id),
    }


def counts(document: Mapping[str, Any]) -> dict[str, int]:
    """How many items each section held: what the request log keeps of an export."""
    out = {}
    for name in SECTIONS:
        value = document[name]
        out[name] = len(value) if isinstance(value, list) else int(value is not None)
    return out
