"""The consumer loop, the same over every bus: consume, handle, acknowledge.

A batch is handled in one database transaction. Events the group already applied (a row in
``processed_events``) are skipped, so redelivery never applies an event twice; each new event's
handler runs in a savepoint, and one that raises (or an event without the required fields) is
rolled back alone and goes to the dead letters with its reason while the batch goes on. The
applied events' ``processed_events`` rows commit with the handlers' effects; on the outbox the
group's offsets and dead letters commit in the same transaction too (``TransactionalAck``), on
Redis the dead letters and ``XACK`` follow the commit (a crash in between redelivers, and the
processed rows make that harmless).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import Connection

from creditgraph.monitoring.bus import Delivery, Event, EventBus, TransactionalAck, missing_fields
from creditgraph.store.db import write_transaction
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
    ) -> None:
        self.bus = bus
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
        total = LoopStats()
        while stop is None or not stop():
            stats = self.run_once()
            total.add(stats)
            if not stats.delivered:
                if until_idle:
                    break
                time.sleep(idle_sleep)
        return total

    def _handle(
        self, conn: Connection, deliveries: Sequence[Delivery], stats: LoopStats
    ) -> list[tuple[Delivery, str]]:
        seen = self._already_processed(conn, deliveries)
        # Savepoints through the driver's own cursor: through SQLAlchemy each cost about 70 us
        # (its transaction bookkeeping), more than the whole of a small event's handling.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        applied: list[str] = []
        poisoned: list[tuple[Delivery, str]] = []
        try:
            for delivery in deliveries:
                event = delivery.event
                missing = missing_fields(event)
                if missing:
                    poisoned.append((delivery, f"missing fields: {', '.join(missing)}"))
                    continue
                event_id = str(event["event_id"])
                if event_id in seen:
                    stats.duplicates += 1
                    continue
                cursor.execute(SAVEPOINT)
                try:
                    self.handler(event, conn)
                except Exception as exc:  # a poison event: set aside, the stream goes on
                    cursor.execute(ROLLBACK_TO)
                    cursor.execute(RELEASE)
                    poisoned.append((delivery, poison_reason(exc)))
                    continue
                cursor.execute(RELEASE)
                seen.add(event_id)
                applied.append(event_id)
        finally:
            cursor.close()
        if applied:
            now = datetime.now(UTC).replace(tzinfo=None)
            conn.execute(
                insert(PROCESSED),
                [{"group": self.group, "event_id": e, "processed_at": now} for e in applied],
            )
        stats.applied += len(applied)
        stats.dead += len(poisoned)
        return poisoned

    def _already_processed(self, conn: Connection, deliveries: Sequence[Delivery]) -> set[str]:
        ids = sorted({str(d.event["event_id"]) for d in deliveries if d.event.get("event_id")})
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
        return seen


def processed_count(engine: Engine, group: str) -> int:
    """How many events ``group`` has applied (tests and operations)."""
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(PROCESSED).where(PROCESSED.c.group == group)
        ).scalar()
        return int(count or 0)


def noop_handler(_event: Event, _conn: Any) -> None:
    """A handler that applies nothing: benchmarks of the bus alone."""
