"""Delinquency rules: days past due, buckets, penalty interest and daily accrual, to the fen."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.servicing import DayCount, Method, ScheduleRequest, generate_schedule
from creditgraph.servicing.delinquency import (
    Bucket,
    DelinquencyRules,
    InstalmentArrays,
    accrual_days,
    accrued_to,
    accrued_to_array,
    assess_day,
    bucket,
    bucket_index,
    daily_accrual,
    daily_basis,
    daily_penalty,
    daily_penalty_fen,
    days_past_due,
    penalty_rate,
)

SETTINGS = settings(max_examples=200, deadline=None)


def test_days_past_due_counts_from_the_day_after_the_due_date() -> None:
    due = date(2026, 3, 15)
    assert days_past_due(None, date(2026, 3, 20)) == 0
    assert days_past_due(due, date(2026, 3, 14)) == 0
    assert days_past_due(due, due) == 0  # payable all through its due date
    assert days_past_due(due, date(2026, 3, 16)) == 1
    assert days_past_due(due, date(2026, 4, 14)) == 30
    assert days_past_due(due, date(2026, 6, 13)) == 90


@pytest.mark.parametrize(
    ("dpd", "expected"),
    [
        (0, Bucket.M0),
        (1, Bucket.M1),
        (30, Bucket.M1),
        (31, Bucket.M2),
        (60, Bucket.M2),
        (61, Bucket.M3),
        (90, Bucket.M3),
        (91, Bucket.M3_PLUS),
        (720, Bucket.M3_PLUS),
    ],
)
def test_bucket_edges(dpd: int, expected: Bucket) -> None:
    assert bucket(dpd) is expected
    assert bucket_index(np.asarray([dpd], dtype=np.int64))[0] == list(Bucket).index(expected)


def test_bucket_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="negative"):
        bucket(-1)


def test_bucket_names_are_the_reporting_codes() -> None:
    assert [b.value for b in Bucket] == ["M0", "M1", "M2", "M3", "M3+"]


def test_penalty_rate_is_one_and_a_half_times_the_contract_rate_by_default() -> None:
    assert penalty_rate(Decimal("0.12")) == Decimal("0.18")
    assert penalty_rate(Decimal("0.12"), Decimal("2")) == Decimal("0.24")


def test_daily_penalty_hand_checked() -> None:
    # 10,000.00 overdue at 1.5 x 12% = 18% a year, / 360 days: 5.00 exactly.
    assert daily_penalty(Decimal("10000.00"), Decimal("0.18")) == Decimal("5.00")
    # 12,345.67 at 1.5 x 4.35% = 6.525%: 805.5549675 a year; / 360 = 2.23765... -> 2.24;
    # / 365 = 2.20699... -> 2.21.
    rate = penalty_rate(Decimal("0.0435"))
    assert daily_penalty(Decimal("12345.67"), rate, DayCount.ACT_360) == Decimal("2.24")
    assert daily_penalty(Decimal("12345.67"), rate, DayCount.ACT_365) == Decimal("2.21")
    # Periodic loans accrue penalty at the bank daily rate (annual / 360).
    assert daily_penalty(Decimal("12345.67"), rate, DayCount.PERIODIC) == Decimal("2.24")
    # Half a fen rounds up: 1.00 x 180% / 360 = 0.005.
    assert daily_penalty(Decimal("1.00"), Decimal("1.8")) == Decimal("0.01")
    assert daily_penalty(Decimal("0.00"), Decimal("0.18")) == Decimal("0.00")


def test_thirty_days_of_penalty_on_one_missed_instalment() -> None:
    # 3,000.00 principal overdue for 30 days at 1.5 x 14.6% = 21.9% ACT/365: 1.80 a day, 54.00.
    rate = penalty_rate(Decimal("0.146"))
    days = [daily_penalty(Decimal("3000.00"), rate, DayCount.ACT_365) for _ in range(30)]
    assert days[0] == Decimal("1.80")
    assert sum(days) == Decimal("54.00")


def test_daily_basis() -> None:
    assert daily_basis(DayCount.ACT_365) == 365
    assert daily_basis("act360") == 360
    assert daily_basis(DayCount.THIRTY_360) == 360
    assert daily_basis(DayCount.PERIODIC) == 360


@given(
    principal=st.integers(min_value=0, max_value=10**12),
    rate_bp=st.integers(min_value=0, max_value=99_999),
    basis=st.sampled_from([360, 365]),
)
@SETTINGS
def test_vectorised_penalty_equals_the_exact_rounding(
    principal: int, rate_bp: int, basis: int
) -> None:
    rate = Decimal(rate_bp).scaleb(-4) * Decimal("1.5")
    fen = daily_penalty_fen(
        np.asarray([principal], dtype=np.int64), [rate], np.asarray([basis], dtype=np.int64)
    )
    exact = Decimal(principal) * rate / basis
    expected = int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    assert int(fen[0]) == expected


def test_vectorised_penalty_falls_back_to_exact_integers_on_overflow() -> None:
    principal = np.asarray([10**14, 5], dtype=np.int64)
    rates = [Decimal("0.123456789012"), Decimal("0.18")]
    fen = daily_penalty_fen(principal, rates, np.asarray([360, 360], dtype=np.int64))
    assert int(fen[0]) == int(
        (Decimal(10**14) * rates[0] / 360).quantize(Decimal(1), rounding="ROUND_HALF_UP")
    )
    assert int(fen[1]) == 0


def test_rules_are_validated() -> None:
    assert DelinquencyRules().write_off_dpd == 180
    with pytest.raises(ValueError, match="npa_dpd"):
        DelinquencyRules(npa_dpd=200, write_off_dpd=180)
    with pytest.raises(ValueError, match="multiplier"):
        DelinquencyRules(penalty_multiplier=Decimal("-1"))


def test_accrual_is_pro_rata_with_the_remainder_on_the_due_date() -> None:
    # 100.00 over a 30-day period: 3.33 a day in the cumulative floor, the due date tops it up.
    start, due = date(2026, 1, 15), date(2026, 2, 14)
    days = accrual_days(Decimal("100.00"), start, due)
    assert len(days) == 30 and days[0][0] == start + timedelta(days=1) and days[-1][0] == due
    assert sum(amount for _, amount in days) == Decimal("100.00")
    assert daily_accrual(Decimal("100.00"), start, due, start) == Decimal("0.00")
    assert daily_accrual(Decimal("100.00"), start, due, due + timedelta(days=1)) == Decimal("0.00")
    assert accrued_to(10_000, 30, 29) == 9_666 and accrued_to(10_000, 30, 30) == 10_000


periods = st.integers(min_value=1, max_value=400)
interest = st.integers(min_value=0, max_value=10**10).map(lambda fen: Decimal(fen).scaleb(-2))


@given(
    interest=interest,
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31)),
    span=periods,
)
@SETTINGS
def test_daily_accruals_sum_to_the_scheduled_interest(
    interest: Decimal, start: date, span: int
) -> None:
    days = accrual_days(interest, start, start + timedelta(days=span))
    amounts = [amount for _, amount in days]
    assert sum(amounts) == interest
    assert all(amount >= 0 for amount in amounts)
    # Vectorised and scalar agree on every day.
    elapsed = np.arange(0, span + 2, dtype=np.int64)
    fen = int(interest.scaleb(2))
    cumulative = accrued_to_array(
        np.full(elapsed.size, fen, dtype=np.int64),
        np.full(elapsed.size, span, dtype=np.int64),
        elapsed,
    )
    assert [int(c) for c in cumulative] == [accrued_to(fen, span, int(k)) for k in elapsed]


@given(
    principal=st.integers(min_value=1_000, max_value=500_000).map(Decimal),
    rate_bp=st.integers(min_value=0, max_value=3600),
    term=st.integers(min_value=1, max_value=36),
    method=st.sampled_from(list(Method)),
    day_count=st.sampled_from(list(DayCount)),
)
@settings(max_examples=60, deadline=None)
def test_accruing_a_whole_schedule_day_by_day_earns_its_interest(
    principal: Decimal, rate_bp: int, term: int, method: Method, day_count: DayCount
) -> None:
    schedule = generate_schedule(
        ScheduleRequest(
            principal=principal,
            annual_rate=Decimal(rate_bp).scaleb(-4),
            periods=term,
            method=method,
            start=date(2026, 1, 31),
            day_count=day_count,
        )
    )
    starts = [schedule.request.start, *(row.due_date for row in schedule.rows[:-1])]
    accrued = sum(
        (
            amount
            for row, start in zip(schedule.rows, starts, strict=True)
            for _, amount in accrual_days(row.interest, start, row.due_date)
        ),
        Decimal(0),
    )
    assert accrued == schedule.totals.interest


def test_assess_day_over_a_small_book() -> None:
    """Three loans on day 100: one current, one 10 days late on principal, one late on penalty only."""

    def ints(*values: int) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    rows = InstalmentArrays(
        loan=ints(0, 1, 1, 2),
        period_start=ints(90, 60, 90, 60),
        due_date=ints(120, 90, 120, 90),
        principal_due=ints(1000, 1000, 1000, 1000),
        principal_paid=ints(0, 400, 0, 1000),
        interest_due=ints(300, 300, 300, 300),
        interest_paid=ints(0, 300, 0, 300),
        interest_accrued=ints(50, 300, 0, 300),
        fee_due=ints(0, 0, 0, 0),
        fee_paid=ints(0, 0, 0, 0),
        penalty_accrued=ints(0, 0, 0, 7),
        penalty_paid=ints(0, 0, 0, 0),
    )
    result = assess_day(100, 3, rows)
    assert result.dpd.tolist() == [0, 10, 10]
    assert result.oldest_overdue.tolist() == [-1, 90, 90]
    assert result.accrual.tolist() == [50, 0, 100, 0]  # 10 of 30 days: 100; row 0 had 50 already
    assert result.overdue_principal.tolist() == [0, 600, 0, 0]
