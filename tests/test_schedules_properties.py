"""Properties every schedule must have, for every method, frequency, day count and grace."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.servicing import (
    DayCount,
    Frequency,
    GraceType,
    Method,
    RoundingPolicy,
    ScheduleRequest,
    generate_schedule,
    schedule_all_in_rate,
)
from creditgraph.servicing.arithmetic import WIDE, GridArithmetic
from creditgraph.servicing.calendar import add_months
from creditgraph.servicing.daycount import PeriodRate
from creditgraph.servicing.rounding import round_fraction, round_ratio

SETTINGS = settings(max_examples=100, deadline=None)

amounts = st.integers(min_value=100_000, max_value=500_000_000).map(lambda fen: Decimal(fen) / 100)
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: Decimal(bp) / 10000)
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31))
fees = st.sampled_from([Decimal(0), Decimal("1.50"), Decimal(20)])


@st.composite
def requests(draw: st.DrawFn, methods: tuple[Method, ...] = tuple(Method)) -> ScheduleRequest:
    method = draw(st.sampled_from(methods))
    frequency = draw(st.sampled_from(list(Frequency)))
    day_count = draw(st.sampled_from(list(DayCount)))
    # Dated day counts with a level instalment at annual/12 stop covering a long month's interest
    # once n x ln(1 + r) passes ~3.4 (e.g. 36% beyond ~115 months): keep terms where it holds.
    longest = 360 if day_count is DayCount.PERIODIC else 60
    periods = draw(st.integers(min_value=1, max_value=longest))
    grace = 0 if method is Method.BULLET else draw(st.integers(0, min(periods - 1, 6)))
    return ScheduleRequest(
        principal=draw(amounts),
        annual_rate=draw(rates),
        periods=periods,
        method=method,
        start=draw(starts),
        frequency=frequency,
        day_count=day_count,
        grace_periods=grace,
        grace=draw(st.sampled_from(list(GraceType))),
        fee_per_period=draw(fees),
    )


@SETTINGS
@given(requests())
def test_schedule_invariants(request: ScheduleRequest) -> None:
    schedule = generate_schedule(request)
    rows = schedule.rows
    assert sum(r.principal for r in rows) == request.principal
    assert rows[-1].closing_principal == 0
    assert rows[0].opening_principal == request.principal
    for row in rows:
        for amount in (row.principal, row.interest, row.fee, row.payment, row.closing_principal):
            assert amount >= 0
            assert amount == amount.quantize(Decimal("0.01"))
        assert row.payment == row.principal + row.interest + row.fee
        assert row.closing_principal == row.opening_principal - row.principal
    for before, after in pairwise(rows):
        assert after.opening_principal == before.closing_principal
        assert after.due_date > before.due_date
    assert rows[0].due_date > request.start
    expected_rows = 1 if request.method is Method.BULLET else request.periods
    assert [r.n for r in rows] == list(range(1, expected_rows + 1))
    totals = schedule.totals
    assert totals.principal == request.principal
    assert totals.interest == sum(r.interest for r in rows)
    assert totals.fee == sum(r.fee for r in rows) == request.fee_per_period * request.periods
    assert totals.payment == sum(r.payment for r in rows)


def _amortising(request: ScheduleRequest) -> range:
    """Rows (0-based) that must show the method's level amount: after grace (and, under full
    grace, after the first instalment, which also pays the deferred interest), before the last."""
    first = request.grace_periods + (1 if request.grace is GraceType.FULL else 0)
    return range(first, request.periods - 1)


@SETTINGS
@given(requests((Method.EQUAL_INSTALLMENT,)))
def test_equal_installment_payments_are_level(request: ScheduleRequest) -> None:
    schedule = generate_schedule(request)
    level = schedule.level_payment
    assert level is not None
    for index in _amortising(request):
        row = schedule.rows[index]
        assert row.principal + row.interest == level
    # The last instalment differs from the level one only by the residue of rounding: at most half
    # a fen per period from the instalment and half a fen from interest, each carried forward
    # with interest to the end.
    if request.day_count is DayCount.PERIODIC and request.periods - request.grace_periods > 1:
        last = schedule.rows[-1]
        residue = abs(last.principal + last.interest - level)
        rate = Fraction(request.annual_rate) / request.periods_per_year
        m = request.periods - request.grace_periods
        carried = m if rate == 0 else ((1 + rate) ** m - 1) / rate
        assert residue <= Decimal("0.01") * (Decimal(float(carried)) + 1)


@SETTINGS
@given(requests((Method.EQUAL_PRINCIPAL,)))
def test_equal_principal_parts_are_level(request: ScheduleRequest) -> None:
    schedule = generate_schedule(request)
    parts = {schedule.rows[i].principal for i in range(request.grace_periods, request.periods - 1)}
    assert len(parts) <= 1
    if parts:
        (part,) = parts
        exact = request.principal / (request.periods - request.grace_periods)
        assert abs(part - exact) <= Decimal("0.005")


@SETTINGS
@given(requests((Method.INTEREST_FIRST,)))
def test_interest_first_repays_principal_once(request: ScheduleRequest) -> None:
    rows = generate_schedule(request).rows
    assert [r.principal for r in rows[:-1]] == [Decimal("0.00")] * (len(rows) - 1)


def _oracle(request: ScheduleRequest) -> list[tuple[Fraction, Fraction]]:
    """A naive, independent equal-instalment/equal-principal schedule in exact fractions.

    Same rules as the engine: half-up to the fen, the last instalment takes the residue, a level
    amount that would repay early is lowered a fen at a time (a principal part is rounded down).
    """

    def fen(value: Fraction, mode: str = ROUND_HALF_UP) -> Fraction:
        return Fraction(round_ratio(value.numerator * 100, value.denominator, mode), 100)

    rate = Fraction(request.annual_rate) / request.periods_per_year
    n = request.periods
    principal = Fraction(request.principal)
    if request.method is Method.EQUAL_INSTALLMENT:
        level = fen(principal / n if rate == 0 else principal * rate / (1 - (1 + rate) ** -n))
    else:
        level = fen(principal / n)
        if level * (n - 1) >= principal:
            level = fen(principal / n, ROUND_DOWN)
    while True:
        balance, out = principal, []
        for k in range(1, n + 1):
            interest = fen(balance * rate)
            if k == n:
                part = balance
            elif request.method is Method.EQUAL_INSTALLMENT:
                part = level - interest
            else:
                part = level
            out.append((part, interest))
            balance -= part
        if all(p > 0 for p, _ in out):
            return out
        level -= Fraction(1, 100)


@SETTINGS
@given(
    st.builds(
        ScheduleRequest,
        principal=amounts,
        annual_rate=rates,
        periods=st.integers(1, 240),
        method=st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL]),
        start=starts,
    )
)
def test_matches_a_naive_exact_reference(request: ScheduleRequest) -> None:
    rows = generate_schedule(request).rows
    assert [(Fraction(r.principal), Fraction(r.interest)) for r in rows] == _oracle(request)


@settings(max_examples=40, deadline=None)
@given(
    principal=amounts,
    rate=st.integers(1, 3600).map(lambda bp: Decimal(bp) / 10000),
    periods=st.integers(2, 120),  # exact fractions grow with the term; 120 keeps this quick
    frequency=st.sampled_from(list(Frequency)),
)
def test_all_in_rate_of_an_unrounded_annuity_is_the_contract_rate(
    principal: Decimal, rate: Decimal, periods: int, frequency: Frequency
) -> None:
    request = ScheduleRequest(
        principal=principal,
        annual_rate=rate,
        periods=periods,
        method=Method.EQUAL_INSTALLMENT,
        start=date(2024, 1, 1),
        frequency=frequency,
        rounding=RoundingPolicy.exact(),
    )
    assert schedule_all_in_rate(generate_schedule(request)) == rate.quantize(Decimal("1e-6"))


@settings(max_examples=500, deadline=None)
@given(
    numerator=st.integers(-(10**12), 10**12),
    denominator=st.sampled_from([1, 2, 4, 5, 8, 10, 16, 20, 25, 40, 125, 1000]),
    mode=st.sampled_from(
        [
            "ROUND_HALF_UP",
            "ROUND_HALF_EVEN",
            "ROUND_HALF_DOWN",
            "ROUND_UP",
            "ROUND_DOWN",
            "ROUND_CEILING",
            "ROUND_FLOOR",
        ]
    ),
)
def test_round_ratio_agrees_with_decimal_quantize(
    numerator: int, denominator: int, mode: str
) -> None:
    # Denominators with only factors 2 and 5 make the quotient an exact Decimal to compare with.
    exact = Decimal(numerator) / Decimal(denominator)
    assert Decimal(round_ratio(numerator, denominator, mode)) == exact.quantize(Decimal(1), mode)


def test_dates_never_collapse_for_month_end_starts() -> None:
    start = date(2023, 1, 31)
    for offset in range(0, 400, 7):
        request = ScheduleRequest(
            principal=Decimal(1000),
            annual_rate=Decimal("0.1"),
            periods=24,
            method=Method.EQUAL_PRINCIPAL,
            start=start + timedelta(days=offset),
        )
        dates = request.due_dates
        assert len(set(dates)) == 24
        assert all(a < b for a, b in pairwise(dates))


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    months=st.integers(-600, 600),
)
def test_add_months_matches_the_calendar_module(day: date, months: int) -> None:
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    assert add_months(day, months) == date(year, month0 + 1, min(day.day, last))


@settings(max_examples=400, deadline=None)
@given(
    balance=st.integers(1, 10**15).map(lambda fen: Decimal(fen).scaleb(-2)),
    annual=st.integers(0, 10**12).map(lambda x: Decimal(x).scaleb(-12)),
    days=st.integers(0, 366),
    basis=st.sampled_from([12, 26, 52, 360, 365]),
    mode=st.sampled_from(["ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_DOWN", "ROUND_CEILING"]),
)
def test_grid_interest_is_the_exactly_rounded_rational(
    balance: Decimal, annual: Decimal, days: int, basis: int, mode: str
) -> None:
    rate = PeriodRate(annual * days, basis)
    grid = GridArithmetic(Decimal("0.01"), mode, Decimal("0.01"), mode)
    with localcontext(WIDE):
        got = grid.interest(balance, rate)
    exact = Fraction(balance) * Fraction(annual) * days / basis
    assert got == round_fraction(exact, Decimal("0.01"), mode)
