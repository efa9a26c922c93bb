"""Applicant lookup: a person's online features and credit-assessment consent state, read once.

The reads are point reads on indexed keys with statements built once at import: constructing a
statement costs more than running it. A submitted id may be a pseudonym or the lender's own id;
``read_submitted`` resolves it in the same read as the features.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from creditgraph.decision.applicant import Applicant, ConsentState
from creditgraph.decision.service_errors import UnknownPersonError
from creditgraph.store.models import Consent, OnlineFeatures, table_of

CONSENT_PURPOSE = "credit_assessment"

_FEATURES_OF = select(
    OnlineFeatures.person_id,
    OnlineFeatures.as_of,
    OnlineFeatures.snapshot_id,
    OnlineFeatures.values,
).where(OnlineFeatures.person_id.in_(bindparam("ids", expanding=True)))
_CONSENT = table_of(Consent).c
_CONSENTS_OF = select(
    _CONSENT.person_id,
    _CONSENT.source,
    _CONSENT.granted_at,
    _CONSENT.expires_at,
    _CONSENT.revoked_at,
).where(
    _CONSENT.purpose == bindparam("purpose"),
    _CONSENT.person_id.in_(bindparam("ids", expanding=True)),
)
_FEATURES = table_of(OnlineFeatures).c
# The features of a submitted id taken as a pseudonym: a primary-key read. The lender's own id
# is stored only encrypted; it is found by its keyed pseudonym, which is the person's key.
_FEATURES_OF_SUBMITTED = select(
    _FEATURES.person_id,
    _FEATURES.as_of,
    _FEATURES.snapshot_id,
    _FEATURES["values"],
).where(_FEATURES.person_id == bindparam("submitted"))


def _consents(conn: Connection, person_ids: list[str], at: datetime) -> dict[str, set[str]]:
    """The sources of each person's consents in force at ``at``."""
    consents: dict[str, set[str]] = {}
    for r in conn.execute(_CONSENTS_OF, {"ids": person_ids, "purpose": CONSENT_PURPOSE}):
        if (
            r.granted_at <= at
            and (r.expires_at is None or r.expires_at > at)
            and (r.revoked_at is None or r.revoked_at > at)
        ):
            consents.setdefault(r.person_id, set()).add(r.source)
    return consents


def _applicant(row: Any, sources: set[str]) -> Applicant:
    return Applicant(
        row.person_id,
        dict(row.values),
        row.as_of,
        row.snapshot_id,
        ConsentState(bool(sources), len(sources)),
    )


def read_applicants(conn: Connection, person_ids: list[str], at: datetime) -> dict[str, Applicant]:
    """Features and consent state of each known person (unknown ones are left out)."""
    rows = conn.execute(_FEATURES_OF, {"ids": person_ids}).all()
    consents = _consents(conn, person_ids, at)
    return {row.person_id: _applicant(row, consents.get(row.person_id, set())) for row in rows}


def read_applicant(conn: Connection, person_id: str, at: datetime) -> Applicant:
    """One person's features and consent state; ``UnknownPersonError`` without features."""
    found = read_applicants(conn, [person_id], at).get(person_id)
    if found is None:
        raise UnknownPersonError(
            f"unknown person {person_id!r}: no online features (build features first)"
        )
    return found


def read_submitted(
    conn: Connection, submitted: str, pseudonym_of: Callable[[str], str], at: datetime
) -> Applicant:
    """The applicant a client named: a known pseudonym as it is, else the lender's own id.

    Resolves as ``features.store.resolve_person`` does — a pseudonym with online features, else
    ``pseudonym_of`` (the platform's keyed pseudonym of the lender's id) — reading the features
    in the same statement, so a decision on a known person costs two reads (features, consents).
    """
    row = conn.execute(_FEATURES_OF_SUBMITTED, {"submitted": submitted}).first()
    if row is not None:
        return _applicant(row, _consents(conn, [row.person_id], at).get(row.person_id, set()))
    return read_applicant(conn, str(pseudonym_of(submitted)), at)
