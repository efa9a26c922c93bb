"""The consumer loop, the same over every bus: consume, handle, acknowledge.

A batch is handled in one database transaction. Events the group already applied (a row in
``processed_events``) are skipped, so redelivery never applies an event twice; each new event's
handler runs in a savepoint, and one that raises (or an event without the required fields) is
rolled back alone and goes to the dead letters with its reason while the batch goes on. The
applied events' ``processed_events`` rows commit with the handlers' effects and with what
``on_batch`` writes at the end of the batch (the monitor's alerts); on the outbox the
group's offsets and dead letters commit in the same transaction too (``TransactionalAck``), on
Redis the dead letters and ``XACK`` follow the commit (a crash in between redelivers, and the
processed rows make that harmless).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from creditgraph.monitoring.bus import Delivery, Event, EventBus, TransactionalAck, missing_fields
from creditgraph.store.db import write_transaction
from creditgraph.store.event_outbox import utcnow
from creditgraph.store.models import ProcessedEvent, table_of

PROCESSED = table_of(ProcessedEvent)
# A handler gets the event and the batch's connection: what it writes commits with the offsets.
Handler = Callable[[Event, Connection], None]
LOOKUP_CHUNK = 500
SAVEPOINT = "SAVEPOINT creditgraph_event"
ROLLBACK_TO = "ROLLBACK TO SAVEPOINT creditgraph_event"
RELEASE = "RELEASE SAVEPOINT creditgraph_event"


@dataclass
class LoopStats:
    """What a run of the loop did: delivered = applied + duplicates + dead."""

    batches: int = 0
    delivered: int = 0
    applied: int = 0
    duplicates: int = 0
    dead: int = 0

    def add(self, other: LoopStats) -> None:
        self.batches += other.batches
        self.delivered += other.delivered
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.dead += other.dead


def poison_reason(exc: BaseException) -> str:
    """What the dead letter says: the error's type and message."""
    return f"{type(exc).__name__}: {exc}"[:1000]


