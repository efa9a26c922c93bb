"""The personal-data access log: who read a person's personal data, when, and for what purpose.

PIPL Art. 45 lets a person ask what is held about them and how it is processed; Art. 54 asks
for regular compliance audits. Both need a record of every read of personal data by a user, an
API key or a job. Recording one is a single insert in the reader's own transaction (or a short
one of its own), cheap enough for every lookup. The log holds pseudonyms and field classes,
never the values read.

A job that reads every person at once (a feature build decrypting incomes) records one row with
no person; a person's view of the log therefore shows their own rows and the bulk reads made
while their data was held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select

from creditgraph.privacy.purpose import BASES
from creditgraph.store.models import DataAccess, Erasure, Person, table_of

ACTOR_KINDS = ("user", "key", "job")
"""A person at the command line (``user:<name>``), an API key (``key:<id>``), a batch job."""
ACTIONS = ("read", "export", "correct", "erase", "object")
PURPOSES = (*BASES, "servicing", "decision_review", "compliance")
"""Why the data was read: the purposes and legal bases readers declare, plus the lender's own
duties (servicing a loan, a human review of a decision, a compliance check)."""

_LOG = table_of(DataAccess)
_PERSONS = table_of(Person)
_ERASURES = table_of(Erasure)
_MAX_ACTOR = 100
_MAX_CLASSES = 200


class AccessLogError(ValueError):
    """An access record that names no actor, an unknown kind, purpose or action."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check(actor: str, actor_kind: str, purpose: str, classes: str, action: str) -> None:
    if not actor or not actor.strip() or len(actor) > _MAX_ACTOR:
        raise AccessLogError(f"actor must name who reads (1-{_MAX_ACTOR} characters)", "actor")
    if actor_kind not in ACTOR_KINDS:
        raise AccessLogError(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}", "actor_kind")
    if purpose not in PURPOSES:
        raise AccessLogError(f"purpose must be one of {', '.join(PURPOSES)}", "purpose")
    if action not in ACTIONS:
        raise AccessLogError(f"action must be one of {', '.join(ACTIONS)}", "action")
    if not classes or len(classes) > _MAX_CLASSES:
        raise AccessLogError(
            f"data_classes must name what was read (at most {_MAX_CLASSES} characters)",
            "data_classes",
        )


def record_access(
    conn: Connection,
    actor: str,
    actor_kind: str,
    person_id: str | None,
    purpose: str,
    data_classes: Sequence[str],
    action: str = "read",
    at: datetime | None = None,
) -> None:
    """Record one read of personal data (``person_id`` None: a job that read everyone)."""
    classes = ",".join(sorted(set(data_classes)))
    _check(actor, actor_kind, purpose, classes, action)
    conn.execute(
        insert(_LOG).values(
            at=at or _now(),
            actor=actor,
            actor_kind=actor_kind,
            person_id=person_id,
            purpose=purpose,
            data_classes=classes,
            action=action,
        )
    )


def accesses_of(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    """Every recorded read of the person's data, oldest first: their own rows, and the bulk
    reads (no person) made while the platform held their data (from when their record was
    stored until their erasure, or now)."""
    since = conn.execute(
        select(_PERSONS.c.created_at).where(_PERSONS.c.person_id == person_id)
    ).scalar_one_or_none()
    until = conn.execute(
        select(_ERASURES.c.erased_at).where(_ERASURES.c.person_id == person_id)
    ).scalar_one_or_none()
    held = [_LOG.c.person_id.is_(None)]
    if since is not None:
        held.append(_LOG.c.at >= since)
    if until is not None:
        held.append(_LOG.c.at <= until)
    # without a stored record nothing of theirs was held in bulk: only their own rows
    who = _LOG.c.person_id == person_id
    condition = or_(who, and_(*held)) if since is not None else who
    rows = conn.execute(select(_LOG).where(condition).order_by(_LOG.c.at, _LOG.c.id)).mappings()
    return [
        {
            "at": row["at"].isoformat(),
            "actor": row["actor"],
            "actor_kind": row["actor_kind"],
            "purpose": row["purpose"],
            "data_classes": row["data_classes"].split(","),
            "action": row["action"],
            "bulk": row["person_id"] is None,
        }
        for row in rows
    ]
