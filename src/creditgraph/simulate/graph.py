"""The social graph: communities inside cities, heavy-tailed degrees, triadic closure, rings.

A community-structured configuration model gives communities and a heavy tail; random-walk triadic
closure (close the wedge x-y-z found by walking two steps) then adds the triangles real social
networks have, including around hubs. Everything is array arithmetic, so a million people take
seconds. Calibration targets and measured values are in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from creditgraph.contracts.schema import REGION_TIERS
from creditgraph.simulate.arrays import csr, rank_within, undirected_keys, unique_sorted
from creditgraph.simulate.clock import DAY, YEAR, Timeline
from creditgraph.simulate.fraud import RingEdges, RingPlan
from creditgraph.simulate.population_model import Population

RELATIONS: tuple[str, ...] = ("family", "colleague", "friend", "contact")
FAMILY, COLLEAGUE, FRIEND, CONTACT = range(4)

# Degree model: lognormal target degrees (median, sigma) capped, then closure adds triangles.
DEGREE_MEDIAN = 4.0
DEGREE_SIGMA = 0.9
DEGREE_CAP = 300
COMMUNITY_MEDIAN = 20.0
COMMUNITY_SIGMA = 0.7
COMMUNITY_RANGE = (8, 400)
MIXING = 0.2  # share of a typical person's ties outside their community
LOCAL_EXTERNAL = 0.75  # share of outside ties kept within the district (~10 nearby communities)
DISTRICT = 10
CLOSURE_PER_PERSON = 1.5
CLOSURE_ROUNDS = 3

# P(relation | tie inside a community), P(relation | tie across communities), and tie strength
# as Beta(a, b) per relation.
RELATION_INSIDE = (0.15, 0.25, 0.40, 0.20)
RELATION_ACROSS = (0.05, 0.15, 0.40, 0.40)
STRENGTH_BETA = ((4.0, 2.0), (1.5, 4.0), (1.2, 4.0), (0.6, 6.0))


@dataclass
class SocialGraph:
    """Undirected ties (each pair once) with their attributes; ``community`` is per person."""

    n: int
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    relation: NDArray[np.int64]  # index into RELATIONS
    strength: NDArray[np.float64]  # 0..1, drives interaction rates
    formed_at: NDArray[np.int64]
    ended_at: NDArray[np.int64]  # -1 while the tie lasts
    active_until: NDArray[np.int64]  # interactions stop here (rings go quiet after the bust-out)
    ring_edge: NDArray[np.bool_]  # both ends in the same fraud ring
    community: NDArray[np.int64]
    n_communities: int

    @property
    def edges(self) -> int:
        return len(self.u)

    def degree(self) -> NDArray[np.int64]:
        return np.bincount(np.concatenate([self.u, self.v]), minlength=self.n).astype(np.int64)


def assign_communities(
    region: NDArray[np.int64], rng: np.random.Generator
) -> tuple[NDArray[np.int64], int]:
    """Partition people of each city tier into communities of lognormal size (villages, workplaces,
    neighbourhoods); ids are consecutive within a tier so that districts stay local."""
    comm = np.empty(len(region), dtype=np.int64)
    next_id = 0
    lo, hi = COMMUNITY_RANGE
    for r in range(len(REGION_TIERS)):
        idx = np.flatnonzero(region == r)
        if len(idx) == 0:
            continue
        rng.shuffle(idx)
        sizes = np.clip(
            np.exp(rng.normal(np.log(COMMUNITY_MEDIAN), COMMUNITY_SIGMA, len(idx) // lo + 2)),
            lo,
            hi,
        ).astype(np.int64)
        cut = int(np.searchsorted(np.cumsum(sizes), len(idx))) + 1
        labels = np.repeat(np.arange(cut), sizes[:cut])[: len(idx)]
        comm[idx] = labels + next_id
        next_id += cut
    return comm, next_id


def _pair_sorted(stubs: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    m = len(stubs) // 2 * 2
    return stubs[0:m:2], stubs[1:m:2]


def _match(
    stubs: NDArray[np.int64], group: NDArray[np.int64], rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pair stubs at random within their group (a stub left over pairs into the next group).

    Sorting one packed key (group, then a random permutation rank) is several times faster
    than a two-key lexsort, and the keys are distinct, so the order is the same on every machine.
    """
    m = len(stubs)
    key = group[stubs] * np.int64(max(m, 1)) + rng.permutation(m)
    return _pair_sorted(stubs[np.argsort(key)])


