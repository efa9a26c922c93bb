"""Loans elsewhere (multi-lending, overdue history) and the lender's own historical loan outcomes.

Risky people borrow on more platforms, often around the time they apply to us, and fall overdue
elsewhere more often; each external status carries the date it was reported, so features can be
computed strictly as of an application date.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from creditgraph.contracts.schema import (
    EXTERNAL_LOAN_STATUSES,
    EXTERNAL_LOANS,
    LOAN_OUTCOMES,
    SEGMENTS,
)
from creditgraph.simulate import columns as col
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY, YEAR, add_months_seconds
from creditgraph.simulate.world import Chunk, World

_LENDERS = pa.array(vocab.LENDERS, type=pa.string())
_STATUSES = pa.array(EXTERNAL_LOAN_STATUSES, type=pa.string())
OPEN, REPAID, OVERDUE, WRITTEN_OFF = (
    EXTERNAL_LOAN_STATUSES.index(s) for s in ("open", "repaid", "overdue", "written_off")
)
_BUSINESS = np.array([s in vocab.BUSINESS_SEGMENTS for s in SEGMENTS])


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _external_chunk(world: World, people: NDArray[np.int64], rng: np.random.Generator) -> pa.Table:
    pop, tl, latent = world.pop, world.timeline, world.risk.latent
    end = tl.world_end
    fraud = pop.ring[people] >= 0
    lat = latent[people]
    history = rng.poisson(0.6 * np.exp(-0.35 * lat))
    around = rng.poisson(np.where(pop.borrower[people], 0.5 * np.maximum(-lat, 0.0), 0.0))
    around = np.where(fraud, rng.integers(2, 7, len(people)), around)
    history = np.where(fraud, 0, history)
    k = history + around
    who = np.repeat(np.arange(len(people)), k)
    person = people[who]
    near = np.arange(len(who)) - np.repeat(np.cumsum(k) - k, k) >= np.repeat(history, k)
    n = len(person)

    opened_any = end - (rng.random(n) * 4 * YEAR).astype(np.int64) - DAY
    applied = np.maximum(pop.applied_at[person], tl.cohort_start)
    opened_near = applied + rng.integers(-60 * DAY, 30 * DAY, n)
    opened = np.minimum(np.where(near, opened_near, opened_any), end - DAY)
    income = np.maximum(pop.income_fen[person] / 100.0, 1000.0)
    amount = np.round(rng.lognormal(np.log(3000.0 * np.sqrt(income / 6000.0)), 0.7) / 100) * 100
    amount_fen = (np.maximum(amount, 100.0) * 100).astype(np.int64)
    term = rng.choice(np.array([3, 6, 12]), size=n)
    due = opened + term * 30 * DAY
    p_bad = np.where(pop.ring[person] >= 0, 0.9, _sigmoid(-2.4 - 1.3 * latent[person]))
    bad = rng.random(n) < p_bad
    elapsed = np.maximum((end - due) // DAY, 0)
    is_due = due < end

    status = np.where(is_due, REPAID, OPEN)
    dpd = np.where(rng.random(n) < 0.15, rng.integers(1, 30, n), 0) * is_due
    cured = bad & is_due & (elapsed >= 60) & (rng.random(n) < 0.25)
    written = bad & is_due & ~cured & (elapsed > 180) & (rng.random(n) < 0.6)
    overdue = bad & is_due & ~cured & ~written
    status = np.where(cured, REPAID, status)
    dpd = np.where(cured, rng.integers(30, 91, n), dpd)
    status = np.where(written, WRITTEN_OFF, status)
    dpd = np.where(
        written, 180 + (rng.random(n) * np.minimum(elapsed - 180, 540)).astype(np.int64), dpd
    )
    status = np.where(overdue, OVERDUE, status)
    dpd = np.where(overdue, 1 + (rng.random(n) * np.maximum(elapsed, 1)).astype(np.int64), dpd)
    # still open but already behind on an instalment
    behind = bad & ~is_due & (opened + 40 * DAY < end)
    dpd = np.where(behind, rng.integers(1, 40, n), dpd)

    # each status is reported (within a month) once it was reached: repayment at the due date,
    # arrears when the worst days past due were reached; an open loan at some point after opening
    lag = rng.integers(0, 30 * DAY, n)
    reached = np.where(status == OPEN, opened + dpd * DAY, due + np.maximum(dpd, 0) * DAY)
    reached = np.where((status == REPAID) & ~cured, due, reached)
    open_seen = opened + (rng.random(n) * np.maximum(end - 1 - opened, 1)).astype(np.int64)
    reported = np.where(status == OPEN, np.maximum(open_seen, reached), reached + lag)
    reported = np.maximum(np.minimum(reported, end - 1), opened)
    known = rng.random(n) > 0.1

    # loans that went 45+ days past due were reported as overdue on the way there, so arrears that
    # began before an application are visible at it even when the final status came later
    early = ((status == OVERDUE) | (status == WRITTEN_OFF) | cured) & (dpd >= 45)
    e = np.flatnonzero(early)
    e_dpd = rng.integers(30, np.minimum(dpd[e], 91))
    e_reported = due[e] + e_dpd * DAY + rng.integers(0, 10 * DAY, len(e))
    e_reported = np.maximum(np.minimum(e_reported, reported[e] - DAY), opened[e])
    lender = rng.integers(0, len(vocab.LENDERS), n)

    idx = np.concatenate([np.arange(n), e])
    status = np.concatenate([status, np.full(len(e), OVERDUE)])
    dpd = np.concatenate([dpd, e_dpd])
    reported = np.concatenate([reported, e_reported])
    known = np.concatenate([known, np.ones(len(e), dtype=bool)])
    order = np.lexsort((reported, opened[idx], who[idx]))
    idx, status, dpd, reported = idx[order], status[order], dpd[order], reported[order]
    known = known[order]
    return col.table(
        EXTERNAL_LOANS,
        {
            "person_id": world.person_ids.take(pa.array(person[idx])),
            "lender": col.labels(_LENDERS, lender[idx]),
            "opened_at": col.timestamps(opened[idx]),
            "amount": col.money(amount_fen[idx]),
            "status": col.labels(_STATUSES, status),
            "max_dpd": col.ints(dpd),
            "reported_at": col.timestamps(reported, known),
        },
    )


def external_loans(world: World, rng: np.random.Generator, chunk_people: int) -> Iterator[Chunk]:
    """Loans elsewhere, person by person in id order."""
    order = world.pop.by_id
    for a in range(0, len(order), chunk_people):
        people = order[a : a + chunk_people]
        yield _external_chunk(world, people, rng), a + len(people), len(order)


def loan_outcomes(world: World, rng: np.random.Generator, chunk_rows: int) -> Iterator[Chunk]:
    """One historical loan per borrower, numbered in order of application."""
    pop = world.pop
    borrowers = np.flatnonzero(pop.borrower)
    borrowers = borrowers[np.argsort(pop.applied_at[borrowers], kind="stable")]
    width = max(8, len(str(len(borrowers))))
    for a in range(0, len(borrowers), chunk_rows):
        person = borrowers[a : a + chunk_rows]
        n = len(person)
        seg = pop.segment[person]
        income = np.maximum(pop.income_fen[person] / 100.0, 1000.0)
        median = np.array(vocab.LOAN_MEDIAN)[seg] * np.sqrt(income / 6000.0)
        median = np.where(pop.ring[person] >= 0, 50_000.0, median)
        amount = np.clip(np.round(rng.lognormal(np.log(median), 0.6) / 500) * 500, 500, 300_000)
        business = _BUSINESS[seg]
        b_terms, b_p = vocab.BUSINESS_TERMS
        c_terms, c_p = vocab.CONSUMER_TERMS
        term = np.where(
            business,
            rng.choice(np.array(b_terms), size=n, p=np.array(b_p)),
            rng.choice(np.array(c_terms), size=n, p=np.array(c_p)),
        )
        applied = pop.applied_at[person]
        table = col.table(
            LOAN_OUTCOMES,
            {
                "loan_id": col.prefixed_ids("L", np.arange(a, a + n) + 1, width),
                "person_id": world.person_ids.take(pa.array(person)),
                "applied_at": col.timestamps(applied),
                "amount": col.money((amount * 100).astype(np.int64)),
                "term_months": col.ints(term),
                "defaulted": col.bools(world.risk.defaulted[person]),
                "observed_at": col.timestamps(add_months_seconds(applied, 12)),
            },
        )
        yield table, a + n, len(borrowers)
