"""Devices and daily activity: the behavioural side of the social data.

Ordinary people use one or two phones (now and then a family shares one); ring members share one to
three devices. Daily activity is written only for the last ``activity_days`` days (and optionally
for the days before each historical application) and only for days a person was active, which keeps
a million people at about fifteen million rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from creditgraph.contracts.schema import ACTIVITY_DAILY, DEVICES
from creditgraph.simulate import columns as col
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY
from creditgraph.simulate.graph import FAMILY
from creditgraph.simulate.world import Chunk, World

APP = vocab.SOURCES.index(vocab.APP_SOURCE)
WECHAT = vocab.SOURCES.index("wechat")
DOUYIN = vocab.SOURCES.index("douyin")
_SOURCES = pa.array(vocab.SOURCES, type=pa.string())
FAMILY_SHARE = 0.04  # share of family ties where one side also uses the other's device


def _strike(world: World, person: NDArray[np.int64]) -> NDArray[np.int64]:
    """When each person's ring applied (the end of the world for people outside rings)."""
    ring = world.pop.ring[person]
    if world.rings.count == 0:
        return np.full(len(person), world.timeline.world_end, dtype=np.int64)
    strike = world.rings.strike_at[np.maximum(ring, 0)]
    return np.where(ring >= 0, strike, world.timeline.world_end)


def _own_device_counts(world: World, rng: np.random.Generator) -> NDArray[np.int64]:
    pop = world.pop
    risky = world.risk.latent < -1.0
    k = 1 + (rng.random(pop.n) < 0.28) + (rng.random(pop.n) < np.where(risky, 0.15, 0.05))
    fraud = pop.ring >= 0
    return np.where(fraud, (rng.random(pop.n) < 0.5).astype(np.int64), k).astype(np.int64)


def devices(world: World, rng: np.random.Generator, chunk_rows: int) -> Iterator[Chunk]:
    """Device links of everyone (own phones, family sharing, ring devices), in person-id order so
    that file order says nothing about who shares what."""
    pop, tl = world.pop, world.timeline
    end = tl.world_end
    own = _own_device_counts(world, rng)
    offset = np.concatenate([[0], np.cumsum(own)]).astype(np.int64)
    n_own = int(offset[-1])
    ring_offset = np.concatenate([[0], np.cumsum(world.rings.devices)]).astype(np.int64)
    total = n_own + int(ring_offset[-1])
    number = rng.permutation(total).astype(np.int64) + 1  # random ids: order reveals nothing
    width = max(8, len(str(total)))

    # own phones: the first from when data began, later ones replace (and overlap) earlier ones
    person = np.repeat(np.arange(pop.n), own)
    slot = np.arange(n_own)
    ds = pop.data_start[person]
    later = ds + (rng.random(n_own) * np.maximum(end - DAY - ds, 1)).astype(np.int64)
    first = np.where(slot == offset[person], ds + rng.integers(0, 2 * DAY, n_own), later)
    sort = np.lexsort((first, person))  # number each person's phones by when first seen
    first = first[sort]
    nxt_same = np.zeros(n_own, dtype=bool)
    nxt_same[:-1] = person[1:] == person[:-1]
    last = np.where(
        nxt_same,
        np.minimum(np.roll(first, -1) + rng.integers(0, 20 * DAY, n_own), end - 1),
        end - 1 - rng.integers(0, 10 * DAY, n_own),
    )
    quiet = _strike(world, person) + rng.integers(20 * DAY, 60 * DAY, n_own)
    last = np.maximum(np.where(pop.ring[person] >= 0, np.minimum(quiet, end - 1), last), first)
    parts = [(person, slot, first, last)]

    # family sharing: one side also logs in on the other's first phone
    g = world.graph
    fam = np.flatnonzero((g.relation == FAMILY) & (rng.random(g.edges) < FAMILY_SHARE))
    flip = rng.random(len(fam)) < 0.5
    user = np.where(flip, g.u[fam], g.v[fam])
    owner = np.where(flip, g.v[fam], g.u[fam])
    has = own[owner] > 0
    user, owner = user[has], owner[has]
    lo = np.maximum(pop.data_start[user], first[offset[owner]])
    f_first = lo + (rng.random(len(user)) * np.maximum(end - DAY - lo, 1) * 0.5).astype(np.int64)
    f_last = np.maximum(f_first, end - 1 - rng.integers(0, 120 * DAY, len(user)))
    parts.append((user, offset[owner], f_first, f_last))

    # rings: each member uses one of the ring's devices, and some use the others too
    rings = world.rings
    members = np.arange(pop.n_normal, pop.n)
    if len(members):
        ring = pop.ring[members]
        d = rings.devices[ring]
        rank = members - pop.n_normal - rings.first[ring]
        for j in range(3):
            use = (j < d) & ((rank % d == j) | (rng.random(len(members)) < 0.4))
            m = members[use]
            r_first = pop.data_start[m] + rng.integers(0, 2 * DAY, len(m))
            r_quiet = rings.strike_at[ring[use]] + rng.integers(20 * DAY, 60 * DAY, len(m))
            r_last = np.maximum(np.minimum(r_quiet, end - 1), r_first)
            parts.append((m, n_own + ring_offset[ring[use]] + j, r_first, r_last))

    who, device, first_seen, last_seen = (np.concatenate(x) for x in zip(*parts, strict=True))
    position = np.empty(pop.n, dtype=np.int64)
    position[pop.by_id] = np.arange(pop.n)
    order = np.lexsort((device, first_seen, position[who]))
    who, device, first_seen, last_seen = (x[order] for x in (who, device, first_seen, last_seen))
    rows = len(who)
    for a in range(0, rows, chunk_rows):
        s = slice(a, a + chunk_rows)
        table = _devices_table(world, who[s], number[device[s]], first_seen[s], last_seen[s], width)
        yield table, min(a + chunk_rows, rows), rows


