"""The all-in annualised rate (综合年化成本): the IRR of what the borrower receives and pays.

PBoC Announcement [2021] No. 3 requires lenders to show an annualised rate computed from all
costs of the loan (interest and every fee directly related to it) over the principal the borrower
actually has the use of, and allows the compound (IRR) method. We solve for the internal rate of
return per period and annualise it two ways: ``NOMINAL`` (IRR per period x periods per year, as
Chinese disclosures quote it, and equal to the contract rate of a loan without fees) and
``EFFECTIVE`` ((1 + IRR) ** m - 1). Money stays Decimal up to the solver, which works in floats
(ample for six decimals of a rate). ``docs/schedules.md`` gives the choice and its sources.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from creditgraph.money import MoneyError, as_decimal
from creditgraph.servicing.errors import AllInRateError
from creditgraph.servicing.model import Schedule

DAYS_PER_YEAR = 365
"""Dated cash flows are timed in ACT/365 years, as spreadsheet XIRR does."""


class RateBasis(StrEnum):
    """How a per-period IRR becomes an annual figure."""

    NOMINAL = "nominal"  # IRR per period x periods per year
    EFFECTIVE = "effective"  # (1 + IRR per period) ** periods per year - 1


def _amounts(flows: Sequence[object]) -> list[float]:
    try:
        values = [as_decimal(a, "cash flow") for a in flows]
    except MoneyError as exc:
        raise AllInRateError(str(exc)) from None
    if not any(v > 0 for v in values) or not any(v < 0 for v in values):
        raise AllInRateError(
            "cash flows must include money received (+) and money paid (-) by the borrower"
        )
    return [float(v) for v in values]


def _npv(times: Sequence[float], amounts: Sequence[float]) -> Callable[[float], float]:
    def npv(rate: float) -> float:
        log_growth = math.log1p(rate)
        return sum(a * math.exp(-t * log_growth) for t, a in zip(times, amounts, strict=True))

    return npv


def _finite(npv: Callable[[float], float], rate: float) -> float | None:
    try:
        value = npv(rate)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def solve_irr(times: Sequence[float], amounts: Sequence[float]) -> float:
    """The rate per time unit at which the flows' present value is zero, by bracketed Brent.

    A loan's flows change sign once (money in, then money out), so the root is unique; the bracket
    is widened from zero outwards until the present value changes sign.
    """
    from scipy.optimize import brentq  # imported here: only rate questions pay for scipy

    npv = _npv(times, amounts)
    at_zero = npv(0.0)
    if at_zero == 0:
        return 0.0
    for upper in (1.0, 10.0, 100.0, 1e4, 1e6):
        value = _finite(npv, upper)
        if value is not None and (value > 0) != (at_zero > 0):
            return float(brentq(npv, 0.0, upper, xtol=1e-15, rtol=1e-15, maxiter=500))
    for lower in (-0.5, -0.9, -0.99, -0.999, -0.9999):
        value = _finite(npv, lower)
        if value is not None and (value > 0) != (at_zero > 0):
            return float(brentq(npv, lower, 0.0, xtol=1e-15, rtol=1e-15, maxiter=500))
    raise AllInRateError("no rate between -99.99% and 1e8% per period balances these cash flows")


def _as_rate(value: float, places: int) -> Decimal:
    if not math.isfinite(value):
        raise AllInRateError("the annualised rate is too large to express")
    result = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return result.copy_abs() if result == 0 else result


def _annualise(per_period: float, periods_per_year: int, basis: RateBasis) -> float:
    if basis is RateBasis.NOMINAL:
        return per_period * periods_per_year
    try:
        return math.expm1(periods_per_year * math.log1p(per_period))
    except OverflowError:
        return math.inf


def _check(periods_per_year: int, places: int, basis: object) -> RateBasis:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int):
        raise AllInRateError("periods per year must be an integer")
    if periods_per_year < 1:
        raise AllInRateError(f"periods per year must be at least 1, got {periods_per_year}")
    if not 0 <= places <= 12:
        raise AllInRateError(f"places must be between 0 and 12, got {places}")
    try:
        return RateBasis(str(basis))
    except ValueError:
        raise AllInRateError(
            f"unknown rate basis {basis!r}; expected nominal or effective"
        ) from None


def all_in_rate(
    flows: Sequence[Decimal],
    *,
    periods_per_year: int = 12,
    basis: RateBasis = RateBasis.NOMINAL,
    places: int = 6,
) -> Decimal:
    """The all-in annualised rate of flows one period apart (``flows[0]`` today).

    Flows are the borrower's: + what is received (principal net of upfront fees), - what is paid
    (instalments including fees). Returns a fraction (0.049 for 4.9%) rounded to ``places``.
    """
    kind = _check(periods_per_year, places, basis)
    amounts = _amounts(flows)
    per_period = solve_irr([float(k) for k in range(len(amounts))], amounts)
    return _as_rate(_annualise(per_period, periods_per_year, kind), places)


def all_in_rate_dated(
    flows: Sequence[tuple[date, Decimal]],
    *,
    basis: RateBasis = RateBasis.EFFECTIVE,
    periods_per_year: int = 12,
    places: int = 6,
) -> Decimal:
    """The all-in annualised rate of dated flows (borrower's view), timed in ACT/365 years.

    ``EFFECTIVE`` is the XIRR; ``NOMINAL`` converts it to a rate compounded ``periods_per_year``
    times a year, comparable with a nominal contract rate.
    """
    kind = _check(periods_per_year, places, basis)
    if not flows:
        raise AllInRateError("no cash flows")
    origin = min(day for day, _ in flows)
    amounts = _amounts([amount for _, amount in flows])
    times = [(day - origin).days / DAYS_PER_YEAR for day, _ in flows]
    annual = solve_irr(times, amounts)
    if kind is RateBasis.EFFECTIVE:
        return _as_rate(annual, places)
    per_period = math.expm1(math.log1p(annual) / periods_per_year)
    return _as_rate(per_period * periods_per_year, places)


def schedule_all_in_rate(
    schedule: Schedule, *, basis: RateBasis = RateBasis.NOMINAL, places: int = 6
) -> Decimal:
    """The all-in annualised rate of a schedule, timing each instalment in periods of the loan.

    Regular instalments fall whole periods apart; a broken first period counts as its share of a
    regular one (days to the first due date over the days of the period ending on it).
    """
    request = schedule.request
    kind = _check(request.periods_per_year, places, basis)
    first = request.first_period_fraction
    index = {day: k for k, day in enumerate(request.due_dates)}
    times = [0.0] + [index[row.due_date] + first for row in schedule.rows]
    amounts = _amounts([schedule.net_disbursement] + [-row.payment for row in schedule.rows])
    per_period = solve_irr(times, amounts)
    return _as_rate(_annualise(per_period, request.periods_per_year, kind), places)
