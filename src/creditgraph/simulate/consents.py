"""Consents: per person, source and purpose, with the gaps a real consent register has.

Most people grant ``credit_assessment`` and ``monitoring`` for every source they use when they
register, before any of their data arrives. A few percent do not, or revoke, or let a consent lapse,
or consent late; their rows are still written, so the ingest consent gate has work to do.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from creditgraph.contracts.schema import CONSENTS, PURPOSES
from creditgraph.simulate import columns as col
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY, YEAR, epoch
from creditgraph.simulate.world import Chunk, World

STATUSES = ("ok", "missing", "revoked", "lapsed", "late")
STATUS_P = (0.935, 0.02, 0.02, 0.015, 0.01)
OK, MISSING, REVOKED, LAPSED, LATE = range(5)
CREDIT, MONITORING, SHARING = (
    PURPOSES.index(p) for p in ("credit_assessment", "monitoring", "sharing")
)
_SOURCES = pa.array(vocab.SOURCES, type=pa.string())
_PURPOSES = pa.array(PURPOSES, type=pa.string())
_VERSIONS = pa.array([v for _, v in vocab.CONSENT_TEXT_VERSIONS], type=pa.string())
_VERSION_FROM = np.array([epoch(d) for d, _ in vocab.CONSENT_TEXT_VERSIONS], dtype=np.int64)
SENSITIVE_SOURCES = frozenset({"wechat", "app"})  # transfers and device identifiers


def _between(
    rng: np.random.Generator, lo: NDArray[np.int64], hi: NDArray[np.int64]
) -> NDArray[np.int64]:
    return np.asarray(lo + (rng.random(len(lo)) * np.maximum(hi - lo, 1)).astype(np.int64))


def consent_chunk(world: World, people: NDArray[np.int64], rng: np.random.Generator) -> pa.Table:
    """Consent rows for the given people (internal indices), in their order."""
    pop, tl = world.pop, world.timeline
    person_rep, source = np.nonzero(pop.uses[people])
    person = people[person_rep]
    k = len(person)
    status = rng.choice(len(STATUSES), size=k, p=np.array(STATUS_P))
    registered = pop.registered_at[person]
    start = pop.data_start[person]
    granted = registered + rng.integers(0, 600, k)
    window_lo = np.maximum(start, tl.history_start)
    end = tl.world_end

    rows_person: list[NDArray[np.int64]] = []
    rows_source: list[NDArray[np.int64]] = []
    rows_purpose: list[NDArray[np.int64]] = []
    rows_granted: list[NDArray[np.int64]] = []
    rows_expires: list[NDArray[np.int64]] = []
    rows_revoked: list[NDArray[np.int64]] = []
    rows_renewal: list[NDArray[np.int64]] = []

    def add(
        mask: NDArray[np.bool_],
        purpose: int,
        g: NDArray[np.int64],
        x: NDArray[np.int64],
        r: NDArray[np.int64],
        renewal: int = 0,
    ) -> None:
        count = int(mask.sum())
        rows_person.append(person[mask])
        rows_source.append(source[mask])
        rows_purpose.append(np.full(count, purpose, dtype=np.int64))
        rows_granted.append(g[mask])
        rows_expires.append(x[mask])
        rows_revoked.append(r[mask])
        rows_renewal.append(np.full(count, renewal, dtype=np.int64))

    none = np.full(k, -1, dtype=np.int64)
    # credit_assessment: open-ended or a 3-year term renewed shortly before it runs out
    late_grant = np.minimum(start + rng.integers(DAY, 400 * DAY, k), end - 60)
    ca_granted = np.where(status == LATE, late_grant, granted)
    termed = rng.random(k) < 0.5
    renewable = termed & ((status == OK) | (status == LATE))
    expires = np.where(renewable, ca_granted + 3 * YEAR, -1)
    # lapses and revocations happen inside the world (never after its end)
    lapse_at = np.minimum(_between(rng, window_lo + DAY, np.full(k, end - DAY)), end - 60)
    expires = np.where(status == LAPSED, lapse_at, expires)
    revoke_at = np.minimum(_between(rng, window_lo, np.full(k, end - 3600)), end - 60)
    revoked = np.where(status == REVOKED, revoke_at, -1)
    add(status != MISSING, CREDIT, ca_granted, expires, revoked)
    renew_ok = renewable & (ca_granted + 3 * YEAR < end)
    renew_at = ca_granted + 3 * YEAR - rng.integers(DAY, 30 * DAY, k)
    renew_lapsed = (status == LAPSED) & (rng.random(k) < 0.5)
    gap_renew = lapse_at + rng.integers(10 * DAY, 90 * DAY, k)
    renew_lapsed &= gap_renew < end
    add(renew_ok, CREDIT, renew_at, none, none, renewal=1)
    add(renew_lapsed, CREDIT, gap_renew, none, none, renewal=1)

    monitoring = (status != MISSING) | (rng.random(k) < 0.5)
    add(monitoring, MONITORING, granted, none, revoked)
    add(rng.random(k) < 0.1, SHARING, granted, none, none)

    p = np.concatenate(rows_person)
    s = np.concatenate(rows_source)
    u = np.concatenate(rows_purpose)
    g = np.concatenate(rows_granted)
    x = np.concatenate(rows_expires)
    r = np.concatenate(rows_revoked)
    # person (caller's order), source, purpose, then the original before its renewal: one
    # distinct packed key, so a plain argsort is both fast and the same on every machine
    renewal = np.concatenate(rows_renewal)
    key = ((_position(people, p) * len(vocab.SOURCES) + s) * len(PURPOSES) + u) * 2 + renewal
    order = np.argsort(key)
    p, s, u, g, x, r = p[order], s[order], u[order], g[order], x[order], r[order]
    sensitive_source = np.array([src in SENSITIVE_SOURCES for src in vocab.SOURCES])
    version = np.searchsorted(_VERSION_FROM, g, side="right") - 1
    return col.table(
        CONSENTS,
        {
            "person_id": world.person_ids.take(pa.array(p)),
            "source": col.labels(_SOURCES, s),
            "purpose": col.labels(_PURPOSES, u),
            "granted_at": col.timestamps(g),
            "expires_at": col.timestamps(np.maximum(x, 0), x >= 0),
            "revoked_at": col.timestamps(np.maximum(r, 0), r >= 0),
            "sensitive": col.bools((u == CREDIT) & sensitive_source[s]),
            "text_version": col.labels(_VERSIONS, version),
        },
    )


def _position(people: NDArray[np.int64], person: NDArray[np.int64]) -> NDArray[np.int64]:
    """Where each person sits in ``people`` (keeps rows in the caller's person order)."""
    rank = np.empty(int(people.max(initial=0)) + 1, dtype=np.int64)
    rank[people] = np.arange(len(people))
    return rank[person]


def consents(world: World, rng: np.random.Generator, chunk_people: int) -> Iterator[Chunk]:
    """Consent rows, person by person in id order."""
    order = world.pop.by_id
    step = max(chunk_people // 3, 1000)
    for a in range(0, len(order), step):
        people = order[a : a + step]
        yield consent_chunk(world, people, rng), a + len(people), len(order)
