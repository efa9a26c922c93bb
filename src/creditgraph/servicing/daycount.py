"""Day counts: how much of the annual rate one period of a schedule carries.

``PERIODIC`` is the convention of Chinese bank calculators (等额本息/等额本金): every whole
period carries exactly ``annual / periods_per_year`` (monthly rate = annual / 12) whatever the
calendar says. The others accrue by dates: ``ACT/360`` (the Chinese bank daily rate, annual /
360), ``ACT/365`` and ``30/360`` (30E/360). Rates stay exact so interest is rounded exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from creditgraph.money import FEN
from creditgraph.servicing.rounding import round_fraction


class DayCount(StrEnum):
    """Interest accrual conventions; ``PERIODIC`` ignores dates, the others count days."""

    PERIODIC = "periodic"
    ACT_360 = "act360"
    ACT_365 = "act365"
    THIRTY_360 = "30360"

    @property
    def days_in_year(self) -> int:
        """The year length that divides the day count (not defined for ``PERIODIC``)."""
        if self is DayCount.PERIODIC:
            raise ValueError("the periodic convention counts periods, not days")
        return 365 if self is DayCount.ACT_365 else 360


@dataclass(frozen=True, slots=True)
class PeriodRate:
    """The rate one period carries, kept as ``numerator / denominator`` so rounding happens once.

    ``numerator`` is exact (annual rate x days, or the annual rate itself); ``denominator`` is the
    year basis (360, 365) or the number of periods per year. Interest is
    ``balance * numerator / denominator`` with a single division.
    """

    numerator: Decimal
    denominator: int

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.numerator) / self.denominator

    def __bool__(self) -> bool:
        return bool(self.numerator)


def combined_rate(rates: Sequence[PeriodRate]) -> PeriodRate | Fraction:
    """The simple (uncompounded) sum of several periods' rates, exact.

    Periods of one schedule share a denominator, so the sum stays a ``PeriodRate``; otherwise it
    falls back to a fraction.
    """
    denominators = {rate.denominator for rate in rates}
    if len(denominators) == 1:
        return PeriodRate(sum((rate.numerator for rate in rates), Decimal(0)), denominators.pop())
    return sum((rate.fraction for rate in rates), Fraction(0))


def days_30e_360(start: date, end: date) -> int:
    """Days between two dates under 30E/360 (Eurobond basis): day 31 counts as the 30th."""
    d1 = min(start.day, 30)
    d2 = min(end.day, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def day_count_days(day_count: DayCount, start: date, end: date) -> int:
    """Days from ``start`` to ``end`` as the convention counts them."""
    if day_count is DayCount.PERIODIC:
        raise ValueError("the periodic convention counts periods, not days")
    if day_count is DayCount.THIRTY_360:
        return days_30e_360(start, end)
    return (end - start).days


def year_fraction(day_count: DayCount, start: date, end: date) -> Fraction:
    """The exact fraction of a year from ``start`` to ``end``."""
    return Fraction(day_count_days(day_count, start, end), day_count.days_in_year)


def dated_rate(annual_rate: Decimal, day_count: DayCount, start: date, end: date) -> PeriodRate:
    """The rate carried from ``start`` to ``end`` when interest accrues by days."""
    days = day_count_days(day_count, start, end)
    return PeriodRate(annual_rate * days, day_count.days_in_year)


def periodic_rate(annual_rate: Decimal, periods_per_year: int) -> PeriodRate:
    """The rate of one whole period under the periodic convention: annual / periods per year."""
    return PeriodRate(annual_rate, periods_per_year)


def accrued_interest(
    principal: Decimal,
    annual_rate: Decimal,
    start: date,
    end: date,
    day_count: DayCount,
    *,
    unit: Decimal = FEN,
    rounding: str = ROUND_HALF_UP,
) -> Decimal:
    """Simple interest on ``principal`` from ``start`` to ``end``, rounded once to ``unit``.

    The year basis used to accrue must be the one the rate was quoted in: a 360-day product accrued
    over 365 overstates interest by 365/360 (the FINERACT-2359 defect).
    """
    rate = dated_rate(annual_rate, day_count, start, end)
    return round_fraction(Fraction(principal) * rate.fraction, unit, rounding)
