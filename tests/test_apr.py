"""The all-in annualised rate: the IRR of the borrower's actual cash flows, annualised."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.servicing import (
    AllInRateError,
    Method,
    RateBasis,
    ScheduleRequest,
    all_in_rate,
    all_in_rate_dated,
    generate_schedule,
    schedule_all_in_rate,
)

D = Decimal


def loan(**kw: object) -> ScheduleRequest:
    base: dict[str, object] = {
        "principal": D("100000"),
        "annual_rate": D("0.12"),
        "periods": 12,
        "method": Method.EQUAL_INSTALLMENT,
        "start": date(2024, 1, 1),
    }
    base.update(kw)
    return ScheduleRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("principal", "rate", "periods"),
    [
        ("1000000", "0.049", 240),
        ("930000", "0.049", 360),
        ("100000", "0.12", 12),
        ("50000", "0.1825", 36),
        ("200000", "0.0435", 60),
    ],
)
def test_no_fees_means_the_contract_rate(principal: str, rate: str, periods: int) -> None:
    schedule = generate_schedule(loan(principal=D(principal), annual_rate=D(rate), periods=periods))
    assert schedule_all_in_rate(schedule) == D(rate).quantize(D("1e-6"))


def test_fees_raise_the_rate() -> None:
    plain = schedule_all_in_rate(generate_schedule(loan()))
    upfront = schedule_all_in_rate(generate_schedule(loan(upfront_fee=D("2000"))))
    monthly = schedule_all_in_rate(generate_schedule(loan(fee_per_period=D("100"))))
    assert plain == D("0.120000")
    assert upfront > plain
    assert monthly > plain
    # 2% taken at disbursement on a one-year amortising loan costs almost 3.9 points a year.
    assert upfront == D("0.158545")


def test_flat_rate_example() -> None:
    # calcota.click's worked example: 10,000 at a flat 10% a year over 36 months is ~17.9% APR.
    flows = [D(10000)] + [D("-361.11")] * 36
    assert all_in_rate(flows, places=3) == D("0.179")


def test_credit_card_instalment_fee() -> None:
    # 12,000 in 12 instalments of 1,000 + 0.6% fee (72): a "7.2%" fee is 13.03% nominal, 13.84%
    # effective.
    schedule = generate_schedule(
        loan(
            principal=D(12000),
            annual_rate=D(0),
            method=Method.EQUAL_PRINCIPAL,
            fee_per_period=D(72),
        )
    )
    nominal = schedule_all_in_rate(schedule)
    effective = schedule_all_in_rate(schedule, basis=RateBasis.EFFECTIVE)
    assert nominal == D("0.130342")
    assert effective == D("0.138418")
    monthly = Fraction(nominal) / 12
    assert abs((1 + monthly) ** 12 - 1 - Fraction(effective)) < Fraction(1, 10**5)


def test_the_rate_discounts_the_flows_to_zero() -> None:
    flows = [D(10000)] + [D(-900)] * 12
    rate = all_in_rate(flows, places=10)
    monthly = Fraction(rate) / 12
    npv = sum((Fraction(f) / (1 + monthly) ** k for k, f in enumerate(flows)), Fraction(0))
    assert abs(npv) < Fraction(1, 1000)
    assert rate.quantize(D("1e-4")) == D("0.1445")


def test_bullet_is_below_its_simple_contract_rate() -> None:
    schedule = generate_schedule(loan(method=Method.BULLET))
    # 112,000 after 12 months: (1.12^(1/12) - 1) x 12.
    assert schedule_all_in_rate(schedule) == D("0.113866")
    assert schedule_all_in_rate(schedule, basis=RateBasis.EFFECTIVE) == D("0.120000")


def test_first_instalment_on_the_start_date() -> None:
    schedule = generate_schedule(loan(first_due=date(2024, 1, 1)))
    assert schedule_all_in_rate(schedule) == D("0.120000")


def test_dated_flows() -> None:
    flows = [(date(2023, 1, 1), D(1000)), (date(2024, 1, 1), D(-1100))]
    assert all_in_rate_dated(flows) == D("0.100000")
    nominal = all_in_rate_dated(flows, basis=RateBasis.NOMINAL)
    assert nominal == D("0.095690")  # 12 x (1.1^(1/12) - 1)
    leap = [(date(2024, 1, 1), D(1000)), (date(2025, 1, 1), D(-1100))]
    assert all_in_rate_dated(leap) < D("0.1")  # 366 days at ACT/365


def test_dated_schedule_flows() -> None:
    schedule = generate_schedule(loan())
    dated = all_in_rate_dated(schedule.cash_flows(), basis=RateBasis.NOMINAL)
    assert abs(dated - D("0.12")) < D("0.002")  # calendar months are not equal twelfths


def test_negative_and_zero_rates() -> None:
    assert all_in_rate([D(1000), D(-1000)]) == D("0.000000")
    assert all_in_rate([D(1000), D(-900)], periods_per_year=1) == D("-0.100000")


@pytest.mark.parametrize(
    ("flows", "message"),
    [
        ([D(100), D(100)], "received"),
        ([D(-100), D(-100)], "received"),
        ([], "received"),
        ([D(100), -0.5], "not float"),
    ],
)
def test_bad_flows(flows: list[object], message: str) -> None:
    with pytest.raises(AllInRateError, match=message):
        all_in_rate(flows)  # type: ignore[arg-type]


def test_bad_parameters() -> None:
    with pytest.raises(AllInRateError, match="at least 1"):
        all_in_rate([D(1), D(-2)], periods_per_year=0)
    with pytest.raises(AllInRateError, match="unknown rate basis"):
        all_in_rate([D(1), D(-2)], basis="apr")  # type: ignore[arg-type]
    with pytest.raises(AllInRateError, match="no cash flows"):
        all_in_rate_dated([])
    assert issubclass(AllInRateError, ValueError)


@settings(max_examples=60, deadline=None)
@given(
    principal=st.integers(1000, 10**7).map(D),
    payment_bp=st.integers(1, 5000),
    periods=st.integers(1, 120),
)
def test_solver_finds_the_root(principal: Decimal, payment_bp: int, periods: int) -> None:
    # Payments worth between slightly more than nothing and 1.5x the principal in total.
    payment = (principal * (1 + D(payment_bp) / 10000) / periods).quantize(D("0.01"))
    flows = [principal] + [-payment] * periods
    rate = all_in_rate(flows, periods_per_year=12, places=9)
    monthly = float(rate) / 12
    npv = sum(float(f) / (1 + monthly) ** k for k, f in enumerate(flows))
    assert abs(npv) < 1e-6 * float(principal) + 0.05
