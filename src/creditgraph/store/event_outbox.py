"""Appending events to the embedded outbox (``event_outbox``) inside the caller's transaction.

Here in the store, not in ``monitoring``, so that servicing's book can publish its events with
the posting or end-of-day chunk that causes them (an event exists if and only if its posting
does) without importing the layer above it; ``monitoring.outbox`` reads the table back.

Offsets only grow: SQLite has a single writer, and on PostgreSQL a publisher takes a
transaction-scoped advisory lock, so offsets become visible in the order they were taken and a
reader never skips an offset that commits later. The price is that publishing transactions on
PostgreSQL commit one after another from their first publish on; keep them short.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from creditgraph.event_envelope import Event, delivery_id, missing_fields, partition_of
from creditgraph.store.db import json_dumps
from creditgraph.store.models import EventOutbox, table_of

OUTBOX = table_of(EventOutbox)
# pg_advisory_xact_lock key of the outbox's publishers ("cg-outbx" as 8 bytes)
PUBLISH_LOCK_KEY = int.from_bytes(b"cg-outbx", "big") & 0x7FFF_FFFF_FFFF_FFFF
_APPEND = (
    'INSERT INTO event_outbox ("partition", "event_id", "person_id", "type", "occurred_at", '
    '"recorded_at", "payload") VALUES (?, ?, ?, ?, ?, ?, ?)'
)


def utcnow() -> datetime:
    """Naive UTC, as every table stores times."""
    return datetime.now(UTC).replace(tzinfo=None)


def outbox_rows(events: Iterable[Event], recorded_at: datetime) -> list[dict[str, Any]]:
    """The rows of ``events``, refusing any that lacks a required field (nothing is written)."""
    rows = []
    for index, event in enumerate(events):
        missing = missing_fields(event)
        if missing:
            raise ValueError(f"event {index} lacks {', '.join(missing)}")
        rows.append(
            {
                "partition": partition_of(event["person_id"]),
                "event_id": str(event["event_id"]),
                "person_id": str(event["person_id"])[:40],
                "type": str(event["type"])[:60],
                "occurred_at": str(event["occurred_at"])[:40],
                "recorded_at": recorded_at,
                "payload": dict(event),
            }
        )
    return rows


def publish_in_transaction(conn: Connection, events: Iterable[Event]) -> list[str]:
    """Append ``events`` inside the caller's transaction: they exist only if it commits.

    Returns the delivery ids (``partition:offset``) in the order given; all rows go in one
    statement, however many there are.
    """
    rows = outbox_rows(events, utcnow())
    if not rows:
        return []
    _lock(conn)
    statement = insert(OUTBOX).returning(OUTBOX.c.offset, sort_by_parameter_order=True)
    offsets = conn.execute(statement, rows).scalars().all()
    return [
        delivery_id(row["partition"], offset) for row, offset in zip(rows, offsets, strict=True)
    ]


def append_in_transaction(conn: Connection, events: Iterable[Event]) -> int:
    """:func:`publish_in_transaction` for a writer that needs no delivery ids (servicing's
    postings): the same rows and lock, one ``executemany`` straight to the driver. Returns how
    many were appended."""
    rows = outbox_rows(events, utcnow())
    if not rows:
        return 0
    _lock(conn)
    sqlite = conn.dialect.name == "sqlite"
    recorded = rows[0]["recorded_at"]
    stamp = recorded.isoformat(sep=" ", timespec="microseconds") if sqlite else recorded
    values = [
        (
            row["partition"],
            row["event_id"],
            row["person_id"],
            row["type"],
            row["occurred_at"],
            stamp,
            json_dumps(row["payload"]),
        )
        for row in rows
    ]
    sql = _APPEND if conn.dialect.paramstyle == "qmark" else _APPEND.replace("?", "%s")
    # On the driver's own cursor: SQLAlchemy's statement handling costs about as much as the
    # insert of one small row, and this runs once per repayment.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, values)
    finally:
        cursor.close()
    return len(values)


def _lock(conn: Connection) -> None:
    """On PostgreSQL, the publishers' lock until commit: offsets become visible in order."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK_KEY})
