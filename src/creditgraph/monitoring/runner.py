"""``creditgraph monitor run``: the monitor behind a consumer, with alerts in its transactions.

The monitor's state lives in memory (``monitoring.monitor``). What is durable is the bus's log,
the group's ``processed_events`` and the alerts, and they commit together: a batch's events are
folded into the monitor by the consumer's handler, and at the end of the batch its findings
become alerts (``monitoring.alerts.record_findings``) in the same transaction as the
``processed_events`` rows and, on the outbox, the group's offsets.

So the state is a function of the events the group applied, and a process that starts (or was
killed with ``kill -9``, or had a transaction fail under it) rebuilds it by replaying exactly those
events from the log, in log order, with their findings discarded (their alerts are stored
already), before it consumes anything new. The result equals a clean replay: per-person
aggregates exactly, the tie graph and the ring graph exactly, the exposure to the push tolerance
(an exact refresh ends the rebuild).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from creditgraph.monitoring.action_policy import ActionPolicy
from creditgraph.monitoring.alerts import record_findings
from creditgraph.monitoring.bus import Event, EventBus
from creditgraph.monitoring.codec import from_payload
from creditgraph.monitoring.config import MonitoringConfig
from creditgraph.monitoring.consumer import PROCESSED, Consumer, LoopStats, run_loop
from creditgraph.monitoring.detectors import Finding
from creditgraph.monitoring.monitor import DEFAULT_EXPOSURE_EPS, Monitor
from creditgraph.monitoring.outbox import OUTBOX, OutboxBus
from creditgraph.monitoring.rings import warm_up
from creditgraph.store.models import Loan, table_of

DEFAULT_GROUP = "monitor"
HISTORY_CHUNK = 5000
DELINQUENT_BUCKETS = ("M2", "M3", "M3+")
"""A loan in one of these buckets (or written off) makes its person a known defaulter at start."""


@dataclass
class RunSummary:
    """What a run did: the consumer's counts, the alerts it raised and the replayed history."""

    loop: LoopStats = field(default_factory=LoopStats)
    replayed: int = 0
    findings: int = 0
    alerts: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class MonitorService:
    """One monitor consuming one group of one bus; ``start`` rebuilds, ``run`` consumes."""

    def __init__(
        self,
        engine: Engine,
        bus: EventBus,
        *,
        config: MonitoringConfig,
        policy: ActionPolicy,
        group: str = DEFAULT_GROUP,
        name: str = "monitor-1",
        batch: int = 500,
        suppression: timedelta | None = None,
        exposure_eps: float = DEFAULT_EXPOSURE_EPS,
        daily_pass: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.config = config
        self.policy = policy
        self.group = group
        self.suppression = suppression
        self.exposure_eps = exposure_eps
        self.daily_pass = daily_pass
        self.clock = clock
        self.monitor = self._fresh()
        self.summary = RunSummary()
        self._pending: list[Finding] = []
        self._started = False
        self.consumer = Consumer(
            bus, engine, group, name, self._handle, batch=batch, on_batch=self._on_batch
        )

    def _fresh(self) -> Monitor:
        return Monitor(self.config, exposure_eps=self.exposure_eps, daily_pass=self.daily_pass)

    # -- start -----------------------------------------------------------------------------------

    def start(self) -> int:
        """A fresh monitor seeded from the book, with the group's applied events replayed;
        returns how many were replayed."""
        monitor = self._fresh()
        warm_up(self.config.fraud_ring)
        defaulters, borrowers = book_seeds(self.engine)
        monitor.seed(active_borrowers=borrowers)
        replayed = 0
        chunk: list[Any] = []
        for payload in applied_history(self.engine, self.bus, self.group):
            chunk.append(from_payload(payload))
            if len(chunk) >= HISTORY_CHUNK:
                monitor.process_batch(chunk)
                replayed += len(chunk)
                chunk = []
        if chunk:
            monitor.process_batch(chunk)
            replayed += len(chunk)
        monitor.seed(defaulters=defaulters)
        if replayed:
            monitor.reweigh(monitor.latest or self.clock())
        self.monitor = monitor
        self._pending = []
        self._started = True
        self.summary.replayed = replayed
        return replayed

    # -- consuming ---------------------------------------------------------------------------------

    def _handle(self, payload: Event, _conn: Connection) -> None:
        event = from_payload(payload)  # a payload that does not decode is a poison event
        self._pending.extend(self.monitor.apply(event))

    def _on_batch(self, conn: Connection) -> None:
        findings, self._pending = self._pending, []
        findings.extend(self.monitor.finish_batch())
        if not findings:
            return
        recorded = record_findings(
            conn, findings, now=self.clock(), policy=self.policy, suppression=self.suppression
        )
        self.summary.findings += len(findings)
        self.summary.alerts += sum(1 for alert in recorded if alert.new)
        for finding in findings:
            name = finding.type.value
            self.summary.by_type[name] = self.summary.by_type.get(name, 0) + 1

    def run_once(self) -> LoopStats:
        """One batch. If its transaction fails, the in-memory state is rebuilt before the error
        goes on (the batch's events were folded in but not committed)."""
        if not self._started:
            self.start()
        try:
            stats = self.consumer.run_once()
        except BaseException:
            self._started = False
            self._pending = []
            raise
        self.summary.loop.add(stats)
        return stats

    def run(
        self,
        *,
        until_idle: bool = False,
        stop: Callable[[], bool] | None = None,
        idle_sleep: float = 0.05,
    ) -> RunSummary:
        """Batches until ``stop()`` says so, or (``until_idle``) until the bus is empty."""
        run_loop(self.run_once, until_idle=until_idle, stop=stop, idle_sleep=idle_sleep)
        return self.summary


# -- what the start reads ----------------------------------------------------------------------------


def book_seeds(engine: Engine) -> tuple[list[str], list[str]]:
    """Known defaulters (a loan written off or 31+ days past due) and active borrowers."""
    loans = table_of(Loan)
    c = loans.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.person_id, c.state, c.bucket)).all()
    defaulters = sorted(
        {p for p, state, bucket in rows if state == "written_off" or bucket in DELINQUENT_BUCKETS}
    )
    borrowers = sorted({p for p, state, _ in rows if state in ("active", "overdue")})
    return defaulters, borrowers


