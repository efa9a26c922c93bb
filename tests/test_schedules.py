"""Schedule maths: exact per-period tables worked by hand, conventions, rounding, validation."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from creditgraph.servicing import (
    DayCount,
    Frequency,
    GraceType,
    Method,
    RoundingPolicy,
    ScheduleError,
    ScheduleRequest,
    ScheduleRow,
    TotalsConvention,
    generate_schedule,
    quote_totals,
)
from creditgraph.servicing.calendar import add_months, due_dates
from creditgraph.servicing.daycount import day_count_days
from creditgraph.servicing.schedules import STRATEGIES

D = Decimal
START = date(2024, 1, 15)


def request(**kw: Any) -> ScheduleRequest:
    base: dict[str, Any] = {
        "principal": D("10000"),
        "annual_rate": D("0.12"),
        "periods": 6,
        "method": Method.EQUAL_INSTALLMENT,
        "start": START,
    }
    base.update(kw)
    return ScheduleRequest(**base)


def table(**kw: Any) -> list[tuple[str, str, str, str]]:
    """(principal, interest, payment, closing) of each row, as strings so exponents count too."""
    rows = generate_schedule(request(**kw)).rows
    return [
        (str(r.principal), str(r.interest), str(r.payment), str(r.closing_principal)) for r in rows
    ]


# -- per-period tables ----------------------------------------------------------------------------


def test_equal_installment_table() -> None:
    # PMT = 10000 x 0.01 / (1 - 1.01^-6) = 1725.4837 -> 1725.48; interest = balance x 1%, half-up.
    assert table() == [
        ("1625.48", "100.00", "1725.48", "8374.52"),
        ("1641.73", "83.75", "1725.48", "6732.79"),
        ("1658.15", "67.33", "1725.48", "5074.64"),
        ("1674.73", "50.75", "1725.48", "3399.91"),
        ("1691.48", "34.00", "1725.48", "1708.43"),
        ("1708.43", "17.08", "1725.51", "0.00"),  # the last absorbs the 0.03 residue
    ]


def test_equal_principal_table() -> None:
    # 1000 / 3 = 333.33 (the last takes 333.34); interest 10.00, 6.6667 -> 6.67, 3.3334 -> 3.33.
    assert table(principal=D("1000"), periods=3, method=Method.EQUAL_PRINCIPAL) == [
        ("333.33", "10.00", "343.33", "666.67"),
        ("333.33", "6.67", "340.00", "333.34"),
        ("333.34", "3.33", "336.67", "0.00"),
    ]


def test_interest_first_table() -> None:
    assert table(principal=D("1000"), periods=3, method=Method.INTEREST_FIRST) == [
        ("0.00", "10.00", "10.00", "1000.00"),
        ("0.00", "10.00", "10.00", "1000.00"),
        ("1000.00", "10.00", "1010.00", "0.00"),
    ]


def test_bullet_is_one_payment_of_simple_interest() -> None:
    schedule = generate_schedule(request(principal=D("1000"), periods=3, method=Method.BULLET))
    assert [(r.n, r.due_date) for r in schedule.rows] == [(1, date(2024, 4, 15))]
    assert schedule.rows[0].interest == D("30.00")  # 1000 x 1% x 3, not compounded
    assert schedule.rows[0].payment == D("1030.00")


def test_bullet_by_days_accrues_the_whole_term() -> None:
    schedule = generate_schedule(
        request(principal=D("100000"), periods=2, method=Method.BULLET, day_count=DayCount.ACT_360)
    )
    # 15 Jan -> 15 Mar 2024 is 60 days: 100000 x 12% x 60/360.
    assert schedule.rows[0].interest == D("2000.00")


def test_interest_only_grace() -> None:
    rows = table(principal=D("1200"), periods=5, method=Method.EQUAL_PRINCIPAL, grace_periods=2)
    assert rows == [
        ("0.00", "12.00", "12.00", "1200.00"),
        ("0.00", "12.00", "12.00", "1200.00"),
        ("400.00", "12.00", "412.00", "800.00"),
        ("400.00", "8.00", "408.00", "400.00"),
        ("400.00", "4.00", "404.00", "0.00"),
    ]


def test_full_grace_defers_interest_to_the_first_instalment_after() -> None:
    rows = table(
        principal=D("1200"),
        periods=5,
        method=Method.EQUAL_PRINCIPAL,
        grace_periods=2,
        grace=GraceType.FULL,
    )
    assert rows == [
        ("0.00", "0.00", "0.00", "1200.00"),
        ("0.00", "0.00", "0.00", "1200.00"),
        ("400.00", "36.00", "436.00", "800.00"),  # 12 + 12 deferred, not compounded
        ("400.00", "8.00", "408.00", "400.00"),
        ("400.00", "4.00", "404.00", "0.00"),
    ]


def test_equal_installment_with_grace_amortises_over_the_rest() -> None:
    schedule = generate_schedule(request(periods=8, grace_periods=2))
    assert [r.principal for r in schedule.rows[:2]] == [D("0.00")] * 2
    assert [r.interest for r in schedule.rows[:2]] == [D("100.00")] * 2
    assert schedule.level_payment == D("1725.48")  # the 6-period annuity of the first table
    assert [r.payment for r in schedule.rows[2:]] == [
        r.payment for r in generate_schedule(request()).rows
    ]


def test_act360_by_actual_days_with_month_end_anchor() -> None:
    schedule = generate_schedule(
        request(
            principal=D("10000"),
            annual_rate=D("0.036"),
            periods=2,
            method=Method.EQUAL_PRINCIPAL,
            start=date(2024, 1, 31),
            day_count=DayCount.ACT_360,
        )
    )
    assert [r.due_date for r in schedule.rows] == [date(2024, 2, 29), date(2024, 3, 31)]
    # 29 days then 31 days at 3.6% / 360 a day.
    assert [r.interest for r in schedule.rows] == [D("29.00"), D("15.50")]


def test_act365_and_30360() -> None:
    common: dict[str, Any] = {
        "principal": D("36500"),
        "annual_rate": D("0.10"),
        "periods": 1,
        "method": Method.INTEREST_FIRST,
        "start": date(2024, 1, 31),
    }
    act365 = generate_schedule(request(**common, day_count=DayCount.ACT_365))
    assert act365.rows[0].interest == D("290.00")  # 29 days x 10.00 a day
    thirty = generate_schedule(request(**common, day_count=DayCount.THIRTY_360))
    # 30E/360: 31 Jan counts as the 30th, 29 Feb is day 29 -> 29 days.
    assert thirty.rows[0].interest == (D("36500") * D("0.10") * 29 / 360).quantize(D("0.01"))


def test_periodic_convention_ignores_calendar() -> None:
    feb = generate_schedule(request(method=Method.INTEREST_FIRST, start=date(2024, 1, 31)))
    assert {r.interest for r in feb.rows} == {D("100.00")}  # 1% a month whatever the month


def test_biweekly_and_weekly() -> None:
    biweekly = generate_schedule(
        request(
            principal=D("2600"),
            annual_rate=D("0.26"),
            periods=2,
            frequency="biweekly",
            method=Method.INTEREST_FIRST,
        )
    )
    assert [r.due_date for r in biweekly.rows] == [date(2024, 1, 29), date(2024, 2, 12)]
    assert biweekly.rows[0].interest == D("26.00")  # 2600 x 26% / 26
    weekly = generate_schedule(
        request(
            principal=D("5200"),
            annual_rate=D("0.52"),
            periods=3,
            frequency=Frequency.WEEKLY,
            method=Method.INTEREST_FIRST,
        )
    )
    assert [r.due_date for r in weekly.rows][-1] == date(2024, 2, 5)
    assert weekly.rows[0].interest == D("52.00")  # 5200 x 52% / 52


def test_first_instalment_on_start_date_is_an_annuity_due() -> None:
    schedule = generate_schedule(request(first_due=START))
    assert schedule.rows[0].due_date == START
    assert schedule.rows[0].interest == D("0.00")
    # 1725.4837 / 1.01 = 1708.3997 -> 1708.40
    assert schedule.level_payment == D("1708.40")
    assert schedule.rows[-1].closing_principal == 0


def test_broken_first_period_by_days() -> None:
    schedule = generate_schedule(
        request(
            method=Method.INTEREST_FIRST,
            annual_rate=D("0.0365"),
            principal=D("100000"),
            periods=2,
            first_due=date(2024, 2, 25),
            day_count=DayCount.ACT_365,
        )
    )
    assert [r.due_date for r in schedule.rows] == [date(2024, 2, 25), date(2024, 3, 25)]
    assert [r.interest for r in schedule.rows] == [D("410.00"), D("290.00")]  # 41 and 29 days


# -- rounding -----------------------------------------------------------------------------------


def test_half_fen_interest_is_rounded_exactly() -> None:
    # 180.00 x 4.9% / 12 = 0.735 exactly: half-up gives 0.74. Through a 28-digit 0.049/12 it
    # would be 0.7349999... and round to 0.73; the engine divides once, so it cannot.
    schedule = generate_schedule(
        request(principal=D("180"), annual_rate=D("0.049"), periods=1, method=Method.BULLET)
    )
    assert schedule.rows[0].interest == D("0.74")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(ROUND_HALF_UP, "0.25"), (ROUND_HALF_EVEN, "0.24"), (ROUND_DOWN, "0.24")],
)
def test_rounding_mode_is_explicit(mode: str, expected: str) -> None:
    # 60.00 x 4.9% / 12 = 0.245 exactly.
    schedule = generate_schedule(
        request(
            principal=D("60"),
            annual_rate=D("0.049"),
            periods=1,
            method=Method.INTEREST_FIRST,
            rounding=RoundingPolicy(mode=mode),
        )
    )
    assert schedule.rows[0].interest == D(expected)


def test_whole_yuan_rounding() -> None:
    schedule = generate_schedule(
        request(principal=D("10000"), rounding=RoundingPolicy(unit=D("1")))
    )
    assert schedule.level_payment == D("1725")
    assert all(r.interest == r.interest.quantize(D(1)) for r in schedule.rows)
    assert str(schedule.rows[0].interest) == "100"
    assert schedule.rows[-1].closing_principal == 0


def test_exact_policy_keeps_fractions() -> None:
    schedule = generate_schedule(request(rounding=RoundingPolicy.exact()))
    assert schedule.level_payment is not None
    assert schedule.level_payment.quantize(D("0.0001")) == D("1725.4837")
    assert abs(schedule.rows[-1].closing_principal) < D("1e-20")


def test_zero_rate() -> None:
    schedule = generate_schedule(request(annual_rate=D("0"), principal=D("100"), periods=3))
    assert [r.payment for r in schedule.rows] == [D("33.33"), D("33.33"), D("33.34")]
    assert schedule.totals.interest == 0


def test_fees() -> None:
    schedule = generate_schedule(
        request(fee_per_period=D("5"), upfront_fee=D("200"), method=Method.EQUAL_PRINCIPAL)
    )
    assert {r.fee for r in schedule.rows} == {D("5")}
    assert all(r.payment == r.principal + r.interest + r.fee for r in schedule.rows)
    assert schedule.totals.fee == D("30")
    assert schedule.net_disbursement == D("9800")
    assert schedule.total_cost == schedule.totals.interest + D("230")
    flows = schedule.cash_flows()
    assert flows[0] == (START, D("9800"))
    assert flows[1] == (schedule.rows[0].due_date, -schedule.rows[0].payment)
    bullet = generate_schedule(request(fee_per_period=D("5"), method=Method.BULLET))
    assert bullet.rows[0].fee == D("30")  # six periods of fee in the one payment


def test_totals_tie_to_rows() -> None:
    schedule = generate_schedule(request(periods=36, annual_rate=D("0.0435"), fee_per_period=D(1)))
    rows = schedule.rows
    assert schedule.totals.principal == sum(r.principal for r in rows) == D("10000")
    assert schedule.totals.interest == sum(r.interest for r in rows)
    assert schedule.totals.fee == sum(r.fee for r in rows)
    assert schedule.totals.payment == sum(r.payment for r in rows)


def test_quote_conventions() -> None:
    r = request(principal=D("1000000"), annual_rate=D("0.049"), periods=240)
    assert quote_totals(r, TotalsConvention.PAYMENT_TIMES_N).interest == D("570665.60")
    assert quote_totals(r, TotalsConvention.EXACT).interest == D("570665.72")
    assert quote_totals(r).interest == generate_schedule(r).totals.interest == D("570665.67")
    with pytest.raises(ScheduleError, match="equal_installment"):
        quote_totals(request(method=Method.EQUAL_PRINCIPAL), TotalsConvention.PAYMENT_TIMES_N)


def test_fixed_instalment() -> None:
    schedule = generate_schedule(request(instalment=D("2000")))
    assert [r.payment for r in schedule.rows[:3]] == [D("2000.00")] * 3
    assert schedule.rows[-1].closing_principal == 0
    with pytest.raises(ScheduleError, match="does not cover the interest"):
        generate_schedule(request(instalment=D("50")))
    with pytest.raises(ScheduleError, match="repays the loan by period"):
        generate_schedule(request(instalment=D("5000")))


def test_as_dict_has_string_amounts() -> None:
    data = generate_schedule(request()).as_dict()
    assert data["rows"][0]["payment"] == "1725.48"
    assert data["rows"][0]["due_date"] == "2024-02-15"
    assert data["totals"]["principal"] == "10000.00"
    assert data["level_payment"] == "1725.48"


def test_strategies_are_named_per_method() -> None:
    assert set(STRATEGIES) == set(Method)
    assert all(strategy.method is method for method, strategy in STRATEGIES.items())


# -- calendar and day counts ----------------------------------------------------------------------


def test_monthly_dates_clamp_without_drifting() -> None:
    assert due_dates(date(2024, 1, 31), Frequency.MONTHLY, 4) == (
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    )
    assert add_months(date(2023, 12, 31), 2) == date(2024, 2, 29)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)


def test_30e_360_days() -> None:
    assert day_count_days(DayCount.THIRTY_360, date(2024, 1, 15), date(2024, 2, 15)) == 30
    assert day_count_days(DayCount.THIRTY_360, date(2024, 1, 31), date(2024, 2, 29)) == 29
    assert day_count_days(DayCount.THIRTY_360, date(2024, 3, 31), date(2024, 4, 30)) == 30
    assert day_count_days(DayCount.ACT_360, date(2024, 1, 31), date(2024, 2, 29)) == 29
    with pytest.raises(ValueError, match="periods, not days"):
        day_count_days(DayCount.PERIODIC, date(2024, 1, 1), date(2024, 2, 1))


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"principal": D("0")}, "principal must be positive"),
        ({"principal": D("-5")}, "principal must be positive"),
        ({"principal": D("100.005")}, "more than 2 decimals"),
        ({"principal": 100.5}, "not float"),
        ({"principal": D("NaN")}, "finite"),
        ({"annual_rate": D("-0.01")}, "must not be negative"),
        ({"annual_rate": D("49")}, "give it as a fraction"),
        ({"annual_rate": D("0.0000000000001")}, "more than 12 decimals"),
        ({"periods": 0}, "periods must be between 1"),
        ({"periods": 2.5}, "periods must be an integer"),
        ({"method": "balloon"}, "unknown method 'balloon'; expected one of equal_installment"),
        ({"frequency": "daily"}, "unknown frequency"),
        ({"day_count": "act/360"}, "unknown day count"),
        ({"start": "2024-01-01"}, "start must be a date"),
        ({"first_due": date(2024, 1, 1)}, "before the start"),
        ({"first_due": date(2024, 3, 1)}, "periodic convention counts whole periods"),
        ({"first_due": date(2024, 2, 1)}, "short first period"),
        ({"first_due": START, "periods": 1}, "only instalment cannot fall due"),
        ({"grace_periods": 6}, "fewer than periods"),
        ({"grace_periods": -1}, "non-negative"),
        ({"grace_periods": 1, "method": Method.BULLET}, "grace does not apply"),
        ({"fee_per_period": D("-1")}, "must not be negative"),
        ({"upfront_fee": D("10000")}, "less than the principal"),
        ({"instalment": D("100"), "method": Method.BULLET}, "equal_installment only"),
        ({"rounding": RoundingPolicy(unit=D("1")), "principal": D("100.50")}, "multiple of"),
    ],
)
def test_validation_messages(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        request(**change)


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"unit": D("0.05")}, "rounding unit must be one of"),
        ({"mode": "ROUND_NEAREST"}, "rounding mode must be one of"),
        ({"fit": "best"}, "instalment fit"),
        ({"unit": D("1"), "payment_unit": D("0.01")}, "multiple of"),
    ],
)
def test_rounding_policy_validation(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        RoundingPolicy(**policy)


def test_rounding_up_that_would_repay_early_falls_back() -> None:
    # 1.00 over 60 periods: 0.0167 rounds up to 0.02, and 59 x 0.02 > 1.00.
    parts = generate_schedule(
        request(principal=D("1.00"), periods=60, method=Method.EQUAL_PRINCIPAL)
    ).rows
    assert {r.principal for r in parts[:-1]} == {D("0.01")}  # rounded down instead
    assert parts[-1].principal == D("0.41")
    level = generate_schedule(request(principal=D("1.00"), periods=60, annual_rate=D("0")))
    assert level.level_payment == D("0.01")
    # A long, dear loan: the rounded PMT 19.30 would repay by period 313 of 314.
    long = generate_schedule(request(principal=D(1000), annual_rate=D("0.231"), periods=314))
    assert long.level_payment == D("19.29")
    assert long.rows[-1].principal > 0
    with pytest.raises(ScheduleError, match="too small to repay in 60 parts"):
        generate_schedule(request(principal=D("0.50"), periods=60, method=Method.EQUAL_PRINCIPAL))


def test_a_period_dearer_than_the_instalment_pays_its_interest() -> None:
    # At ACT/360, 36% over 30 years: January's 31 days cost more than the level instalment, which
    # is set for the calendar's average month. That period pays interest only; nothing negative.
    schedule = generate_schedule(
        request(annual_rate=D("0.36"), periods=360, day_count=DayCount.ACT_360, principal=D("1e6"))
    )
    first = schedule.rows[0]
    assert schedule.level_payment is not None
    assert first.interest > schedule.level_payment
    assert first.principal == 0 and first.payment == first.interest
    assert schedule.rows[-1].closing_principal == 0
    assert all(r.principal >= 0 for r in schedule.rows)
    with pytest.raises(ScheduleError, match="does not cover the interest"):
        generate_schedule(request(instalment=D("30000"), **_dear()))


def _dear() -> dict[str, Any]:
    return {
        "annual_rate": D("0.36"),
        "periods": 360,
        "day_count": DayCount.ACT_360,
        "principal": D("1e6"),
    }


def test_dated_level_instalment_repays_under_the_calendar() -> None:
    # A 45-day broken first period at ACT/365: the instalment is the annuity over the actual
    # periods, so the last instalment stays close to the others.
    schedule = generate_schedule(
        request(
            principal=D("100000"),
            annual_rate=D("0.24"),
            periods=36,
            day_count=DayCount.ACT_365,
            first_due=date(2024, 2, 29),
        )
    )
    assert schedule.level_payment is not None
    assert abs(schedule.rows[-1].payment - schedule.level_payment) < D("0.50")


def test_engine_rows_are_ordinary_frozen_rows() -> None:
    row = generate_schedule(request()).rows[0]
    twin = ScheduleRow(
        row.n,
        row.due_date,
        row.opening_principal,
        row.principal,
        row.interest,
        row.fee,
        row.payment,
        row.closing_principal,
    )
    assert row == twin and hash(row) == hash(twin) and repr(row) == repr(twin)
    with pytest.raises(FrozenInstanceError):
        row.payment = D(0)  # type: ignore[misc]
