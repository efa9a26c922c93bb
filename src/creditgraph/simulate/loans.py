"""Loans elsewhere (multi-lending, overdue history) and the lender's own historical loan outcomes.

Risky people borrow on more platforms, often around the time they apply to us, and fall overdue
elsewhere more often. Each loan elsewhere is reported as its status changes (opened, 30 days past
due, repaid, written off), each report with its date, so an as-of feature sees the loans and
arrears a lender could have known then, not the loan's final state.
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
)
from creditgraph.simulate import columns as col
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY, YEAR
from creditgraph.simulate.world import Chunk, World

_LENDERS = pa.array(vocab.LENDERS, type=pa.string())
_STATUSES = pa.array(EXTERNAL_LOAN_STATUSES, type=pa.string())
OPEN, REPAID, OVERDUE, WRITTEN_OFF = (
    EXTERNAL_LOAN_STATUSES.index(s) for s in ("open", "repaid", "overdue", "written_off")
)
LOOKBACK = 2 * YEAR  # loans elsewhere begin this long before the simulated history
RATE_PER_YEAR = 0.15  # loans a year on other platforms at average creditworthiness
CURED, WRITTEN_OFF_SHARE = 0.25, 0.45  # fates of a loan in arrears; the rest stay overdue
REPORT_MISSING = 0.1  # reports without a date (the ingest dates them)


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _external_chunk(world: World, people: NDArray[np.int64], rng: np.random.Generator) -> pa.Table:
    pop, tl, latent = world.pop, world.timeline, world.risk.latent
    end = tl.world_end
    start = tl.history_start - LOOKBACK
    fraud = pop.ring[people] >= 0
    lat = latent[people]
    history = rng.poisson(RATE_PER_YEAR * (end - start) / YEAR * np.exp(-0.35 * lat))
    around = rng.poisson(np.where(pop.borrower[people], 0.5 * np.maximum(-lat, 0.0), 0.0))
    around = np.where(fraud, rng.integers(2, 7, len(people)), around)
    history = np.where(fraud, 0, history)
    k = history + around
    who = np.repeat(np.arange(len(people)), k)
    person = people[who]
    near = np.arange(len(who)) - np.repeat(np.cumsum(k) - k, k) >= np.repeat(history, k)
    n = len(person)

    opened_any = start + (rng.random(n) * (end - DAY - start)).astype(np.int64)
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
    # a bad loan misses one of its monthly instalments; then it is cured, written off at 180+ days
    # past due, or still in arrears at the world's end
    missed = opened + (1 + (rng.random(n) * term).astype(np.int64)) * 30 * DAY
    fate = rng.random(n)
    cured = bad & (fate < CURED)
    written = bad & ~cured & (fate < CURED + WRITTEN_OFF_SHARE)
    arrears = bad & ~cured & ~written
    lag = rng.integers(0, 10 * DAY, (4, n))

    # every status is reported when it was reached: the loan as soon as it opens, arrears at 30 days
    # past due, repayment at maturity (or after a cure), write-off at 180+ days past due
    late = np.where(rng.random(n) < 0.15, rng.integers(1, 30, n), 0)
    first_dpd = rng.integers(30, 45, n)
    cure_dpd = rng.integers(45, 90, n)
    written_dpd = 180 + rng.integers(0, 180, n)
    worst_at = missed + 60 * DAY + (rng.random(n) * np.maximum(end - missed - 60 * DAY, 0))
    worst_at = worst_at.astype(np.int64)
    reports = (
        (np.ones(n, dtype=bool), OPEN, np.zeros(n, np.int64), opened + lag[0] // 2),
        (~bad, REPAID, late, due + late * DAY + lag[1]),
        (bad, OVERDUE, first_dpd, missed + first_dpd * DAY + lag[1]),
        (cured, REPAID, cure_dpd, np.maximum(due, missed + cure_dpd * DAY) + lag[2]),
        (written, WRITTEN_OFF, written_dpd, missed + written_dpd * DAY + lag[2]),
        (arrears, OVERDUE, (worst_at - missed) // DAY, worst_at + lag[3]),
    )
    # a loan's two arrears reports differ in days past due (30-44, then 60+), so rows stay distinct
    parts: list[tuple[NDArray[np.int64], ...]] = []
    for which, code, days, at in reports:
        i = np.flatnonzero(which & (at < end))
        parts.append((i, np.full(len(i), code, np.int64), days[i].astype(np.int64), at[i]))
    idx, status, dpd, reported = (np.concatenate(x) for x in zip(*parts, strict=True))
    known = rng.random(len(idx)) > REPORT_MISSING
    lender = rng.integers(0, len(vocab.LENDERS), n)
    order = np.lexsort((status, reported, opened[idx], who[idx]))
    idx, status, dpd, reported = (x[order] for x in (idx, status, dpd, reported))
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


def loan_outcomes(world: World, chunk_rows: int) -> Iterator[Chunk]:
    """One historical loan per borrower, numbered in order of application, each with the date its
    outcome became known (see ``book.py``)."""
    book = world.book
    width = max(8, len(str(book.loans)))
    for a in range(0, book.loans, chunk_rows):
        s = slice(a, a + chunk_rows)
        n = len(book.person[s])
        table = col.table(
            LOAN_OUTCOMES,
            {
                "loan_id": col.prefixed_ids("L", np.arange(a, a + n) + 1, width),
                "person_id": world.person_ids.take(pa.array(book.person[s])),
                "applied_at": col.timestamps(book.applied_at[s]),
                "amount": col.money(book.amount_fen[s]),
                "term_months": col.ints(book.term_months[s]),
                "defaulted": col.bools(book.defaulted[s]),
                "observed_at": col.timestamps(book.observed_at[s]),
            },
        )
        yield table, a + n, book.loans
