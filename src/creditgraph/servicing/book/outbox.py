"""Servicing's monitoring events into the outbox, in the transaction of what they report.

A posting on its own publishes its events as its last statement (``emit``). A transaction that
makes many postings (the end of day's chunk, a file of payments) opens ``events_at_end``
instead: its postings' events are kept and published in one insert as the transaction's last
statement. On PostgreSQL that matters beyond the one insert: the outbox's publishers take one
advisory lock until they commit (so offsets become visible in order), and a transaction that
held it while it went on to lock more loans could wait on a posting that itself waits for the
lock. Published last, after every row lock the transaction takes, the lock closes no cycle.

A savepoint rolled back inside such a transaction (a refused payment of a file) takes its
posting away; its kept events go with it, because only the events of postings still present
at the end are published.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from creditgraph.servicing.book import TRANSACTIONS
from creditgraph.store.event_outbox import append_in_transaction

Event = dict[str, Any]
_PENDING = "creditgraph.servicing.pending_events"
# ``Connection.info`` lives as long as the pooled database connection: the key is always removed.
LOOKUP_CHUNK = 500


@contextmanager
def events_at_end(conn: Connection) -> Iterator[None]:
    """Keep the events emitted on ``conn`` inside the block and publish them when it ends
    without error, in the order emitted (none when it raises). Inside an open block, a no-op."""
    if _PENDING in conn.info:
        yield
        return
    pending: list[tuple[str | None, Event]] = []
    conn.info[_PENDING] = pending
    try:
        yield
        del conn.info[_PENDING]
        _publish_pending(conn, pending)
    finally:
        conn.info.pop(_PENDING, None)


def emit(conn: Connection, events: Sequence[Event], transaction_id: str | None = None) -> None:
    """Publish ``events`` now, or keep them for the end of the open ``events_at_end`` block.

    ``transaction_id`` names the posting they report, if any: kept events of a posting no
    longer present at the end (its savepoint rolled back) are dropped.
    """
    if not events:
        return
    pending: list[tuple[str | None, Event]] | None = conn.info.get(_PENDING)
    if pending is None:
        append_in_transaction(conn, events)
    else:
        pending.extend((transaction_id, event) for event in events)


def _publish_pending(conn: Connection, pending: list[tuple[str | None, Event]]) -> None:
    if not pending:
        return
    wanted = sorted({tx for tx, _ in pending if tx is not None})
    present: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        present.update(
            conn.execute(select(TRANSACTIONS.c.id).where(TRANSACTIONS.c.id.in_(chunk))).scalars()
        )
    append_in_transaction(conn, [e for tx, e in pending if tx is None or tx in present])
