"""The fraud-ring detector: dense blocks of people sharing devices and phones, kept current.

People who share a device or a phone are edges of a person -> object graph; a ring of applicants
sharing a handful of them is a block far denser than a household. ``RingWatch`` keeps that graph
over a sliding window (``window_days``: an edge not seen again for that long expires) in an
``IncrementalPeeler`` (``graph.dense``: Spade-style repair, FRAUDAR weights), so after every
micro-batch of ``device_seen`` and ``phone_changed`` events the densest block is known without a
full recomputation, and equals one (tested up to 100k edges).

The incremental peeling yields one block, the densest. A ring that is not the densest at the
moment is found by ``sweep``, run once a day: a static peeling that removes each block found and
peels again, up to ``max_blocks``, the way FRAUDAR finds several. A block alerts when its density
reaches ``min_density`` and its persons number between ``min_persons`` and ``max_persons``; every
person of it gets a finding whose evidence is the block (persons and objects as pseudonyms), and
whose dedup key is the person alone, so a ring seen again, or seen again with one more device,
is one alert per member within the suppression window.

Pure: identifiers are mapped to integers here; no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from creditgraph.graph.dense import DenseBlock, IncrementalPeeler, peel
from creditgraph.monitoring.config import FraudRingConfig
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.monitoring.ties import epoch_seconds

_DAY = 86_400.0
MAX_EVENTS = 20
"""A member's own triggering events kept on one finding."""


@dataclass(frozen=True, slots=True)
class Ring:
    """A block that alerts: its persons and objects (pseudonyms) and its density."""

    persons: tuple[str, ...]
    objects: tuple[str, ...]
    density: float
    found_by: str
    """``incremental`` (the densest block, after an update) or ``sweep`` (the daily peeling)."""

    @property
    def signature(self) -> str:
        """A short stable name of the ring: a hash of its objects (members may still join)."""
        return hashlib.sha256("|".join(self.objects).encode()).hexdigest()[:16]


class RingWatch:
    """The person -> object graph of recent applicants, and the rings in it."""

    def __init__(self, config: FraudRingConfig) -> None:
        self.config = config
        self.peeler = IncrementalPeeler(
            weighting="fraudar" if config.weighting == "fraudar" else "average",
            window=config.window_days * _DAY,
        )
        self._persons: dict[str, int] = {}
        self._objects: dict[str, int] = {}
        self._person_names: list[str] = []
        self._object_names: list[str] = []
        self._pending: list[tuple[int, int, float]] = []
        self._now = float("-inf")
        self._lone: dict[int, tuple[int, float]] = {}
        """Objects seen with one person only so far: that person and when (shared-only mode)."""
        self._shared: set[int] = set()

    def _person(self, name: str) -> int:
        index = self._persons.get(name)
        if index is None:
            index = self._persons[name] = len(self._person_names)
            self._person_names.append(name)
        return index

    def _object(self, kind: str, name: str) -> int:
        key = f"{kind}:{name}"
        index = self._objects.get(key)
        if index is None:
            index = self._objects[key] = len(self._object_names)
            self._object_names.append(key)
        return index

    def seen(self, person: str, kind: str, obj: str, at: datetime) -> None:
        """Queue the edge person -> object (``kind`` is ``device`` or ``phone``) seen at ``at``.

        With ``shared_objects_only`` an object enters the graph when a second person is seen on
        it within the window (both edges then), so the graph holds only what people share: a
        phone or a handset of one's own says nothing about a ring and would only dilute it.
        """
        t = epoch_seconds(at)
        self._now = max(self._now, t)
        p, o = self._person(person), self._object(kind, obj)
        if not self.config.shared_objects_only or o in self._shared:
            self._pending.append((p, o, t))
            return
        lone = self._lone.get(o)
        window = self.config.window_days * _DAY
        if lone is None or lone[0] == p or lone[1] <= t - window:
            self._lone[o] = (p, t)
            return
        del self._lone[o]
        self._shared.add(o)
        self._pending.append((lone[0], o, lone[1]))
        self._pending.append((p, o, t))

    def flush(self) -> Ring | None:
        """Apply the queued edges in one repair; the densest block if it alerts."""
        if not self._pending:
            return None
        pending, self._pending = self._pending, []
        self.peeler.update(pending, now=self._now)
        return self._ring(self.peeler.block(), "incremental")

    def advance(self, at: datetime) -> None:
        """Move the window's clock to ``at``: edges not seen for ``window_days`` leave."""
        self._now = max(self._now, epoch_seconds(at))
        self.peeler.expire(self._now)

    def sweep(self) -> list[Ring]:
        """Several rings: peel, remove the block's persons, peel again (daily, static)."""
        persons, objects = self.peeler.edges()
        rings: list[Ring] = []
        for _ in range(self.config.max_blocks):
            if persons.size == 0:
                break
            block = peel(persons, objects, weighting=self.peeler.weighting).block
            if not block.persons:
                break
            ring = self._ring(block, "sweep")
            if ring is None and block.density < float(self.config.min_density):
                break  # the densest left is too sparse: so is everything after it
            if ring is not None:
                rings.append(ring)
            keep = ~np.isin(persons, np.asarray(block.persons, dtype=np.int64))
            persons, objects = persons[keep], objects[keep]
        return rings

    def _ring(self, block: DenseBlock, found_by: str) -> Ring | None:
        config = self.config
        if block.density < float(config.min_density):
            return None
        if not config.min_persons <= len(block.persons) <= config.max_persons:
            return None
        return Ring(
            persons=tuple(sorted(self._person_names[p] for p in block.persons)),
            objects=tuple(sorted(self._object_names[o] for o in block.objects)),
            density=block.density,
            found_by=found_by,
        )

    def findings(
        self,
        ring: Ring,
        at: datetime,
        events: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Finding]:
        """One finding per member of ``ring``, with the block as evidence and, as its events,
        that member's own device and phone events of the batch (``events`` by person)."""
        severity = (
            Severity.HIGH if ring.density >= float(self.config.high_density) else (Severity.MEDIUM)
        )
        shared = {
            "ring": ring.signature,
            "persons": list(ring.persons),
            "objects": list(ring.objects),
            "density": round(ring.density, 6),
            "found_by": ring.found_by,
        }
        own = events or {}
        return [
            Finding(
                type=Detector.FRAUD_RING,
                rule="dense_block",
                severity=severity,
                person_id=person,
                occurred_at=at,
                dedup_key=f"fraud_ring:dense_block:{person}",
                evidence={"events": list(own.get(person, ()))[-MAX_EVENTS:], **shared},
            )
            for person in ring.persons
        ]

    @property
    def n_edges(self) -> int:
        return self.peeler.n_edges


def warm_up(config: FraudRingConfig) -> None:
    """Run the peelers once on a toy graph, so that compiling (or loading from the disk cache)
    their kernels happens at start, not inside the first event's latency."""
    watch = RingWatch(config.model_copy(update={"shared_objects_only": False}))
    at = datetime(2000, 1, 1, tzinfo=UTC)
    for person in ("a", "b", "c"):
        watch.seen(person, "device", "x", at)
    watch.flush()
    watch.sweep()
