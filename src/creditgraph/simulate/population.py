"""Who lives in the world: attributes of every person, drawn as whole-population arrays.

Indices ``0 .. n_normal-1`` are ordinary people and ``n_normal .. n-1`` fraud-ring members (ring by
ring). External identifiers are a random permutation of the index, so neither ids nor file order
reveal who is in a ring.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from creditgraph.contracts.schema import SEGMENTS
from creditgraph.simulate import vocab
from creditgraph.simulate.clock import DAY, YEAR, Timeline, epoch
from creditgraph.simulate.config import SimulationConfig
from creditgraph.simulate.fraud import RingPlan
from creditgraph.simulate.population_model import Population

OCCUPATION_LIST: tuple[str, ...] = (
    *(occ for seg in SEGMENTS for occ in vocab.OCCUPATIONS[seg]),
    vocab.MINOR_OCCUPATION,
)
_OCC_OFFSET = np.cumsum([0] + [len(vocab.OCCUPATIONS[s]) for s in SEGMENTS])
_OCC_COUNT = np.array([len(vocab.OCCUPATIONS[s]) for s in SEGMENTS])
GIVEN_NAMES: tuple[str, ...] = (
    *(s.capitalize() for s in vocab.GIVEN_SYLLABLES),
    *(a.capitalize() + b for a in vocab.GIVEN_SYLLABLES for b in vocab.GIVEN_SYLLABLES),
)
EARLIEST_REGISTRATION = epoch(vocab.SPRING_FESTIVAL[0])  # the lender opened in early 2015


def _categorical(rng: np.random.Generator, cum: NDArray[np.float64]) -> NDArray[np.int64]:
    """One categorical draw per row of a (rows, k) cumulative-probability matrix."""
    rows, k = cum.shape
    u = rng.random(size=int(rows))
    return np.asarray(np.minimum((u[:, None] >= cum).sum(axis=1), k - 1), dtype=np.int64)


def _cum_rows(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = p / p.sum(axis=1, keepdims=True)
    return np.cumsum(p, axis=1)


def _round_income(rng: np.random.Generator, yuan: NDArray[np.float64]) -> NDArray[np.int64]:
    """Declared incomes are mostly round numbers; a few carry cents."""
    u = rng.random(len(yuan))
    fen = np.round(yuan * 100).astype(np.int64)
    hundred = np.round(yuan / 100).astype(np.int64) * 10_000
    whole = np.round(yuan).astype(np.int64) * 100
    return np.where(u < 0.7, hundred, np.where(u < 0.9, whole, fen))


def draw_population(
    config: SimulationConfig, timeline: Timeline, rings: RingPlan, rng: np.random.Generator
) -> Population:
    """Draw everyone's attributes, then overwrite what is different about fraud-ring members."""
    n = config.people
    n_fraud = rings.members
    n_normal = n - n_fraud
    ref_year = timeline.end_date.year

    region = rng.choice(len(vocab.REGION_SHARES), size=n, p=np.array(vocab.REGION_SHARES))
    seg_cum = _cum_rows(np.array(vocab.SEGMENT_BY_REGION, dtype=np.float64))
    segment = _categorical(rng, seg_cum[region])

    age_tab = np.array(vocab.AGE, dtype=np.float64)
    mean, sd, lo, hi = (age_tab[segment, k] for k in range(4))
    age = np.clip(np.round(rng.normal(mean, sd)), lo, hi).astype(np.int64)
    young_segment = (segment == SEGMENTS.index("student")) | (segment == SEGMENTS.index("other"))
    minor = young_segment & (rng.random(n) < vocab.MINOR_SHARE / max(young_segment.mean(), 1e-9))
    age = np.where(minor, rng.integers(16, 18, n), age)
    birth_year = ref_year - age - (rng.random(n) < 0.5)

    male = rng.random(n) < np.array(vocab.MALE_SHARE)[segment]
    g = rng.random(n)
    gender = np.where(male, 1, 0)
    gender = np.where(g < 0.002, 2, np.where(g < 0.017, 3, gender))
    gender = np.where(g > 0.99, -1, gender)

    occ_pick = np.floor(rng.random(n) * _OCC_COUNT[segment]).astype(np.int64)
    occupation = _OCC_OFFSET[segment] + occ_pick
    occupation = np.where(minor, len(OCCUPATION_LIST) - 1, occupation)

    age_factor = 0.75 + 0.25 * np.exp(-(((age - 40) / 15.0) ** 2))
    median = (
        np.array(vocab.INCOME_MEDIAN)[segment]
        * np.array(vocab.REGION_INCOME_FACTOR)[region]
        * age_factor
    )
    yuan = median * np.exp(rng.normal(0.0, np.array(vocab.INCOME_SIGMA)[segment]))
    no_income = (rng.random(n) < 0.05) & np.isin(
        segment, [SEGMENTS.index("student"), SEGMENTS.index("other")]
    )
    yuan = np.where(no_income | minor, 0.0, yuan)
    income_fen = _round_income(rng, yuan)

    engagement = np.exp(rng.normal(-0.125, 0.5, n))
    engagement *= np.where(segment == SEGMENTS.index("student"), 1.3, 1.0)
    engagement *= np.where(segment == SEGMENTS.index("farmer"), 0.7, 1.0)
    engagement *= np.where(age > 50, 0.7, 1.0)

    uses = np.zeros((n, len(vocab.SOURCES)), dtype=bool)
    young = age < 35
    for k, source in enumerate(vocab.SOURCES):
        p = vocab.SOURCE_USE[source]
        if p < 1.0:
            p_i = np.where(young, min(1.0, p * 1.4), p * 0.7)
            uses[:, k] = rng.random(n) < p_i
        else:
            uses[:, k] = True

    borrower = rng.random(n) < config.borrower_share
    span = timeline.cohort_end - timeline.cohort_start - DAY
    applied_day = timeline.cohort_start + (rng.random(n) * span // DAY).astype(np.int64) * DAY
    applied_at = np.where(borrower, applied_day + rng.integers(0, 14 * 3600, n), -1)

    h0 = timeline.history_start
    before = h0 - (rng.exponential(1.5 * YEAR, n)).astype(np.int64) - DAY
    before = np.maximum(before, EARLIEST_REGISTRATION + rng.integers(0, 30 * DAY, n))
    late_b = h0 + (rng.random(n) * np.maximum(applied_at - 3 * DAY - h0, DAY)).astype(np.int64)
    late_n = h0 + (rng.random(n) * (timeline.world_end - 2 * DAY - h0)).astype(np.int64)
    u = rng.random(n)
    registered_at = np.where(
        borrower, np.where(u < 0.85, before, late_b), np.where(u < 0.8, before, late_n)
    )
    data_start = registered_at + rng.integers(600, DAY, n)

    surname_w = 1.0 / np.arange(1, len(vocab.SURNAMES) + 1) ** 0.8
    surname = rng.choice(len(vocab.SURNAMES), size=n, p=surname_w / surname_w.sum())
    n_single = len(vocab.GIVEN_SYLLABLES)
    given = np.where(
        rng.random(n) < 0.35,
        rng.integers(0, n_single, n),
        n_single + rng.integers(0, n_single * n_single, n),
    )
    has_name = rng.random(n) > 0.08

    second = rng.choice(
        np.array(vocab.PHONE_SECOND_DIGIT[0]), size=n, p=np.array(vocab.PHONE_SECOND_DIGIT[1])
    )
    # an affine bijection of the index keeps every number unique without a lookup
    mult, shift = 387_420_489, int(rng.integers(0, 10**9))
    suffix = (np.arange(n, dtype=np.int64) * mult + shift) % 10**9
    phone = 10_000_000_000 + second.astype(np.int64) * 1_000_000_000 + suffix
    phone = np.where(rng.random(n) < 0.05, -1, phone)

    ring = np.full(n, -1, dtype=np.int64)
    pop = Population(
        n=n,
        n_normal=n_normal,
        id_number=rng.permutation(n).astype(np.int64) + 1,
        region=region.astype(np.int64),
        segment=segment,
        birth_year=birth_year.astype(np.int64),
        gender=gender.astype(np.int64),
        occupation=occupation,
        income_fen=income_fen,
        engagement=engagement,
        uses=uses,
        borrower=borrower,
        applied_at=applied_at.astype(np.int64),
        registered_at=registered_at.astype(np.int64),
        data_start=data_start.astype(np.int64),
        ring=ring,
        surname=surname.astype(np.int64),
        given=given.astype(np.int64),
        has_name=has_name,
        phone=phone.astype(np.int64),
        ref_year=ref_year,
    )
    rings.apply(pop, timeline, rng)
    members = np.arange(n_normal, n)
    seg_m = pop.segment[members]
    pop.occupation[members] = _OCC_OFFSET[seg_m] + np.floor(
        rng.random(len(members)) * _OCC_COUNT[seg_m]
    ).astype(np.int64)
    return pop
