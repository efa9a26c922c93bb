"""The monitor: events in, state and graph updated incrementally, findings out.

One ``Monitor`` holds everything the five detectors read: each person's rolling aggregates
(``state``), the tie graph weighed as the feature build weighs it (``ties``), exposure to known
defaulters kept current by local push on that graph (``graph.dynamic_ppr``), and the person ->
device/phone graph of the fraud-ring detector (``rings``). ``process_batch`` folds a micro-batch
of validated events in order and returns the findings, which the runner turns into alerts in the
same transaction as the consumer's offsets.

Per event: its person's state is updated and the per-person detectors run (activity collapse,
multi-lending, repayment stress); a tie or interaction event re-weighs its pair and pushes the
change through the exposure; an interaction also counts for the other party, as the build counts
it for both ends; a device or phone joins the ring graph. Per batch: the ring graph is repaired
once and its densest block checked; a person who became delinquent in the batch joins the
defaulters with one exact refresh of the exposure, and the strong ties whose exposure rose are
flagged (contagion). ``daily`` re-weighs every tie as of the day (interactions decay), refreshes
the exposure exactly, and sweeps the ring graph for several rings.

Pure: no database, no files, no clock; state lives in memory and is rebuilt by replaying the
events the group applied (``monitoring.runner``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from creditgraph.graph.dynamic_ppr import DynamicPPR
from creditgraph.monitoring.config import MonitoringConfig
from creditgraph.monitoring.detectors import (
    ExposureRise,
    Finding,
    activity_collapse,
    contagion,
    contagion_trigger,
    multi_lending,
    repayment_stress,
)
from creditgraph.monitoring.rings import RingWatch
from creditgraph.monitoring.state import (
    Metric,
    PersonState,
    StateStore,
    epoch_day,
    event_day,
    field_of,
)
from creditgraph.monitoring.ties import TieLedger, epoch_seconds

DEFAULT_EXPOSURE_EPS = 1e-7
"""Push threshold of the exposure per unit of tie strength: about ``0.1 / n`` at a million
people (max-abs error near 2e-7 there, ``bench/exposure.py``); on a few hundred people a smaller
one spreads each change over the whole graph many times (0.1 s a tie at 1e-9)."""
TIE_EVENTS = frozenset({"tie_added", "tie_ended", "interaction_batch"})
RING_OBJECTS = {"device_seen": ("device", "device_id"), "phone_changed": ("phone", "phone")}
"""Events that tie a person to a shared object of the ring graph: (object kind, field)."""
BORROWER_EVENTS = frozenset(
    {"repayment_posted", "instalment_missed", "dpd_bucket_changed", "loan_written_off"}
)


@dataclass
class MonitorStats:
    """Counts of what the monitor did, for the run's summary and the benchmarks."""

    events: int = 0
    batches: int = 0
    findings: int = 0
    tie_updates: int = 0
    ring_updates: int = 0
    refreshes: int = 0
    pushes: int = 0


