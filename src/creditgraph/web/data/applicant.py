"""What the applicant page reads: a person found by pseudonym, their latest score and reasons,
features, decisions and loans; and the profile, decrypted only when a permitted user asks.

Nothing here decrypts unless :func:`reveal` is called, and that call logs the read (the access
log) and records the workspace action in one transaction with it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine, select

from creditgraph.features.catalogue import all_features
from creditgraph.privacy.access_log import record_access
from creditgraph.privacy.fieldcrypt import FieldCryptError, read_identity
from creditgraph.privacy.keys import KeyProvider
from creditgraph.store.db import write_transaction
from creditgraph.store.models import (
    DecisionRecord,
    Loan,
    ModelVersion,
    OnlineFeatures,
    Person,
    Score,
    table_of,
)
from creditgraph.web import actions

PSEUDONYM_LENGTH = 32
RECENT = 50
MAX_REASONS = 4
PERSONAL_FEATURES = frozenset({"income_monthly_fen"})
"""Feature values that are personal data (decrypted income): shown only with the profile."""
PROFILE_CLASSES = ("name", "phone", "id_number", "note", "income", "external_id")
PURPOSE = "decision_review"

_PERSONS = table_of(Person).c
_DECISIONS = table_of(DecisionRecord).c
_LOANS = table_of(Loan).c
_SCORES = table_of(Score).c
_FEATURES = table_of(OnlineFeatures).c


def is_pseudonym_text(text: str) -> bool:
    return 8 <= len(text) <= PSEUDONYM_LENGTH and all(c in "0123456789abcdef" for c in text)


def resolve(engine: Engine, text: str) -> str | None:
    """The full pseudonym a (possibly shortened) pseudonym names, when exactly one does."""
    text = text.strip().lower()
    if not is_pseudonym_text(text):
        return None
    with engine.connect() as conn:
        if len(text) == PSEUDONYM_LENGTH:
            found = conn.execute(
                select(_PERSONS.person_id).where(_PERSONS.person_id == text)
            ).scalar_one_or_none()
            return found
        # a prefix is a range on the primary key (hex sorts below "~")
        rows = conn.execute(
            select(_PERSONS.person_id)
            .where(_PERSONS.person_id >= text, _PERSONS.person_id < text + "~")
            .limit(2)
        ).scalars()
        matches = list(rows)
    return matches[0] if len(matches) == 1 else None


def recent_decisions(engine: Engine, limit: int = RECENT) -> list[dict[str, Any]]:
    """The latest decisions, newest first, each with its applicant's pseudonym."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                _DECISIONS.id,
                _DECISIONS.created_at,
                _DECISIONS.person_id,
                _DECISIONS.product_code,
                _DECISIONS.amount_fen,
                _DECISIONS.outcome,
                _DECISIONS.grade,
            )
            .order_by(_DECISIONS.created_at.desc(), _DECISIONS.id)
            .limit(limit)
        ).mappings()
        return [dict(r) for r in rows]