def applied_history(engine: Engine, bus: EventBus, group: str) -> Iterator[dict[str, Any]]:
    """The events ``group`` applied, each once, in log order (the outbox's offsets; on Redis the
    streams' entry ids, which start with the publish time)."""
    applied = _applied_ids(engine, group)
    if not applied:
        return
    seen: set[str] = set()
    source = _outbox_log(engine) if isinstance(bus, OutboxBus) else _redis_log(bus)
    for payload in source:
        event_id = str(payload.get("event_id"))
        if event_id in applied and event_id not in seen:
            seen.add(event_id)
            yield payload


def _applied_ids(engine: Engine, group: str) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(select(PROCESSED.c.event_id).where(PROCESSED.c.group == group)).scalars()
        )


def _outbox_log(engine: Engine) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(OUTBOX.c.offset, OUTBOX.c.payload)
                .where(OUTBOX.c.offset > last)
                .order_by(OUTBOX.c.offset)
                .limit(HISTORY_CHUNK)
            ).all()
        if not rows:
            return
        last = rows[-1].offset
        for _, payload in rows:
            yield payload


def _redis_log(bus: Any) -> Iterator[dict[str, Any]]:
    import orjson

    entries: list[tuple[tuple[int, int], dict[str, Any]]] = []
    for partition in range(8):
        start = "-"
        while True:
            chunk = bus.client.xrange(bus.stream(partition), min=start, count=HISTORY_CHUNK)
            if not chunk:
                break
            for entry, fields in chunk:
                key = entry.decode() if isinstance(entry, bytes) else str(entry)
                ms, _, seq = key.partition("-")
                entries.append(((int(ms), int(seq)), orjson.loads(fields[b"e"])))
            last = chunk[-1][0]
            last = last.decode() if isinstance(last, bytes) else str(last)
            start = "(" + last
    entries.sort(key=lambda item: item[0])
    for _, payload in entries:
        yield payload
