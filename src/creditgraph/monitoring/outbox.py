"""The embedded event bus: an append-only outbox table in the database, read by offset.

Why a table: servicing emits its events in the same transaction as the posting
(``publish_in_transaction``), so an event exists if and only if the posting does, with nothing
else to run. Consumers read ``event_outbox`` in offset order and commit how far they got per
partition (``event_consumer_offsets``) in the same transaction as their handler's effects
(``ack_in``), so a consumer killed before its commit starts again where the last commit left it:
at-least-once, and exactly-once in effect with handlers keyed by ``event_id``.

Publishing (``publish_in_transaction``, ``outbox_rows``) lives in ``store.event_outbox``, below
servicing, and is re-exported here. Offsets only grow: SQLite has a single writer, and on
PostgreSQL a publisher takes a transaction-scoped advisory lock, so offsets become visible in the
order they were taken and a reader never skips an offset that commits later.

The ack is cumulative per partition, as in a log: the committed offset advances to just below the
oldest delivery not yet acknowledged. Several consumers of one group split the partitions
(``bus.split_partitions``); one person's events are in one partition, so their order holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from creditgraph.monitoring.bus import (
    PARTITIONS,
    DeadLetter,
    Delivery,
    Event,
    delivery_id,
    one_start,
    parse_delivery_id,
)
from creditgraph.store.db import write_transaction

# Publishing lives in the store so that servicing's book can append in its own transactions.
from creditgraph.store.event_outbox import (
    OUTBOX,
    PUBLISH_LOCK_KEY,
    outbox_rows,
    publish_in_transaction,
    utcnow,
)
from creditgraph.store.models import EventConsumerOffset, EventDeadLetter, table_of

__all__ = [
    "OUTBOX",
    "PUBLISH_LOCK_KEY",
    "OutboxBus",
    "outbox_rows",
    "publish_in_transaction",
    "utcnow",
]

OFFSETS = table_of(EventConsumerOffset)
DEAD = table_of(EventDeadLetter)
REASON_LIMIT = 1000


@dataclass
class _GroupState:
    """What this process has read for a group: committed offsets, read position, in flight."""

    committed: dict[int, int]
    read_to: int
    inflight: deque[int] = field(default_factory=deque)
    acked: set[int] = field(default_factory=set)


class OutboxBus:
    """The embedded ``EventBus`` over one database; ``partitions`` are those this consumer owns."""

    def __init__(self, engine: Engine, partitions: Sequence[int] | None = None) -> None:
        self.engine = engine
        owned = (
            tuple(sorted(set(partitions))) if partitions is not None else tuple(range(PARTITIONS))
        )
        if not owned or any(not 0 <= p < PARTITIONS for p in owned):
            raise ValueError(f"partitions must be a non-empty subset of 0..{PARTITIONS - 1}")
        self.partitions = owned
        self._groups: dict[str, _GroupState] = {}

    # --- publishing -----------------------------------------------------------------------

    def publish(self, events: Iterable[Event]) -> list[str]:
        with write_transaction(self.engine) as conn:
            return publish_in_transaction(conn, events)

    # --- consuming ------------------------------------------------------------------------

    def consume(self, group: str, consumer: str, batch: int = 500) -> list[Delivery]:
        """The next deliveries after this process's read position (``consumer`` names nothing
        here: the partitions this bus owns say who reads what)."""
        state = self._state(group)
        query = select(OUTBOX.c.offset, OUTBOX.c.partition, OUTBOX.c.payload)
        if len(self.partitions) < PARTITIONS:
            query = query.where(OUTBOX.c.partition.in_(self.partitions))
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    query.where(OUTBOX.c.offset > state.read_to)
                    .order_by(OUTBOX.c.offset)
                    .limit(batch)
                ).all()
            if not rows:
                return []
            state.read_to = rows[-1].offset
            deliveries = [
                Delivery(delivery_id(p, offset), p, str(offset), payload)
                for offset, p, payload in rows
                if offset > state.committed[p]
            ]
            if deliveries:
                state.inflight.extend(int(d.position) for d in deliveries)
                return deliveries

    def ack(self, group: str, ids: Sequence[str]) -> None:
        with write_transaction(self.engine) as conn:
            self.ack_in(conn, group, ids)

    def ack_in(self, conn: Connection, group: str, ids: Sequence[str]) -> None:
        """Acknowledge inside the handler's transaction: offsets commit with its effects.

        If that transaction rolls back, call ``rewind(group)`` so the deliveries come again.
        """
        state = self._state(group)
        state.acked.update(int(parse_delivery_id(value)[1]) for value in ids)
        while state.inflight and state.inflight[0] in state.acked:
            state.acked.discard(state.inflight.popleft())
        commit_to = state.inflight[0] - 1 if state.inflight else state.read_to
        behind = [p for p in self.partitions if state.committed[p] < commit_to]
        if not behind:
            return
        conn.execute(
            update(OFFSETS)
            .where(OFFSETS.c.group == group, OFFSETS.c.partition.in_(behind))
            .values(offset=commit_to, updated_at=utcnow())
        )
        for p in behind:
            state.committed[p] = commit_to

    def rewind(self, group: str) -> None:
        """Forget what this process read for ``group``: the next consume starts from the offsets
        committed in the database (after a transaction that acknowledged rolled back)."""
        self._groups.pop(group, None)

    # --- dead letters and replay ------------------------------------------------------------

    def dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        with write_transaction(self.engine) as conn:
            self.dead_letter_in(conn, group, delivery, reason)

    def dead_letter_in(self, conn: Connection, group: str, delivery: Delivery, reason: str) -> None:
        event = delivery.event
        conn.execute(
            insert(DEAD).values(
                group=group,
                delivery_id=delivery.id,
                event_id=_text(event.get("event_id"), 64),
                person_id=_text(event.get("person_id"), 40),
                payload=dict(event),
                reason=reason[:REASON_LIMIT],
                dead_at=utcnow(),
            )
        )

    def dead_letters(self, group: str) -> list[DeadLetter]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(DEAD.c.delivery_id, DEAD.c.payload, DEAD.c.reason, DEAD.c.dead_at)
                .where(DEAD.c.group == group)
                .order_by(DEAD.c.id)
            ).all()
        return [DeadLetter(group, d, payload, reason, at) for d, payload, reason, at in rows]

    def replay(
        self, group: str, *, from_position: str | None = None, since: datetime | None = None
    ) -> None:
        """Move every partition of ``group`` back (or forward) to start at one offset.

        ``from_position`` is an offset or a delivery id; ``since`` finds the first offset
        recorded on or after it. Events are delivered again; a handler keyed by ``event_id``
        skips those it applied, so replay into a new group to rebuild state from scratch.
        """
        one_start(from_position, since)
        with write_transaction(self.engine) as conn:
            if since is not None:
                first = conn.execute(
                    select(func.min(OUTBOX.c.offset)).where(OUTBOX.c.recorded_at >= since)
                ).scalar()
                if first is None:
                    first = (conn.execute(select(func.max(OUTBOX.c.offset))).scalar() or 0) + 1
            else:
                assert from_position is not None
                position = from_position.rpartition(":")[2]
                first = int(position)
            self._ensure_rows(conn, group, range(PARTITIONS))
            conn.execute(
                update(OFFSETS)
                .where(OFFSETS.c.group == group)
                .values(offset=first - 1, updated_at=utcnow())
            )
        self.rewind(group)

    def committed(self, group: str) -> dict[int, int]:
        """The offsets committed for ``group`` per partition (missing partitions at 0)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(OFFSETS.c.partition, OFFSETS.c.offset).where(OFFSETS.c.group == group)
            ).all()
        stored = {p: offset for p, offset in rows}
        return {p: stored.get(p, 0) for p in range(PARTITIONS)}

    # --- internals --------------------------------------------------------------------------

    def _state(self, group: str) -> _GroupState:
        state = self._groups.get(group)
        if state is None:
            committed = self._load(group)
            state = _GroupState(committed, min(committed.values()))
            self._groups[group] = state
        return state

    def _load(self, group: str) -> dict[int, int]:
        for _ in range(3):
            try:
                with write_transaction(self.engine) as conn:
                    self._ensure_rows(conn, group, self.partitions)
                    rows = conn.execute(
                        select(OFFSETS.c.partition, OFFSETS.c.offset).where(
                            OFFSETS.c.group == group, OFFSETS.c.partition.in_(self.partitions)
                        )
                    ).all()
                return {p: offset for p, offset in rows}
            except IntegrityError:  # another consumer created the same rows at the same moment
                continue
        raise RuntimeError(f"could not read the offsets of group {group!r}")

    @staticmethod
    def _ensure_rows(conn: Connection, group: str, partitions: Iterable[int]) -> None:
        wanted = set(partitions)
        present = set(
            conn.execute(
                select(OFFSETS.c.partition).where(
                    OFFSETS.c.group == group, OFFSETS.c.partition.in_(wanted)
                )
            ).scalars()
        )
        missing = sorted(wanted - present)
        if missing:
            now = utcnow()
            conn.execute(
                insert(OFFSETS),
                [{"group": group, "partition": p, "offset": 0, "updated_at": now} for p in missing],
            )


def _text(value: object, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]
