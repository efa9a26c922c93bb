"""Referrals from outside the decision: risk monitoring asks for a person to review a borrower.

A monitoring referral is a review request of kind ``monitoring`` on the person's latest decision,
in the review queue beside the engine's referrals and borrowers' requests, with its audit event.
It runs on the caller's connection, so it commits with the alert that asked for it; a person
with a pending monitoring review on that decision gets no second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from creditgraph.decision import record_store, review_store
from creditgraph.decision.records import event_row, review_row
from creditgraph.store.models import DecisionRecord, table_of

MONITORING_KIND = "monitoring"
_CHUNK = 500

_RECORD = table_of(DecisionRecord)
_LATEST = (
    select(_RECORD.c.person_id, func.max(_RECORD.c.id).label("decision_id"))
    .where(_RECORD.c.person_id.in_(bindparam("people", expanding=True)))
    .group_by(_RECORD.c.person_id)
)


@dataclass(frozen=True, slots=True)
class Referral:
    """What a referral did: the review request and whether it was opened now or already pending."""

    decision_id: str
    review_id: str
    opened: bool


def latest_decisions(conn: Connection, people: Iterable[str]) -> dict[str, str]:
    """Each person's latest decision id (decision ids sort by creation time)."""
    wanted = sorted(set(people))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(_LATEST, {"people": wanted[start : start + _CHUNK]})
        found.update({row.person_id: str(row.decision_id) for row in rows})
    return found


def refer(
    conn: Connection, decision_id: str, *, requested_by: str, note: str, at: datetime
) -> Referral:
    """A monitoring review request on ``decision_id`` (or the pending one), with its event."""
    pending = review_store.pending_request(conn, decision_id, MONITORING_KIND)
    if pending is not None:
        return Referral(decision_id, pending, opened=False)
    row = review_row(decision_id, MONITORING_KIND, requested_by, note, at)
    record_store.insert_review(conn, row)
    record_store.insert_event(
        conn,
        event_row(
            decision_id, row["id"], f"review_opened:{MONITORING_KIND}", requested_by, at, note
        ),
    )
    return Referral(decision_id, str(row["id"]), opened=True)
