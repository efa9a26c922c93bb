"""Fraud rings: small groups of new accounts that befriend each other, share devices and phone
numbers, apply together and default on purpose.

Only structure betrays them (dense circles of recent accounts, shared devices, co-timed
applications, a burst of loans elsewhere); their labels arrive too late to help, which is the point
the scoring side has to cope with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from creditgraph.contracts.schema import REGION_TIERS, SEGMENTS
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY, Timeline
from creditgraph.simulate.config import SimulationConfig

if TYPE_CHECKING:
    from creditgraph.simulate.population_model import Population

MIN_RING, MAX_RING = 5, 30
RING_SEGMENTS = ("individual_business", "young_entrepreneur", "other", "salaried")
RING_SEGMENT_P = (0.35, 0.35, 0.15, 0.15)
DEFAULT_PROBABILITY = 0.95  # they mean to default; a few are caught or repay by mistake


@dataclass
class RingPlan:
    """Rings by index; members of ring ``r`` are internal persons ``first[r] .. first[r]+size[r]-1``."""

    sizes: NDArray[np.int64]
    first: NDArray[np.int64]
    strike_at: NDArray[np.int64]  # when the ring applies for loans
    density: NDArray[np.float64]  # share of member pairs that are tied
    devices: NDArray[np.int64]  # shared devices per ring (1-3)

    @property
    def count(self) -> int:
        return len(self.sizes)

    @property
    def members(self) -> int:
        return int(self.sizes.sum())

    def member_ring(self) -> NDArray[np.int64]:
        """Ring index of each member, in member order."""
        return np.repeat(np.arange(self.count), self.sizes)

    def apply(self, pop: Population, timeline: Timeline, rng: np.random.Generator) -> None:
        """Overwrite the members' attributes: same city, new accounts, inflated incomes, one burst
        of applications."""
        if self.count == 0:
            return
        idx = np.arange(pop.n_normal, pop.n)
        ring = self.member_ring()
        m = len(idx)
        pop.ring[idx] = ring
        ring_region = rng.integers(0, len(REGION_TIERS), self.count)
        pop.region[idx] = ring_region[ring]
        seg = rng.choice(len(RING_SEGMENTS), size=m, p=np.array(RING_SEGMENT_P))
        pop.segment[idx] = np.array([SEGMENTS.index(s) for s in RING_SEGMENTS])[seg]
        pop.birth_year[idx] = pop.ref_year - rng.integers(20, 39, m)
        pop.income_fen[idx] = (
            np.round(rng.lognormal(np.log(12_000), 0.4, m) / 100) * 10_000
        ).astype(np.int64)
        pop.engagement[idx] = rng.lognormal(0.3, 0.3, m)
        pop.uses[idx, vocab.SOURCES.index("douyin")] = rng.random(m) < 0.8
        strike = self.strike_at[ring]
        pop.registered_at[idx] = strike - rng.integers(5 * DAY, 45 * DAY, m)
        pop.data_start[idx] = pop.registered_at[idx] + rng.integers(600, 6 * 3600, m)
        pop.borrower[idx] = True
        pop.applied_at[idx] = strike + rng.integers(0, 7, m) * DAY + rng.integers(0, 14 * 3600, m)
        pop.has_name[idx] = rng.random(m) > 0.02
        # about a third reuse a number already used by another member of the same ring
        donor = self.first[ring] + rng.integers(0, self.sizes[ring])
        share = rng.random(m) < 0.3
        pop.phone[idx] = np.where(share, pop.phone[pop.n_normal + donor], pop.phone[idx])
        pop.phone[idx] = np.where(
            pop.phone[idx] < 0, pop.phone[pop.n_normal + donor], pop.phone[idx]
        )


def plan_rings(config: SimulationConfig, timeline: Timeline, rng: np.random.Generator) -> RingPlan:
    """Ring sizes (5-30, mostly around 10) adding up to the configured share of people."""
    target = round(config.fraud_share * config.people)
    sizes: list[int] = []
    total = 0
    while target - total >= MIN_RING:
        size = int(np.clip(round(rng.lognormal(np.log(10), 0.5)), MIN_RING, MAX_RING))
        size = min(size, target - total)
        if size < MIN_RING:
            break
        sizes.append(size)
        total += size
    arr = np.array(sizes, dtype=np.int64)
    k = len(arr)
    first = np.concatenate([[0], np.cumsum(arr)[:-1]]).astype(np.int64) if k else arr
    lo = timeline.cohort_start + 7 * DAY
    hi = max(timeline.cohort_end - 8 * DAY, lo + DAY)
    strike = lo + (rng.random(k) * (hi - lo) // DAY).astype(np.int64) * DAY
    return RingPlan(
        sizes=arr,
        first=first,
        strike_at=strike.astype(np.int64),
        density=rng.uniform(0.5, 0.9, k),
        devices=rng.integers(1, 4, k).astype(np.int64),
    )


@dataclass
class RingEdges:
    """Ties made by ring members: dense inside the ring, a few camouflage ties to ordinary people."""

    u: NDArray[np.int64]
    v: NDArray[np.int64]
    inside: NDArray[np.bool_]


def ring_edges(plan: RingPlan, pop: Population, rng: np.random.Generator) -> RingEdges:
    us: list[NDArray[np.int64]] = []
    vs: list[NDArray[np.int64]] = []
    for r in range(plan.count):
        size = int(plan.sizes[r])
        base = pop.n_normal + int(plan.first[r])
        iu, ju = np.triu_indices(size, 1)
        keep = rng.random(len(iu)) < plan.density[r]
        keep |= ju == iu + 1  # a chain keeps every ring connected
        us.append(base + iu[keep])
        vs.append(base + ju[keep])
    inside_u = np.concatenate(us) if us else np.zeros(0, np.int64)
    inside_v = np.concatenate(vs) if vs else np.zeros(0, np.int64)

    members = np.arange(pop.n_normal, pop.n)
    k = 2 + rng.poisson(2.0, len(members))
    src = np.repeat(members, k)
    # camouflage partners: ordinary people, mostly in the member's own city
    order = np.argsort(pop.region[: pop.n_normal], kind="stable")
    bounds = np.searchsorted(pop.region[: pop.n_normal][order], np.arange(7))
    reg = pop.region[src]
    lo, hi = bounds[reg], bounds[reg + 1]
    local = (rng.random(len(src)) < 0.8) & (hi > lo)
    pick_local = order[
        np.minimum(lo + (rng.random(len(src)) * (hi - lo)).astype(np.int64), pop.n_normal - 1)
    ]
    pick_any = rng.integers(0, pop.n_normal, len(src))
    dst = np.where(local, pick_local, pick_any)
    u = np.concatenate([inside_u, src]).astype(np.int64)
    v = np.concatenate([inside_v, dst]).astype(np.int64)
    inside = np.concatenate([np.ones(len(inside_u), bool), np.zeros(len(src), bool)])
    return RingEdges(u=u, v=v, inside=inside)