class Consumer:
    """One consumer of one group on one bus, applying ``handler`` once per ``event_id``."""

    def __init__(
        self,
        bus: EventBus,
        engine: Engine,
        group: str,
        name: str,
        handler: Handler,
        batch: int = 500,
        on_batch: Callable[[Connection], None] | None = None,
    ) -> None:
        self.bus = bus
        self.on_batch = on_batch
        self.engine = engine
        self.group = group
        self.name = name
        self.handler = handler
        self.batch = batch

    def run_once(self) -> LoopStats:
        """One batch: consume, handle in one transaction, acknowledge. Zero delivered = idle."""
        deliveries = self.bus.consume(self.group, self.name, self.batch)
        stats = LoopStats(batches=1 if deliveries else 0, delivered=len(deliveries))
        if not deliveries:
            return stats
        transactional = self.bus if isinstance(self.bus, TransactionalAck) else None
        poisoned: list[tuple[Delivery, str]] = []
        try:
            with write_transaction(self.engine) as conn:
                poisoned = self._handle(conn, deliveries, stats)
                if self.on_batch is not None:  # the batch's own work, committed with it
                    self.on_batch(conn)
                if transactional is not None:
                    for delivery, reason in poisoned:
                        transactional.dead_letter_in(conn, self.group, delivery, reason)
                    transactional.ack_in(conn, self.group, [d.id for d in deliveries])
        except BaseException:
            rewind = getattr(self.bus, "rewind", None)
            if rewind is not None:
                rewind(self.group)
            raise
        if transactional is None:
            for delivery, reason in poisoned:
                self.bus.dead_letter(self.group, delivery, reason)
            self.bus.ack(self.group, [d.id for d in deliveries])
        return stats

    def run(
        self,
        *,
        until_idle: bool = False,
        stop: Callable[[], bool] | None = None,
        idle_sleep: float = 0.05,
    ) -> LoopStats:
        """Batches until ``stop()`` says so, or (``until_idle``) until a consume comes back empty."""
        return run_loop(self.run_once, until_idle=until_idle, stop=stop, idle_sleep=idle_sleep)

    def _handle(
        self, conn: Connection, deliveries: Sequence[Delivery], stats: LoopStats
    ) -> list[tuple[Delivery, str]]:
        fresh = self._mark_processed(conn, deliveries)
        # Savepoints through the driver's own cursor: through SQLAlchemy each cost about 70 us
        # (its transaction bookkeeping), more than the whole of a small event's handling.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        applied = 0
        poisoned: list[tuple[Delivery, str]] = []
        failed: list[str] = []
        try:
            for delivery in deliveries:
                event = delivery.event
                missing = missing_fields(event)
                if missing:
                    poisoned.append((delivery, f"missing fields: {', '.join(missing)}"))
                    continue
                event_id = str(event["event_id"])
                if event_id not in fresh:
                    stats.duplicates += 1
                    continue
                fresh.discard(event_id)  # a second copy in this batch is a duplicate
                cursor.execute(SAVEPOINT)
                try:
                    self.handler(event, conn)
                except Exception as exc:  # a poison event: set aside, the stream goes on
                    cursor.execute(ROLLBACK_TO)
                    cursor.execute(RELEASE)
                    poisoned.append((delivery, poison_reason(exc)))
                    failed.append(event_id)
                    continue
                cursor.execute(RELEASE)
                applied += 1
        finally:
            cursor.close()
        if failed:  # not applied: a replay may try them again
            conn.execute(
                delete(PROCESSED).where(
                    PROCESSED.c.group == self.group, PROCESSED.c.event_id.in_(failed)
                )
            )
        stats.applied += applied
        stats.dead += len(poisoned)
        return poisoned

    def _mark_processed(self, conn: Connection, deliveries: Sequence[Delivery]) -> set[str]:
        """Insert the batch's ``processed_events`` rows up front and return the ids that were
        new: one statement that uses the primary key per row. (A lookup with ``IN`` of hundreds
        of ids went to a generic plan on PostgreSQL that scanned the whole group: 400 events/s.)
        Rows of events that then fail are deleted before the commit."""
        ids = list(
            dict.fromkeys(
                str(d.event["event_id"]) for d in deliveries if not missing_fields(d.event)
            )
        )
        if not ids:
            return set()
        now = utcnow()
        rows = [{"group": self.group, "event_id": e, "processed_at": now} for e in ids]
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            statement = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(PROCESSED)
            returning = statement.on_conflict_do_nothing().returning(PROCESSED.c.event_id)
            return set(conn.execute(returning, rows).scalars())
        seen: set[str] = set()
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            seen.update(
                conn.execute(
                    select(PROCESSED.c.event_id).where(
                        PROCESSED.c.group == self.group, PROCESSED.c.event_id.in_(chunk)
                    )
                ).scalars()
            )
        new = [row for row in rows if row["event_id"] not in seen]
        if new:
            conn.execute(insert(PROCESSED), new)
        return {str(row["event_id"]) for row in new}


def run_loop(
    step: Callable[[], LoopStats],
    *,
    until_idle: bool = False,
    stop: Callable[[], bool] | None = None,
    idle_sleep: float = 0.05,
) -> LoopStats:
    """Call ``step`` (one batch) until ``stop()`` says so, or (``until_idle``) until a batch
    comes back empty, sleeping ``idle_sleep`` when idle; the batches' counts added up."""
    total = LoopStats()
    while stop is None or not stop():
        stats = step()
        total.add(stats)
        if not stats.delivered:
            if until_idle:
                break
            time.sleep(idle_sleep)
    return total


def processed_count(engine: Engine, group: str) -> int:
    """How many events ``group`` has applied (tests and operations)."""
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(PROCESSED).where(PROCESSED.c.group == group)
        ).scalar()
        return int(count or 0)


def noop_handler(_event: Event, _conn: Any) -> None:
    """A handler that applies nothing: benchmarks of the bus alone."""
