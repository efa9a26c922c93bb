"""Tie strength kept per pair from tie and interaction events, by the feature build's formula.

``features build`` weighs an undirected pair as

    strength = kind weight × (1 + ln(1 + decayed interactions)) × reciprocity factor

(``features/relational.py``: the strongest declared kind alive at the instant, ``0.3`` for a pair
joined only by interactions, a factor ``0.75`` unless the tie or the interactions go both ways,
interactions decaying with a 60-day half-life from the start of their period). The monitor must
weigh the graph it keeps current the same way, or its exposure would drift from the build's.

The decayed count is kept exactly without revisiting past interactions: with ``λ = ln 2 / h``,
``Σ cᵢ e^{-λ(t - tᵢ)} = e^{-λ(t - t₀)} Σ cᵢ e^{-λ(t₀ - tᵢ)}``, so each pair stores one sum
relative to a fixed reference ``t₀`` and any instant's value is one multiplication. Declared ties
are kept per direction and kind with their creation time, so an ended tie leaves the pair only
when no other declaration of it is alive.

Pure: the standard library and the build's constants (``features.tie_weights``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from creditgraph.features.tie_weights import (
    DEFAULT_HALF_LIFE_DAYS,
    INTERACTION_ONLY_WEIGHT,
    KIND_WEIGHTS,
    NON_RECIPROCAL_FACTOR,
    OTHER_KIND_WEIGHT,
)

_DAY = 86_400.0
_REFERENCE = datetime(2020, 1, 1, tzinfo=UTC).timestamp()


def epoch_seconds(instant: datetime) -> float:
    """Seconds since 1970 of an instant (naive means UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.timestamp()


@dataclass(slots=True)
class PairState:
    """What one undirected pair ``a < b`` has declared and exchanged."""

    declared: dict[tuple[bool, str, str], float] = field(default_factory=dict)
    """(forward, kind, source) -> creation time (epoch s) of the declarations alive now: one
    platform's follow ending leaves another platform's follow of the same pair, as in the
    ``ties`` table, whose rows are per source."""
    decayed_ref: float = 0.0
    """Σ count × e^{-λ (t₀ - period start)}: the decayed interactions, relative to ``t₀``."""
    interaction_directions: set[bool] = field(default_factory=set)


class TieLedger:
    """Every pair's declarations and interactions; ``strength(a, b, at)`` as the build weighs it."""

    def __init__(self, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
        if half_life_days <= 0:
            raise ValueError("half_life_days must be positive")
        self.rate = math.log(2) / (half_life_days * _DAY)
        self.pairs: dict[tuple[str, str], PairState] = {}

    @staticmethod
    def key(a: str, b: str) -> tuple[tuple[str, str], bool]:
        """The pair's key (``a < b``) and whether ``a -> b`` is its forward direction."""
        return ((a, b), True) if a < b else ((b, a), False)

    def _pair(self, a: str, b: str) -> tuple[PairState, bool]:
        key, forward = self.key(a, b)
        pair = self.pairs.get(key)
        if pair is None:
            pair = self.pairs[key] = PairState()
        return pair, forward

    def tie_added(self, src: str, dst: str, kind: str, at: datetime, source: str = "") -> None:
        if src == dst:
            return
        pair, forward = self._pair(src, dst)
        pair.declared.setdefault((forward, kind, source), epoch_seconds(at))

    def tie_ended(self, src: str, dst: str, kind: str, source: str = "") -> None:
        key, forward = self.key(src, dst)
        pair = self.pairs.get(key)
        if pair is not None:
            pair.declared.pop((forward, kind, source), None)

    def interaction(self, src: str, dst: str, count: int, period_start: datetime) -> None:
        if src == dst or count <= 0:
            return
        pair, forward = self._pair(src, dst)
        pair.decayed_ref += count * math.exp(
            -self.rate * (_REFERENCE - epoch_seconds(period_start))
        )
        pair.interaction_directions.add(forward)

    def strength(self, a: str, b: str, at: datetime) -> float:
        """The pair's strength at ``at`` (0 when nothing joins them)."""
        pair = self.pairs.get(self.key(a, b)[0])
        return 0.0 if pair is None else self.pair_strength(pair, epoch_seconds(at))

    def pair_strength(self, pair: PairState, at_epoch: float) -> float:
        alive = pair.declared
        if not alive and not pair.interaction_directions:
            return 0.0
        if alive:
            kind_weight = max(KIND_WEIGHTS.get(kind, OTHER_KIND_WEIGHT) for _, kind, _ in alive)
        else:
            kind_weight = INTERACTION_ONLY_WEIGHT
        decayed = pair.decayed_ref * math.exp(-self.rate * (at_epoch - _REFERENCE))
        reciprocal = len({forward for forward, _, _ in alive}) >= 2 or (
            len(pair.interaction_directions) >= 2
        )
        factor = 1.0 if reciprocal else NON_RECIPROCAL_FACTOR
        return kind_weight * (1.0 + math.log1p(decayed)) * factor

    def neighbours(self, person: str) -> list[str]:
        """Everyone joined to ``person`` by a pair (a linear scan: tests and evidence only)."""
        out = []
        for a, b in self.pairs:
            if a == person:
                out.append(b)
            elif b == person:
                out.append(a)
        return out
