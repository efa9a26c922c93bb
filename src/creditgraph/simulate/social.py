"""Ties and interactions, generated together in one pass over the graph's edges.

Every tie is written from both sides on wechat (each person's contact list is their own data), as a
``follow`` on weibo/douyin when both people use the platform, and interactions are drawn only along
the tie rows actually written, so the two tables never disagree. Interactions are aggregated per
directed tie, kind and month (``count``, with the summed ``amount`` for money), which keeps a million
people at about 22 million rows over 48 months; rates rise steeply with tie strength, so most
weak ties are quiet in most months, as they are in life.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from creditgraph.contracts.schema import INTERACTION_KINDS, INTERACTIONS, TIES
from creditgraph.simulate import columns as col
from creditgraph.simulate import vocab
from creditgraph.simulate.arrays import rank_within, unique_sorted
from creditgraph.simulate.clock import DAY, epoch
from creditgraph.simulate.graph import FAMILY, RELATIONS
from creditgraph.simulate.rng import stream
from creditgraph.simulate.world import Chunk, World

WECHAT, WEIBO, DOUYIN = (vocab.SOURCES.index(s) for s in ("wechat", "weibo", "douyin"))
MESSAGE, CALL, LIKE, COMMENT, TRANSFER, RED_PACKET = (
    INTERACTION_KINDS.index(k)
    for k in ("message", "call", "like", "comment", "transfer", "red_packet")
)
N_KINDS = len(INTERACTION_KINDS)

# Monthly rate of each kind on a wechat tie: scale * strength**power * engagement (* multipliers).
WECHAT_SCALE = np.array([0.25, 0.04, 0.06, 0.02, 0.03, 0.02])
WECHAT_POWER = np.array([2.0, 2.0, 1.0, 1.0, 2.0, 2.0])
# Given an active month, how many times: 1 + Poisson(count_scale * strength**power * engagement).
COUNT_SCALE = np.array([40.0, 5.0, 4.0, 1.5, 0.6, 0.6])
FAMILY_BOOST = np.array([1.0, 3.0, 0.7, 0.7, 2.0, 2.0])
RING_BOOST = np.array([3.0, 2.0, 1.0, 1.0, 12.0, 1.0])  # rings cycle money between members
# like/comment on weibo and douyin follows
PLATFORM_SCALE = {LIKE: 0.1, COMMENT: 0.025}
SPRING_FESTIVAL_BOOST = 8.0
FOLLOW_BASE, FOLLOW_SLOPE = 0.3, 0.5

_TIE_KINDS = pa.array([*RELATIONS, "follow", "emergency_contact"], type=pa.string())
FOLLOW = len(RELATIONS)
_SOURCES = pa.array(vocab.SOURCES, type=pa.string())
_KINDS = pa.array(INTERACTION_KINDS, type=pa.string())
_RED = np.array(vocab.RED_PACKETS[0])
_RED_P = np.array(vocab.RED_PACKETS[1]) / np.sum(vocab.RED_PACKETS[1])


@dataclass
class _Directed:
    """Tie rows of one chunk, one per (direction, source)."""

    src: NDArray[np.int64]
    dst: NDArray[np.int64]
    edge: NDArray[np.int64]
    source: NDArray[np.int64]
    kind: NDArray[np.int64]  # index into _TIE_KINDS
    created: NDArray[np.int64]
    ended: NDArray[np.int64]  # -1 while the tie lasts

    def take(self, mask: NDArray[np.bool_]) -> _Directed:
        return _Directed(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[_Directed]) -> _Directed:
        return _Directed(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in _Directed.__dataclass_fields__
            )
        )


def _tie_rows(world: World, edges: NDArray[np.int64], rng: np.random.Generator) -> _Directed:
    g, pop = world.graph, world.pop
    src = np.concatenate([g.u[edges], g.v[edges]])
    dst = np.concatenate([g.v[edges], g.u[edges]])
    edge = np.concatenate([edges, edges])
    created = np.concatenate([world.created_uv[edges], world.created_vu[edges]])
    ended = g.ended_at[edge]
    n = len(src)
    wechat = _Directed(src, dst, edge, np.full(n, WECHAT), g.relation[edge], created, ended).take(
        (ended < 0) | (ended > created)
    )
    parts = [wechat]
    end = world.timeline.world_end
    for platform in (WEIBO, DOUYIN):
        both = pop.uses[src, platform] & pop.uses[dst, platform]
        follows = both & (rng.random(n) < FOLLOW_BASE + FOLLOW_SLOPE * g.strength[edge])
        f_created = np.minimum(created + rng.integers(0, 60 * DAY, n), end - 3600)
        f_created = np.maximum(f_created, created)
        keep = follows & ((ended < 0) | (ended > f_created))
        parts.append(
            _Directed(
                src, dst, edge, np.full(n, platform), np.full(n, FOLLOW), f_created, ended
            ).take(keep)
        )
    return _Directed.concat(parts)


def _ties_table(world: World, rows: _Directed) -> pa.Table:
    ids = world.person_ids
    return col.table(
        TIES,
        {
            "src": ids.take(pa.array(rows.src)),
            "dst": ids.take(pa.array(rows.dst)),
            "kind": col.labels(_TIE_KINDS, rows.kind),
            "source": col.labels(_SOURCES, rows.source),
            "created_at": col.timestamps(rows.created),
            "ended_at": col.timestamps(np.maximum(rows.ended, 0), rows.ended >= 0),
        },
    )


def _spring_festival_months(world: World) -> NDArray[np.int64]:
    tl = world.timeline
    starts = np.array([epoch(d) for d in vocab.SPRING_FESTIVAL], dtype=np.int64)
    inside = starts[(starts >= tl.month_starts[0]) & (starts < tl.world_end)]
    return np.unique(tl.month_of(inside))


def _rates(world: World, rows: _Directed, rng: np.random.Generator) -> NDArray[np.float64]:
    """Monthly rate of every kind on every tie row, shape (rows, kinds)."""
    g, pop = world.graph, world.pop
    s = np.clip(g.strength[rows.edge] * rng.lognormal(0.0, 0.25, len(rows.src)), 0.0, 1.0)
    e = pop.engagement[rows.src]
    rate = np.zeros((len(s), N_KINDS))
    wechat = rows.source == WECHAT
    base = WECHAT_SCALE * s[:, None] ** WECHAT_POWER * e[:, None]
    base *= np.where((g.relation[rows.edge] == FAMILY)[:, None], FAMILY_BOOST, 1.0)
    base *= np.where(g.ring_edge[rows.edge][:, None], RING_BOOST, 1.0)
    # people under financial strain move more money around their circle
    base[:, TRANSFER] *= np.exp(-0.3 * world.risk.latent[rows.src])
    rate[wechat] = base[wechat]
    for kind, scale in PLATFORM_SCALE.items():
        rate[~wechat, kind] = scale * s[~wechat] * e[~wechat]
    return rate


def _interactions_table(
    world: World, rows: _Directed, rng: np.random.Generator, quiet: np.random.Generator
) -> pa.Table:
    """Interaction rows of the tie rows; ``quiet`` thins those of people in distress."""
    tl = world.timeline
    g = world.graph
    start = np.maximum(rows.created, tl.history_start)
    stop = np.minimum(
        np.where(rows.ended >= 0, rows.ended, tl.world_end), g.active_until[rows.edge]
    )
    live = stop > start
    m0 = tl.month_of(start)
    m1 = tl.month_of(np.maximum(stop - 1, start)) + 1
    months = np.where(live, m1 - m0, 0)
    rate = _rates(world, rows, rng)
    p = -np.expm1(-rate)

    n_months = tl.n_months
    keys: list[NDArray[np.int64]] = []
    for k in range(N_KINDS):
        hits = rng.binomial(months, p[:, k])
        at = np.repeat(np.arange(len(months)), hits)
        when = m0[at] + (rng.random(len(at)) * months[at]).astype(np.int64)
        keys.append((at * N_KINDS + k) * n_months + when)
    for festival in _spring_festival_months(world):
        inside = live & (m0 <= festival) & (festival < m1)
        boost = -np.expm1(-rate[:, RED_PACKET] * SPRING_FESTIVAL_BOOST)
        at = np.flatnonzero(inside & (rng.random(len(months)) < boost))
        keys.append((at * N_KINDS + RED_PACKET) * n_months + festival)
    key = unique_sorted(np.concatenate(keys))
    month = key % n_months
    kind = (key // n_months) % N_KINDS
    row = key // n_months // N_KINDS

    s_row = world.graph.strength[rows.edge[row]]
    intensity = (
        COUNT_SCALE[kind] * s_row ** WECHAT_POWER[kind] * world.pop.engagement[rows.src[row]]
    )
    count = 1 + rng.poisson(intensity)
    ts = np.maximum(tl.month_starts[month], start[row])

    amount = np.zeros(len(row), dtype=np.int64)
    money = (kind == TRANSFER) | (kind == RED_PACKET)
    src = rows.src[row]
    income = np.maximum(world.pop.income_fen[src] / 100.0, 500.0)
    family = g.relation[rows.edge[row]] == FAMILY
    ring = g.ring_edge[rows.edge[row]]
    median = (
        150.0 * np.sqrt(income / 6000.0) * np.where(family, 3.0, 1.0) * np.where(ring, 10.0, 1.0)
    )
    unit = np.exp(np.log(median) + rng.normal(0.0, 0.9, len(row)))
    transfer_fen = (
        np.where(rng.random(len(row)) < 0.6, np.round(unit) * 100, np.round(unit * 100)) * count
    )
    lucky = rng.choice(_RED, size=len(row), p=_RED_P)
    festive = np.isin(month, _spring_festival_months(world))
    red_fen = np.round(lucky * 100) * count * np.where(festive, rng.integers(1, 4, len(row)), 1)
    amount = np.where(kind == TRANSFER, transfer_fen, np.where(kind == RED_PACKET, red_fen, 0))
    amount = np.minimum(amount, 100_000_000).astype(np.int64)  # at most 1,000,000 CNY a row

    # a defaulter starts fewer interactions in the weeks before the first missed instalment;
    # thinned after every draw of ``rng`` and by a stream of its own, so everyone else's rows
    # stay exactly as they were
    kept = quiet.random(len(row)) < world.distress.factor(src, ts)
    row, src, kind, ts, count, amount = (x[kept] for x in (row, src, kind, ts, count, amount))
    money = money[kept]
    ids = world.person_ids
    return col.table(
        INTERACTIONS,
        {
            "src": ids.take(pa.array(src)),
            "dst": ids.take(pa.array(rows.dst[row])),
            "kind": col.labels(_KINDS, kind),
            "ts": col.timestamps(ts),
            "count": col.ints(count),
            "amount": col.money(amount, money),
            "source": col.labels(_SOURCES, rows.source[row]),
        },
    )


def social_chunks(
    world: World, rng: np.random.Generator, chunk_rows: int
) -> Iterator[tuple[pa.Table, pa.Table, int, int]]:
    """Yields ``(ties, interactions, edges_done, edges_total)`` chunk by chunk."""
    m = world.graph.edges
    step = max(chunk_rows // 4, 1000)
    quiet = stream(world.config.seed, "distress-interactions")
    for a in range(0, m, step):
        edges = np.arange(a, min(a + step, m))
        rows = _tie_rows(world, edges, rng)
        inter = _interactions_table(world, rows, rng, quiet)
        yield _ties_table(world, rows), inter, int(edges[-1]) + 1, m


EMERGENCY_COUNTS = (np.array([1, 2, 3]), np.array([0.45, 0.40, 0.15]))
EMERGENCY = len(RELATIONS) + 1
APP = vocab.SOURCES.index(vocab.APP_SOURCE)


def emergency_contacts(world: World, rng: np.random.Generator, chunk_rows: int) -> Iterator[Chunk]:
    """One to three emergency contacts per person, declared in the lender's app at registration:
    their closest ties, family first."""
    g, pop = world.graph, world.pop
    node = np.concatenate([g.u, g.v])
    nbr = np.concatenate([g.v, g.u])
    edge = np.concatenate([np.arange(g.edges), np.arange(g.edges)])
    closeness = g.strength[edge] * np.where(g.relation[edge] == FAMILY, 2.0, 1.0)
    closeness *= rng.lognormal(0.0, 0.3, len(edge))
    rank = rank_within(node, -closeness)
    wanted = rng.choice(EMERGENCY_COUNTS[0], size=g.n, p=EMERGENCY_COUNTS[1])
    keep = rank < wanted[node]
    src, dst, rank = node[keep], nbr[keep], rank[keep]
    position = np.empty(g.n, dtype=np.int64)
    position[pop.by_id] = np.arange(g.n)
    order = np.lexsort((rank, position[src]))
    src, dst = src[order], dst[order]
    created = pop.data_start[src] + rng.integers(0, 600, len(src))
    total = len(src)
    for a in range(0, total, chunk_rows):
        s = slice(a, a + chunk_rows)
        n = len(src[s])
        rows = _Directed(
            src[s],
            dst[s],
            np.zeros(n, np.int64),
            np.full(n, APP),
            np.full(n, EMERGENCY),
            created[s],
            np.full(n, -1, np.int64),
        )
        yield _ties_table(world, rows), a + n, total