def person(engine: Engine, person_id: str) -> dict[str, Any] | None:
    """The person's plaintext attributes (no encrypted field)."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(
                    _PERSONS.person_id,
                    _PERSONS.segment,
                    _PERSONS.region_tier,
                    _PERSONS.birth_year,
                    _PERSONS.occupation,
                    _PERSONS.registered_at,
                ).where(_PERSONS.person_id == person_id)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def _reasons(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [r for r in (raw or []) if isinstance(r, dict)][:MAX_REASONS]


def latest_score(conn: Connection, person_id: str) -> dict[str, Any] | None:
    """The newest score; where several models scored the same day, the social champion's
    (the one decisions use)."""
    models = table_of(ModelVersion).c
    row = (
        conn.execute(
            select(*_SCORES)
            .join(table_of(ModelVersion), models.id == _SCORES.model_id)
            .where(_SCORES.person_id == person_id)
            .order_by(
                _SCORES.as_of.desc(),
                (models.status == "champion").desc(),
                (models.variant == "social").desc(),
                _SCORES.scored_at.desc(),
            )
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    found = dict(row)
    found["reasons"] = _reasons(found["reasons"])
    return found


def decisions(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            _DECISIONS.id,
            _DECISIONS.created_at,
            _DECISIONS.as_of,
            _DECISIONS.product_code,
            _DECISIONS.amount_fen,
            _DECISIONS.term_months,
            _DECISIONS.outcome,
            _DECISIONS.limit_fen,
            _DECISIONS.score,
            _DECISIONS.grade,
            _DECISIONS.pd,
            _DECISIONS.model_id,
            _DECISIONS.reasons,
        )
        .where(_DECISIONS.person_id == person_id)
        .order_by(_DECISIONS.created_at.desc(), _DECISIONS.id)
    ).mappings()
    out = []
    for row in rows:
        found = dict(row)
        found["reasons"] = _reasons(found["reasons"])
        out.append(found)
    return out


def loans(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            _LOANS.id,
            _LOANS.product_code,
            _LOANS.state,
            _LOANS.principal_fen,
            _LOANS.disbursed_on,
            _LOANS.maturity,
            _LOANS.dpd,
            _LOANS.bucket,
        )
        .where(_LOANS.person_id == person_id)
        .order_by(_LOANS.created_at.desc(), _LOANS.id)
    ).mappings()
    return [dict(r) for r in rows]


_DESCRIPTIONS: dict[str, str] = {}


def _description(name: str) -> str:
    if not _DESCRIPTIONS:
        _DESCRIPTIONS.update({f.name: f.definition for f in all_features()})
    return _DESCRIPTIONS.get(name, "")


def features(conn: Connection, person_id: str, personal: bool) -> dict[str, Any] | None:
    """The person's online feature row: as-of, and (name, value, definition) rows.

    Personal values (the decrypted income) are left out unless ``personal``."""
    row = (
        conn.execute(
            select(_FEATURES.as_of, _FEATURES.feature_set_version, _FEATURES["values"]).where(
                _FEATURES.person_id == person_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    values: dict[str, Any] = row["values"] or {}
    rows = [
        {
            "name": name,
            "value": value if personal or name not in PERSONAL_FEATURES else None,
            "hidden": name in PERSONAL_FEATURES and not personal,
            "definition": _description(name),
        }
        for name, value in values.items()
    ]
    return {"as_of": row["as_of"], "version": row["feature_set_version"], "rows": rows}


def overview(engine: Engine, person_id: str, personal: bool = False) -> dict[str, Any]:
    """Score, decisions, loans and features of a person, read in one connection."""
    with engine.connect() as conn:
        return {
            "score": latest_score(conn, person_id),
            "decisions": decisions(conn, person_id),
            "loans": loans(conn, person_id),
            "features": features(conn, person_id, personal),
        }


def reveal(
    engine: Engine, provider: KeyProvider, person_id: str, actor: str, role: str
) -> dict[str, Any] | None:
    """The person's decrypted profile, the read logged and the action recorded together.

    None when the person has no key or identity any more (erased): nothing is logged then,
    since nothing was read."""
    with write_transaction(engine) as conn:
        try:
            identity = read_identity(conn, provider, person_id)
        except FieldCryptError:
            return None
        record_access(conn, f"user:{actor}", "user", person_id, PURPOSE, PROFILE_CLASSES)
        actions.record(conn, actor, role, "profile.reveal", person_id, detail={"purpose": PURPOSE})
    return asdict(identity)


def log_lookup(engine: Engine, person_id: str, actor: str) -> None:
    """A search by the lender's own id found ``person_id``: a read of their external id."""
    with write_transaction(engine) as conn:
        record_access(conn, f"user:{actor}", "user", person_id, PURPOSE, ("external_id",))
