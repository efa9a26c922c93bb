"""Two number systems behind one interface, so each schedule strategy is written once.

``GridArithmetic`` works in Decimal amounts that are always whole multiples of the rounding unit and
rounds every interest amount with a single division, which makes half-fen cases come out exactly as
the rule says (``balance x 0.049 / 12`` is divided once, never through a truncated ``0.049 / 12``).
``ExactArithmetic`` works in fractions and never rounds rows: it serves the quotes that round only a
final total, and carry-exact conventions such as Frappe Lending's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from fractions import Fraction
from typing import Generic, TypeVar

from creditgraph.servicing.daycount import PeriodRate, combined_rate
from creditgraph.servicing.rounding import round_fraction

T = TypeVar("T", Decimal, Fraction)

WIDE = Context(prec=60, rounding=ROUND_HALF_EVEN)
"""Working precision of the engine: wide enough that every product of a validated balance and rate
is exact and every quotient decides its rounding correctly (see ``docs/schedules.md``)."""

DISPLAY = Context(prec=28, rounding=ROUND_HALF_EVEN)
"""Precision at which exact fractions are shown as Decimals."""

_HALF_MODES = frozenset({"ROUND_HALF_UP", "ROUND_HALF_DOWN", "ROUND_HALF_EVEN"})
_TIE = Decimal("1e-35")


def annuity_exact(principal: Fraction, rate: Fraction, periods: int, advance: bool) -> Fraction:
    """The level payment that repays ``principal`` in ``periods`` at ``rate`` per period, exactly.

    ``advance`` makes it an annuity-due: the first payment falls on the start date.
    """
    if rate == 0:
        return principal / periods
    growth = (1 + rate) ** periods
    payment = principal * rate * growth / (growth - 1)
    return payment / (1 + rate) if advance else payment


def _doubtful(value: Decimal, unit: Decimal, mode: str) -> bool:
    """True when a 60-digit approximation is too close to a rounding boundary to round safely."""
    scaled = value / unit
    fraction = scaled - scaled.to_integral_value(rounding=ROUND_FLOOR)
    if mode in _HALF_MODES:
        return abs(fraction - Decimal("0.5")) < _TIE
    return fraction < _TIE or 1 - fraction < _TIE


def annuity_rounded(
    principal: Decimal, rate: PeriodRate, periods: int, advance: bool, unit: Decimal, mode: str
) -> Decimal:
    """The annuity payment rounded to ``unit``: fast in wide Decimals, exact where it matters.

    The 60-digit Decimal result is within 1e-40 of the true value; only when that leaves the
    rounding in doubt (within 1e-35 of a rounding boundary) is it recomputed in exact fractions.
    """
    if not rate:
        return round_fraction(Fraction(principal) / periods, unit, mode)
    with localcontext(WIDE):
        per_period = rate.numerator / rate.denominator
        growth = (1 + per_period) ** periods
        payment = principal * per_period * growth / (growth - 1)
        if advance:
            payment = payment / (1 + per_period)
        if not _doubtful(payment, unit, mode):
            return payment.quantize(unit, rounding=mode)
    exact = annuity_exact(Fraction(principal), rate.fraction, periods, advance)
    return round_fraction(exact, unit, mode)


def _uniform(rates: Sequence[PeriodRate]) -> tuple[PeriodRate, bool] | None:
    """(rate, advance) when the periods share one rate, the first possibly being empty."""
    first = rates[0]
    rest = rates[1:]
    if rest and not first:
        common, advance = rest[0], True
    else:
        common, advance = first, False
        rest = rates
    if all(r is common or r == common for r in rest):
        return common, advance
    return None


def level_exact(principal: Fraction, rates: Sequence[PeriodRate]) -> Fraction:
    """The level payment that repays ``principal`` over periods with these rates, exactly."""
    discount = Fraction(1)
    total = Fraction(0)
    for rate in rates:
        discount /= 1 + rate.fraction
        total += discount
    return principal / total


def level_rounded(
    principal: Decimal, rates: Sequence[PeriodRate], unit: Decimal, mode: str
) -> Decimal:
    """The level payment over periods with these rates, rounded to ``unit``.

    One rate for every period (the periodic convention) is the textbook annuity; dated day counts
    give each period its own rate, and the payment is the one that repays the loan under them.
    """
    uniform = _uniform(rates)
    if uniform is not None:
        rate, advance = uniform
        return annuity_rounded(principal, rate, len(rates), advance, unit, mode)
    with localcontext(WIDE):
        discount = Decimal(1)
        total = Decimal(0)
        for rate in rates:
            discount = discount / (1 + rate.numerator / rate.denominator)
            total += discount
        payment = principal / total
        if not _doubtful(payment, unit, mode):
            return payment.quantize(unit, rounding=mode)
    return round_fraction(level_exact(Fraction(principal), rates), unit, mode)


class Arithmetic(ABC, Generic[T]):
    """What a schedule strategy may do with money: convert, accrue, split, pay, show."""

    zero: T

    @abstractmethod
    def amount(self, value: Decimal) -> T:
        """A validated Decimal amount in this system."""

    @abstractmethod
    def interest(self, balance: T, rate: PeriodRate) -> T:
        """Interest on ``balance`` for one period, rounded (or not) by the policy."""

    @abstractmethod
    def interest_over(self, balance: T, rates: Sequence[PeriodRate]) -> T:
        """Simple (uncompounded) interest on ``balance`` over several periods, rounded once."""

    @abstractmethod
    def share(self, total: T, parts: int) -> T:
        """One of ``parts`` equal shares of ``total``, rounded by the policy."""

    @abstractmethod
    def share_down(self, total: T, parts: int) -> T:
        """One of ``parts`` equal shares of ``total``, rounded down to the unit."""

    @abstractmethod
    def instalment(self, principal: Decimal, rates: Sequence[PeriodRate]) -> T:
        """The level instalment repaying ``principal`` over periods with ``rates``, rounded."""

    @property
    @abstractmethod
    def instalment_step(self) -> T | None:
        """The smallest change of a rounded instalment, or None when instalments are exact."""

    @abstractmethod
    def to_decimal(self, value: T) -> Decimal:
        """An amount of this system as a Decimal for a schedule row."""

    @abstractmethod
    def to_fraction(self, value: T) -> Fraction:
        """An amount of this system as an exact fraction."""


class GridArithmetic(Arithmetic[Decimal]):
    """Decimal amounts on the grid of ``unit``; must run inside ``localcontext(WIDE)``."""

    def __init__(self, unit: Decimal, mode: str, payment_unit: Decimal, payment_mode: str) -> None:
        self.unit = unit
        self.mode = mode
        self.payment_unit = payment_unit
        self.payment_mode = payment_mode
        self.zero = Decimal(0).quantize(unit)

    def amount(self, value: Decimal) -> Decimal:
        return value.quantize(self.unit)

    def interest(self, balance: Decimal, rate: PeriodRate) -> Decimal:
        return (balance * rate.numerator / rate.denominator).quantize(self.unit, self.mode)

    def interest_over(self, balance: Decimal, rates: Sequence[PeriodRate]) -> Decimal:
        total = combined_rate(rates)
        if isinstance(total, PeriodRate):
            return self.interest(balance, total)
        return round_fraction(Fraction(balance) * total, self.unit, self.mode)

    def share(self, total: Decimal, parts: int) -> Decimal:
        return (total / parts).quantize(self.unit, self.mode)

    def share_down(self, total: Decimal, parts: int) -> Decimal:
        return (total / parts).quantize(self.unit, ROUND_DOWN)

    def instalment(self, principal: Decimal, rates: Sequence[PeriodRate]) -> Decimal:
        payment = level_rounded(principal, rates, self.payment_unit, self.payment_mode)
        return payment.quantize(self.unit)

    @property
    def instalment_step(self) -> Decimal:
        return self.payment_unit

    def to_decimal(self, value: Decimal) -> Decimal:
        return value

    def to_fraction(self, value: Decimal) -> Fraction:
        return Fraction(value)


class ExactArithmetic(Arithmetic[Fraction]):
    """Exact fractions; only the instalment may be rounded (to ``payment_unit``, if given)."""

    zero = Fraction(0)

    def __init__(self, payment_unit: Decimal | None, payment_mode: str) -> None:
        self.payment_unit = payment_unit
        self.payment_mode = payment_mode

    def amount(self, value: Decimal) -> Fraction:
        return Fraction(value)

    def interest(self, balance: Fraction, rate: PeriodRate) -> Fraction:
        return balance * rate.fraction

    def interest_over(self, balance: Fraction, rates: Sequence[PeriodRate]) -> Fraction:
        return balance * sum((r.fraction for r in rates), Fraction(0))

    def share(self, total: Fraction, parts: int) -> Fraction:
        return total / parts

    def share_down(self, total: Fraction, parts: int) -> Fraction:
        return total / parts

    def instalment(self, principal: Decimal, rates: Sequence[PeriodRate]) -> Fraction:
        uniform = _uniform(rates)
        if uniform is None:
            exact = level_exact(Fraction(principal), rates)
        else:
            rate, advance = uniform
            exact = annuity_exact(Fraction(principal), rate.fraction, len(rates), advance)
        if self.payment_unit is None:
            return exact
        return Fraction(round_fraction(exact, self.payment_unit, self.payment_mode))

    @property
    def instalment_step(self) -> Fraction | None:
        return None if self.payment_unit is None else Fraction(self.payment_unit)

    def to_decimal(self, value: Fraction) -> Decimal:
        return DISPLAY.divide(Decimal(value.numerator), Decimal(value.denominator))

    def to_fraction(self, value: Fraction) -> Fraction:
        return value
