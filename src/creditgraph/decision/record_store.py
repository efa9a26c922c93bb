"""The statements that store and read decision records, review requests and audit events.

A repository in functions: each takes the caller's connection, so a workflow decides what one
transaction holds. Statements are built once; records are immutable once written (a trigger
refuses updates), so there is no update here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from creditgraph.audit import outbox as audit_log
from creditgraph.decision.records import Decided, DecisionRows, decision_rows
from creditgraph.store.models import DecisionEvent, DecisionRecord, ReviewRequest, table_of

_RECORD = table_of(DecisionRecord)
_REVIEW = table_of(ReviewRequest)
_EVENT = table_of(DecisionEvent)
_INSERT_RECORD = insert(_RECORD)
_INSERT_REVIEW = insert(_REVIEW)
_INSERT_EVENT = insert(_EVENT)
_RECORD_BY_ID = select(_RECORD).where(_RECORD.c.id == bindparam("id"))
_RECORD_EXISTS = select(_RECORD.c.id).where(_RECORD.c.id == bindparam("id"))
_REVIEWS_OF = (
    select(_REVIEW)
    .where(_REVIEW.c.decision_id == bindparam("id"))
    .order_by(_REVIEW.c.created_at, _REVIEW.c.id)
)
_EVENTS_OF = select(_EVENT).where(_EVENT.c.decision_id == bindparam("id")).order_by(_EVENT.c.id)


def insert_decision_rows(conn: Connection, rows: DecisionRows) -> None:
    """Records (committed to the audit log), their referral reviews and audit events."""
    if rows.records:
        conn.execute(_INSERT_RECORD, rows.records)
        audit_log.record_many(conn, "decision", [r["id"] for r in rows.records])
    if rows.reviews:
        conn.execute(_INSERT_REVIEW, rows.reviews)
    if rows.events:
        conn.execute(_INSERT_EVENT, rows.events)


def insert_event(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(_INSERT_EVENT, row)


def insert_review(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(_INSERT_REVIEW, row)


def decision_exists(conn: Connection, decision_id: str) -> bool:
    return conn.execute(_RECORD_EXISTS, {"id": decision_id}).first() is not None


def read_record(conn: Connection, decision_id: str) -> dict[str, Any] | None:
    """The stored record's row, or None."""
    row = conn.execute(_RECORD_BY_ID, {"id": decision_id}).mappings().first()
    return None if row is None else dict(row)


def read_reviews_of(conn: Connection, decision_id: str) -> list[dict[str, Any]]:
    """A decision's review requests, oldest first."""
    return [dict(x) for x in conn.execute(_REVIEWS_OF, {"id": decision_id}).mappings()]


def read_events_of(conn: Connection, decision_id: str) -> list[dict[str, Any]]:
    """A decision's audit trail, oldest first."""
    return [dict(x) for x in conn.execute(_EVENTS_OF, {"id": decision_id}).mappings()]


def store_decisions(conn: Connection, items: list[Decided], at: datetime) -> list[dict[str, Any]]:
    """Store decided applications (and a referral's review); the public record of each."""
    rows = decision_rows(items, at)
    insert_decision_rows(conn, rows)
    return rows.answers