def _dedupe(
    u: NDArray[np.int64], v: NDArray[np.int64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    keep = u != v
    keys = unique_sorted(undirected_keys(u[keep], v[keep], n))
    return keys // n, keys % n


def _cap_degree(
    u: NDArray[np.int64], v: NDArray[np.int64], n: int, cap: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Drop random ties of people above the cap (closure can push a hub a little past it)."""
    deg = np.bincount(np.concatenate([u, v]), minlength=n)
    if deg.max(initial=0) <= cap:
        return u, v
    score = rng.random(len(u))
    rank = rank_within(np.concatenate([u, v]), np.concatenate([score, score]))
    over = (rank[: len(u)] >= cap) | (rank[len(u) :] >= cap)
    return u[~over], v[~over]


def normal_graph(
    pop: Population, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], int]:
    """Ties among ordinary people; returns ``u, v, community, n_communities``."""
    n = pop.n_normal
    comm, n_comm = assign_communities(pop.region[:n], rng)
    size = np.bincount(comm, minlength=n_comm)
    district = comm // DISTRICT

    target = np.exp(rng.normal(np.log(DEGREE_MEDIAN), DEGREE_SIGMA, n))
    d = np.minimum(np.maximum(np.round(target), 1), DEGREE_CAP).astype(np.int64)
    # hubs keep most of their ties outside their community (they cannot fit inside it)
    mixing = MIXING + (1 - MIXING) * 0.7 * np.clip((d - 20) / 200, 0, 1)
    inside = np.minimum(np.round(d * (1 - mixing)).astype(np.int64), (size[comm] - 1) // 2)
    outside = d - inside
    people = np.arange(n, dtype=np.int64)

    u1, v1 = _match(np.repeat(people, inside), comm, rng)
    out_stubs = np.repeat(people, outside)
    local = rng.random(len(out_stubs)) < LOCAL_EXTERNAL
    u2, v2 = _match(out_stubs[local], district, rng)
    far = rng.permutation(out_stubs[~local])
    u3, v3 = _pair_sorted(far)
    u, v = _dedupe(np.concatenate([u1, u2, u3]), np.concatenate([v1, v2, v3]), n)

    per_round = int(CLOSURE_PER_PERSON * n / CLOSURE_ROUNDS)
    for _ in range(CLOSURE_ROUNDS):
        indptr, nbr, _edge = csr(u, v, n)
        deg = np.diff(indptr)
        x = rng.integers(0, n, per_round)
        x = x[deg[x] > 0]
        y = nbr[indptr[x] + (rng.random(len(x)) * deg[x]).astype(np.int64)]
        z = nbr[indptr[y] + (rng.random(len(y)) * deg[y]).astype(np.int64)]
        ok = (deg[x] < DEGREE_CAP) & (deg[z] < DEGREE_CAP)
        u, v = _dedupe(np.concatenate([u, x[ok]]), np.concatenate([v, z[ok]]), n)

    u, v = _cap_degree(u, v, n, DEGREE_CAP, rng)
    # nobody is left alone: an isolated person gets one tie inside their community
    deg = np.bincount(np.concatenate([u, v]), minlength=n)
    lonely = np.flatnonzero(deg == 0)
    if len(lonely):
        order = np.argsort(comm, kind="stable")
        first = np.searchsorted(comm[order], comm[lonely])
        mate = order[
            np.minimum(
                first + (rng.random(len(lonely)) * size[comm[lonely]]).astype(np.int64), n - 1
            )
        ]
        mate = np.where(mate == lonely, rng.integers(0, n, len(lonely)), mate)
        u, v = _dedupe(np.concatenate([u, lonely]), np.concatenate([v, mate]), n)
    return u, v, comm, n_comm


def _beta_by(relation: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.float64]:
    a = np.array([p[0] for p in STRENGTH_BETA])[relation]
    b = np.array([p[1] for p in STRENGTH_BETA])[relation]
    return rng.beta(a, b)


def build_graph(
    pop: Population,
    plan: RingPlan,
    rings: RingEdges,
    timeline: Timeline,
    rng: np.random.Generator,
) -> SocialGraph:
    """Ordinary ties plus ring ties, each with a relation, a strength and when it formed/ended."""
    u0, v0, comm0, n_comm = normal_graph(pop, rng)
    community = np.empty(pop.n, dtype=np.int64)
    community[: pop.n_normal] = comm0
    community[pop.n_normal :] = n_comm + pop.ring[pop.n_normal :]

    m0 = len(u0)
    same = comm0[u0] == comm0[v0]
    p_in = np.cumsum(RELATION_INSIDE)
    p_out = np.cumsum(RELATION_ACROSS)
    r = rng.random(m0)
    relation0 = np.where(
        same, np.searchsorted(p_in, r, side="right"), np.searchsorted(p_out, r, side="right")
    )
    relation0 = np.minimum(relation0, len(RELATIONS) - 1).astype(np.int64)
    # most ties predate the simulated history; some form during it, some end during it
    h0, end = timeline.history_start, timeline.world_end
    old = h0 - rng.exponential(3 * YEAR, m0).astype(np.int64)
    new = h0 + (rng.random(m0) * (end - DAY - h0)).astype(np.int64)
    formed0 = np.where(
        relation0 == FAMILY, h0 - 20 * YEAR, np.where(rng.random(m0) < 0.08, new, old)
    )
    ends = (relation0 != FAMILY) & (rng.random(m0) < 0.03)
    start = np.maximum(formed0, h0)
    ended0 = np.where(ends, start + (rng.random(m0) * (end - DAY - start)).astype(np.int64), -1)

    # rings: camouflage ties may repeat; keep each pair once
    ru, rv, inside = rings.u, rings.v, rings.inside
    if len(ru):
        keys = undirected_keys(ru, rv, pop.n)
        order = np.argsort(keys, kind="stable")
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[order][1:] != keys[order][:-1]
        pick = order[first]
        ru, rv, inside = ru[pick], rv[pick], inside[pick]
    m1 = len(ru)
    relation1 = np.where(
        inside,
        np.where(rng.random(m1) < 0.6, FRIEND, CONTACT),
        np.where(rng.random(m1) < 0.2, FRIEND, CONTACT),
    ).astype(np.int64)
    member = np.where(ru >= pop.n_normal, ru, rv)
    strike = plan.strike_at[pop.ring[member]] if m1 else np.zeros(0, np.int64)
    lo = np.maximum(pop.data_start[ru], pop.data_start[rv])
    hi = np.where(inside, strike, strike + 30 * DAY)
    formed1 = lo + (rng.random(m1) * np.maximum(hi - lo, 3600)).astype(np.int64)
    quiet = strike + rng.integers(30 * DAY, 75 * DAY, m1)
    abandon = quiet + rng.integers(0, 60 * DAY, m1)
    ended1 = np.where((rng.random(m1) < 0.3) & (abandon < end), abandon, -1)

    strength = np.concatenate(
        [
            _beta_by(relation0, rng),
            np.where(inside, rng.beta(4.0, 2.0, m1), _beta_by(relation1, rng)),
        ]
    )
    graph = SocialGraph(
        n=pop.n,
        u=np.concatenate([u0, ru]).astype(np.int64),
        v=np.concatenate([v0, rv]).astype(np.int64),
        relation=np.concatenate([relation0, relation1]),
        strength=strength,
        formed_at=np.concatenate([formed0, formed1]).astype(np.int64),
        ended_at=np.concatenate([ended0, ended1]).astype(np.int64),
        active_until=np.concatenate([np.full(m0, end, np.int64), np.minimum(quiet, end)]),
        ring_edge=np.concatenate([np.zeros(m0, bool), inside]),
        community=community,
        n_communities=n_comm + plan.count,
    )
    # shuffle so that file order says nothing about rings or communities
    perm = rng.permutation(graph.edges)
    for name in (
        "u",
        "v",
        "relation",
        "strength",
        "formed_at",
        "ended_at",
        "active_until",
        "ring_edge",
    ):
        setattr(graph, name, getattr(graph, name)[perm])
    return graph
