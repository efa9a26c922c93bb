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

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from creditgraph.monitoring.action_policy import ActionPolicy
from creditgraph.monitoring.alerts import record_findings
from creditgraph.monitoring.bus import PARTITIONS, Event, EventBus, partition_of
from creditgraph.monitoring.codec import from_payload
from creditgraph.monitoring.config import MonitoringConfig
from creditgraph.monitoring.consent_watch import WithdrawnSources
from creditgraph.monitoring.consumer import PROCESSED, Consumer, LoopStats, run_loop
from creditgraph.monitoring.detectors import Finding
from creditgraph.monitoring.monitor import DEFAULT_EXPOSURE_EPS, Monitor
from creditgraph.monitoring.outbox import OUTBOX, OutboxBus
from creditgraph.monitoring.rings import warm_up
from creditgraph.store.event_outbox import utcnow
from creditgraph.store.models import Erasure, Loan, table_of

log = logging.getLogger("creditgraph.monitoring")
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
    missing_history: int = 0
    """Applied events the log no longer holds (a trimmed stream): the rebuilt state lacks them."""


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
        self._erased: set[str] = set()
        self._erased_seen = -1
        self._withdrawn = WithdrawnSources()  # sources whose monitoring consent was revoked
        self._dirty = False
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
        self._erased_seen = erasure_count(self.engine)
        erased = erased_people(self.engine)
        with self.engine.connect() as conn:
            self._withdrawn.load(conn)
        monitor.seed(active_borrowers=[p for p in borrowers if p not in erased])
        replayed = 0
        chunk: list[Any] = []
        history = applied_history(self.engine, self.bus, self.group)
        for payload in history.payloads():
            if mentions(payload, erased) or self._withdrawn.excludes(payload):
                continue
            chunk.append(from_payload(payload))
            if len(chunk) >= HISTORY_CHUNK:
                monitor.process_batch(chunk)
                replayed += len(chunk)
                chunk = []
        if chunk:
            monitor.process_batch(chunk)
            replayed += len(chunk)
        monitor.seed(defaulters=[p for p in defaulters if p not in erased])
        if replayed:
            monitor.reweigh(monitor.latest or self.clock())
        if history.missing:
            log.warning(
                "monitor group %s: %d applied events are no longer in the log (erased people's "
                "events, or a trimmed stream); the rebuilt state lacks them",
                self.group,
                history.missing,
            )
        self.monitor = monitor
        self._erased = erased
        self._pending = []
        self._dirty = False
        self._started = True
        self.summary.replayed = replayed
        self.summary.missing_history = history.missing
        return replayed

    # -- consuming ---------------------------------------------------------------------------------

    def _handle(self, payload: Event, _conn: Connection) -> None:
        event = from_payload(payload)  # a payload that does not decode is a poison event
        if mentions(payload, self._erased) or self._withdrawn.excludes(payload):
            return  # an erased person, a withdrawn source: applied as nothing, never replayed
        try:
            self._pending.extend(self.monitor.apply(event))
        except Exception:
            # the event goes to the dead letters, but it may have changed the state in part:
            # rebuild once the batch is committed (the rebuild does not replay dead letters)
            self._dirty = True
            raise

    def _on_batch(self, conn: Connection) -> None:
        count = erasure_count(conn)
        if count != self._erased_seen:  # someone was erased while we ran: drop them
            self._erased_seen = count
            self._erased = erased_people(conn)
            self._dirty = True
        findings, self._pending = self._pending, []
        findings.extend(self.monitor.finish_batch())
        if self._dirty and self._erased:
            # the state still holds whoever was just erased: nothing about them may be stored
            findings = [f for f in findings if not finding_mentions(f, self._erased)]
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
        if not self._started or self._newly_withdrawn():
            self.start()
        try:
            stats = self.consumer.run_once()
        except BaseException:
            self._started = False
            self._pending = []
            raise
        if self._dirty:
            self._started = False
        self.summary.loop.add(stats)
        return stats

    def _newly_withdrawn(self) -> bool:
        """Whether a monitoring consent was revoked since the last look: the state is then
        rebuilt without that source before the next event is applied."""
        with self.engine.connect() as conn:
            return self._withdrawn.refresh(conn)

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


@dataclass
class History:
    """The events a group applied, each once, in log order, read lazily; ``missing`` counts the
    applied ids the log no longer holds, known once ``payloads`` is exhausted."""

    applied: set[str]
    source: Iterator[dict[str, Any]]
    owned: frozenset[int]
    missing: int = 0

    def payloads(self) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for payload in self.source:
            event_id = str(payload.get("event_id"))
            if event_id not in self.applied or event_id in seen:
                continue
            if partition_of(payload.get("person_id")) not in self.owned:
                continue  # another consumer's share of the group
            seen.add(event_id)
            yield payload
        owned_applied = len(self.applied) if len(self.owned) == PARTITIONS else len(seen)
        self.missing = max(0, owned_applied - len(seen))


def applied_history(engine: Engine, bus: EventBus, group: str) -> History:
    """The events ``group`` applied in this consumer's partitions, each once, in log order (the
    outbox's offsets; on Redis the streams' entry ids, which start with the publish time)."""
    owned = frozenset(getattr(bus, "partitions", range(PARTITIONS)))
    applied = _applied_ids(engine, group)
    source: Iterator[dict[str, Any]] = iter(())
    if applied:
        source = _outbox_log(engine) if isinstance(bus, OutboxBus) else _redis_log(bus, owned)
    return History(applied, source, owned)


def erasure_count(conn_or_engine: Any) -> int:
    erasures = table_of(Erasure)
    query = select(func.count()).select_from(erasures)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)
    return int(conn_or_engine.execute(query).scalar() or 0)


def erased_people(conn_or_engine: Any) -> set[str]:
    query = select(table_of(Erasure).c.person_id)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return set(conn.execute(query).scalars())
    return set(conn_or_engine.execute(query).scalars())


def finding_mentions(finding: Finding, people: set[str]) -> bool:
    """Whether a finding is about, or shows in its evidence, one of ``people``."""
    if finding.person_id in people:
        return True
    evidence = finding.evidence
    shown = {evidence.get("delinquent_person_id"), *evidence.get("persons", ())}
    return not shown.isdisjoint(people)


def mentions(payload: Mapping[str, Any], people: set[str]) -> bool:
    """Whether an event is about, or names, one of ``people``."""
    if not people:
        return False
    return payload.get("person_id") in people or payload.get("other_person_id") in people


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


def _redis_log(bus: Any, owned: frozenset[int]) -> Iterator[dict[str, Any]]:
    import orjson

    entries: list[tuple[tuple[int, int], dict[str, Any]]] = []
    for partition in sorted(owned):
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