def _devices_table(
    world: World,
    person: NDArray[np.int64],
    number: NDArray[np.int64],
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    width: int,
) -> pa.Table:
    return col.table(
        DEVICES,
        {
            "person_id": world.person_ids.take(pa.array(person)),
            "device_id": col.prefixed_ids("D", number, width),
            "first_seen": col.timestamps(first),
            "last_seen": col.timestamps(last),
            "source": col.labels(_SOURCES, np.full(len(person), APP)),
        },
    )


def _active_days(
    world: World,
    people: NDArray[np.int64],
    first_day: NDArray[np.int64],
    days: int,
    rng: np.random.Generator,
) -> pa.Table:
    """Active days of ``people`` in ``[first_day, first_day + days)`` on wechat and douyin."""
    pop = world.pop
    e = pop.engagement[people]
    base = np.clip(0.08 + 0.4 * e, 0.03, 0.95) * (
        1.0 + 0.08 * np.clip(world.risk.latent[people], -2, 2)
    )
    base = np.where(pop.ring[people] >= 0, 0.03, base)
    day = first_day[:, None] + np.arange(days)[None, :]
    allowed = day * DAY >= pop.data_start[people][:, None] + DAY  # the day after data began
    # defaulters fall quiet in the weeks before their first missed instalment
    collapse = world.distress.factor(people[:, None], day * DAY + DAY // 2)
    parts = []
    for source, share in ((WECHAT, 1.0), (DOUYIN, 0.4)):
        p = base * share * pop.uses[people, source]
        hit = (rng.random((len(people), days)) < p[:, None] * collapse) & allowed
        who, k = np.nonzero(hit)
        person = people[who]
        ee = pop.engagement[person]
        minutes = np.clip(np.round(rng.lognormal(np.log(30.0 * ee), 0.7)), 1, 1440).astype(np.int64)
        posts = rng.poisson(0.3 * ee if source == WECHAT else 0.1 * ee)
        logins = 1 + rng.poisson(3.0 * ee if source == WECHAT else 2.0 * ee)
        parts.append((who, day[who, k], minutes, posts, logins, np.full(len(person), source)))
    who, date, minutes, posts, logins, source_idx = (
        np.concatenate(x) for x in zip(*parts, strict=True)
    )
    order = np.lexsort((source_idx, date, who))
    person = people[who]
    return col.table(
        ACTIVITY_DAILY,
        {
            "person_id": world.person_ids.take(pa.array(person[order])),
            "date": col.dates(date[order]),
            "active_minutes": col.ints(minutes[order]),
            "posts": col.ints(posts[order]),
            "logins": col.ints(logins[order]),
            "source": col.labels(_SOURCES, source_idx[order]),
        },
    )


def activity(world: World, rng: np.random.Generator, chunk_people: int) -> Iterator[Chunk]:
    """The last ``activity_days`` days for everyone, then (optionally) the days before each
    historical application for borrowers."""
    cfg, pop = world.config, world.pop
    last_day = world.timeline.world_end // DAY
    order = pop.by_id
    days = cfg.application_activity_days
    borrowers = order[pop.borrower[order]] if days > 0 else order[:0]
    total = len(order) + len(borrowers)
    step = max(chunk_people // cfg.activity_days, 1000)
    for a in range(0, len(order), step):
        people = order[a : a + step]
        first = np.full(len(people), last_day - cfg.activity_days, dtype=np.int64)
        yield _active_days(world, people, first, cfg.activity_days, rng), a + len(people), total
    if days > 0:
        step = max(chunk_people // days, 1000)
        for a in range(0, len(borrowers), step):
            people = borrowers[a : a + step]
            first = pop.applied_at[people] // DAY - days
            table = _active_days(world, people, first, days, rng)
            yield table, len(order) + a + len(people), total


def activity_span(
    world: World, rng: np.random.Generator, first_day: int, days: int, chunk_people: int
) -> Iterator[pa.Table]:
    """Active days of everyone over ``[first_day, first_day + days)`` (epoch days), drawn like the
    table's: for an event stream reaching back before the days ``activity_daily`` keeps."""
    order = world.pop.by_id
    if days <= 0:
        return
    step = max(chunk_people // days, 1000)
    for a in range(0, len(order), step):
        people = order[a : a + step]
        first = np.full(len(people), first_day, dtype=np.int64)
        yield _active_days(world, people, first, days, rng)