class Monitor:
    """Incremental risk state of everyone watched, and the detectors over it."""

    def __init__(
        self,
        config: MonitoringConfig,
        *,
        exposure_eps: float = DEFAULT_EXPOSURE_EPS,
        half_life_days: float = 60.0,
        daily_pass: bool = True,
    ) -> None:
        self.config = config
        self.states = StateStore()
        self.ties = TieLedger(half_life_days)
        self.exposure = DynamicPPR(0, eps=exposure_eps)
        self.rings = RingWatch(config.fraud_ring)
        self.defaulters: set[str] = set()
        self.active_borrowers: set[str] = set()
        self.stats = MonitorStats()
        self.daily_pass = daily_pass
        self._position: dict[str, int] = {}
        self._names: list[str] = []
        self._latest: datetime | None = None
        self._ring_events: dict[str, list[str]] = {}
        self._triggers: list[tuple[PersonState, Any, str]] = []
        self._daily_day: int | None = None

    # -- identities ------------------------------------------------------------------------------

    def position(self, person: str) -> int:
        """The person's node in the exposure graph (created on first sight)."""
        index = self._position.get(person)
        if index is None:
            index = self._position[person] = len(self._names)
            self._names.append(person)
        return index

    @property
    def latest(self) -> datetime | None:
        """The latest ``occurred_at`` folded in (event time: the monitor has no clock)."""
        return self._latest

    def exposure_of(self, person: str) -> float:
        """The person's exposure in the build's units (the probability times the node count)."""
        index = self._position.get(person)
        n = self.exposure.n
        if index is None or index >= n:
            return 0.0
        return float(self.exposure.p[index]) * n

    # -- start ---------------------------------------------------------------------------------

    def seed(
        self,
        *,
        defaulters: Iterable[str] = (),
        active_borrowers: Iterable[str] = (),
    ) -> None:
        """Known defaulters and active borrowers from the book (at start, before events)."""
        self.active_borrowers.update(active_borrowers)
        new = [p for p in defaulters if p not in self.defaulters]
        if new:
            self.defaulters.update(new)
            self.exposure.add_defaulters([self.position(p) for p in new])
            self.stats.refreshes += 1

    # -- events ----------------------------------------------------------------------------------

    def process(self, event: Any) -> list[Finding]:
        return self.process_batch([event])

    def process_batch(self, events: Sequence[Any]) -> list[Finding]:
        """Fold ``events`` in order: each one's findings, then the batch's (rings, contagion,
        the daily pass when event time reached a new day)."""
        findings: list[Finding] = []
        for event in events:
            findings.extend(self.apply(event))
        findings.extend(self.finish_batch())
        return findings

    def apply(self, event: Any) -> list[Finding]:
        """Fold one event; the per-person detectors' findings. Rings and contagion wait for
        ``finish_batch`` (one repair and one exact refresh per batch, not per event), or for the
        first event of a later UTC day, which closes the day before it is folded: so what a day
        raises does not depend on how the stream was cut into batches."""
        occurred_at: datetime = field_of(event, "occurred_at")
        findings: list[Finding] = []
        day = epoch_day(occurred_at)
        if self._daily_day is None:
            self._daily_day = day
        elif day > self._daily_day:
            findings.extend(self._close_day(day))
        state = self.states.apply(event)
        kind = field_of(event, "type")
        if self._latest is None or occurred_at > self._latest:
            self._latest = occurred_at
        if kind in TIE_EVENTS:
            self._tie_event(event, str(kind), state.person_id, occurred_at)
        elif kind in RING_OBJECTS:
            obj_kind, obj_field = RING_OBJECTS[str(kind)]
            self.rings.seen(state.person_id, obj_kind, str(field_of(event, obj_field)), occurred_at)
            self._ring_events.setdefault(state.person_id, []).append(
                str(field_of(event, "event_id"))
            )
        elif kind in BORROWER_EVENTS:
            self.active_borrowers.add(state.person_id)
        trigger = contagion_trigger(state, event, self.config.contagion)
        if trigger is not None:
            self._triggers.append((state, event, trigger))
        findings.extend(activity_collapse(state, event, self.config))
        findings.extend(multi_lending(state, event, self.config))
        findings.extend(repayment_stress(state, event, self.config))
        self.stats.events += 1
        self.stats.findings += len(findings)
        return findings

    def finish_batch(self) -> list[Finding]:
        """The batch's rings (one repair), contagion (one exact refresh) and, when event time
        reached a new UTC day, the daily pass."""
        findings = self._flush()
        if self._latest is not None:
            day = epoch_day(self._latest)
            if self._daily_day is None:
                self._daily_day = day
            elif day > self._daily_day:
                findings.extend(self._close_day(day))
        self.stats.batches += 1
        self.stats.findings += len(findings)
        return findings

    def _close_day(self, day: int) -> list[Finding]:
        """What waits (rings, contagion), then the daily pass as of the new day's midnight."""
        findings = self._flush()
        self._daily_day = day
        if self.daily_pass:
            findings.extend(self.daily(datetime.fromtimestamp(day * 86_400, UTC)))
        return findings

    def _flush(self) -> list[Finding]:
        """The rings of the edges seen since the last flush, and contagion of the new delinquents."""
        findings: list[Finding] = []
        ring_events, self._ring_events = self._ring_events, {}
        if ring_events and self._latest is not None:
            self.stats.ring_updates += sum(map(len, ring_events.values()))
            ring = self.rings.flush()
            if ring is not None:
                findings.extend(self.rings.findings(ring, self._latest, ring_events))
        triggers, self._triggers = self._triggers, []
        if triggers:
            findings.extend(self._contagion(triggers))
        return findings

    def _tie_event(self, event: Any, kind: str, person: str, at: datetime) -> None:
        other = str(field_of(event, "other_person_id"))
        source = str(field_of(event, "source", ""))
        if kind == "tie_added":
            self.ties.tie_added(person, other, str(field_of(event, "kind")), at, source)
        elif kind == "tie_ended":
            self.ties.tie_ended(person, other, str(field_of(event, "kind")), source)
        else:
            count = int(field_of(event, "count", 0))
            self.ties.interaction(person, other, count, field_of(event, "period_start"))
            if count > 0 and other != person:  # the build counts an interaction for both ends
                self.states.get(other).add(Metric.INTERACTIONS, event_day(event), count)
        if other == person:
            return
        weight = self.ties.strength(person, other, at)
        self.stats.pushes += self.exposure.set_tie(
            self.position(person), self.position(other), weight
        )
        self.stats.tie_updates += 1

    def _neighbours(self, person: str) -> tuple[np.ndarray, np.ndarray]:
        index = self._position.get(person)
        store = self.exposure.ties
        if index is None or index >= store.n:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        block = store.block(index)
        return store.nbr[block].copy(), store.wt[block].copy()

    def _contagion(self, triggers: list[tuple[PersonState, Any, str]]) -> list[Finding]:
        """Fold the batch's new delinquents into the defaulters (one exact refresh) and flag the
        strong ties whose exposure rose."""
        around = {state.person_id: self._neighbours(state.person_id) for state, _, _ in triggers}
        watched = np.unique(np.concatenate([nbrs for nbrs, _ in around.values()] or [np.zeros(0)]))
        watched = watched.astype(np.int64)
        n_before = self.exposure.n
        before = self.exposure.p[watched] * n_before if watched.size else np.zeros(0)
        new = [s.person_id for s, _, _ in triggers if s.person_id not in self.defaulters]
        if new:
            self.defaulters.update(new)
            self.stats.pushes += self.exposure.add_defaulters([self.position(p) for p in new])
            self.stats.refreshes += 1
        n_after = self.exposure.n
        after = self.exposure.p[watched] * n_after if watched.size else np.zeros(0)
        by_node = {
            int(node): (float(b), float(a))
            for node, b, a in zip(watched, before, after, strict=True)
        }
        findings: list[Finding] = []
        for state, event, _ in triggers:
            nbrs, weights = around[state.person_id]
            rises = []
            for node, weight in zip(nbrs.tolist(), weights.tolist(), strict=True):
                name = self._names[node]
                b, a = by_node[node]
                rises.append(
                    ExposureRise(
                        person_id=name,
                        before=b,
                        after=a,
                        tie_strength=weight,
                        active_borrower=name in self.active_borrowers
                        and name not in self.defaulters,
                    )
                )
            findings.extend(contagion(state, event, self.config, rises))
        return findings

    # -- daily -----------------------------------------------------------------------------------

    def daily(self, at: datetime) -> list[Finding]:
        """Re-weigh every tie as of ``at``, refresh the exposure exactly, sweep for rings."""
        self.reweigh(at)
        self.rings.advance(at)
        findings: list[Finding] = []
        for ring in self.rings.sweep():
            findings.extend(self.rings.findings(ring, at))
        return findings

    def reweigh(self, at: datetime) -> None:
        """Rebuild the exposure graph from the ledger's strengths at ``at`` (interactions decay
        between events, which local push does not see), with one exact refresh."""
        at_epoch = epoch_seconds(at)
        a: list[int] = []
        b: list[int] = []
        w: list[float] = []
        for (x, y), pair in self.ties.pairs.items():
            strength = self.ties.pair_strength(pair, at_epoch)
            if strength > 0:
                a.append(self.position(x))
                b.append(self.position(y))
                w.append(strength)
        seeds = [self._position[p] for p in self.defaulters]
        self.exposure = DynamicPPR.from_edges(
            len(self._names), a, b, w, seeds, eps=self.exposure.eps
        )
        self.stats.refreshes += 1

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self, person: str) -> dict[str, Any]:
        """A person's aggregates and exposure (tests, evidence, the demo)."""
        values: dict[str, Any] = dict(self.states.get(person).snapshot())
        values["exposure"] = self.exposure_of(person)
        return values
