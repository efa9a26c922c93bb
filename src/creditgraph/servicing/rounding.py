"""Rounding as an explicit, per-product rule: unit, mode, instalment rounding and residue placement.

Every schedule is rounded row by row to ``unit`` (the fen by default) with ``mode`` (half-up by
default, as Chinese bank calculators and Fineract do); the last instalment absorbs what rounding
left over, so principal parts always sum to the loan amount exactly. ``RoundingPolicy.exact()``
switches rounding off to reproduce quotes that round only the final total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from enum import StrEnum
from fractions import Fraction

from creditgraph.money import FEN
from creditgraph.servicing.errors import ScheduleError

ROUNDING_MODES: frozenset[str] = frozenset(
    {
        ROUND_HALF_UP,
        ROUND_HALF_EVEN,
        ROUND_HALF_DOWN,
        ROUND_UP,
        ROUND_DOWN,
        ROUND_CEILING,
        ROUND_FLOOR,
    }
)
"""The ``decimal`` rounding modes a policy may name (``ROUND_05UP`` has no use in lending)."""

UNITS: tuple[Decimal, ...] = (FEN, Decimal("0.1"), Decimal("1"))
"""Rounding units a policy may use: fen (分), jiao (角) and whole yuan (元)."""


class InstalmentFit(StrEnum):
    """How the level instalment of an equal-instalment schedule is chosen once rounded.

    ``ROUND`` rounds the annuity payment (what bank calculators print). ``BALANCE_LAST`` then
    moves it by whole units while that brings the last instalment closer to the others, as
    Fineract's progressive EMI calculator does (100 at 9.4822% over 3 fortnights: 33.57, not 33.58).
    """

    ROUND = "round"
    BALANCE_LAST = "balance_last"


def round_ratio(numerator: int, denominator: int, mode: str) -> int:
    """``numerator / denominator`` rounded to an integer by ``mode``, exactly, for either sign."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)  # quotient is the floor
    if remainder == 0 or mode == ROUND_FLOOR:
        return quotient
    negative = numerator < 0
    if mode == ROUND_CEILING:
        return quotient + 1
    if mode == ROUND_DOWN:
        return quotient + 1 if negative else quotient
    if mode == ROUND_UP:
        return quotient if negative else quotient + 1
    twice = 2 * remainder
    if twice < denominator:
        return quotient
    if twice > denominator:
        return quotient + 1
    if mode == ROUND_HALF_UP:
        return quotient if negative else quotient + 1
    if mode == ROUND_HALF_DOWN:
        return quotient + 1 if negative else quotient
    if mode == ROUND_HALF_EVEN:
        return quotient if quotient % 2 == 0 else quotient + 1
    raise ValueError(f"unknown rounding mode {mode!r}")


def round_fraction(value: Fraction, unit: Decimal, mode: str) -> Decimal:
    """An exact rational amount rounded to a multiple of ``unit``, with ``unit``'s exponent."""
    step = Fraction(unit)
    scaled = value / step
    count = round_ratio(scaled.numerator, scaled.denominator, mode)
    return (Decimal(count) * unit).quantize(unit)


def canonical_unit(unit: Decimal, what: str = "unit") -> Decimal:
    """``unit`` as one of the allowed units (``Decimal('1.00')`` becomes ``Decimal('1')``)."""
    for allowed in UNITS:
        if unit == allowed:
            return allowed
    names = ", ".join(str(u) for u in UNITS)
    raise ScheduleError(f"{what} must be one of {names}; got {unit}")


@dataclass(frozen=True)
class RoundingPolicy:
    """The rounding rule of a product, stated once and applied to every row.

    ``unit``/``mode`` round interest and principal parts; ``payment_unit``/``payment_mode`` round
    the level instalment (default: the same), e.g. whole yuan rounded up for a Frappe-style EMI.
    ``unit=None`` keeps every amount exact (for quotes that round only totals); the residue of
    rounding always goes to the last instalment.
    """

    unit: Decimal | None = FEN
    mode: str = ROUND_HALF_UP
    payment_unit: Decimal | None = None
    payment_mode: str | None = None
    fit: InstalmentFit = InstalmentFit.ROUND

    def __post_init__(self) -> None:
        if self.unit is not None:
            object.__setattr__(self, "unit", canonical_unit(self.unit, "rounding unit"))
        if self.payment_unit is not None:
            object.__setattr__(
                self, "payment_unit", canonical_unit(self.payment_unit, "payment rounding unit")
            )
        for name in ("mode", "payment_mode"):
            value = getattr(self, name)
            if value is not None and value not in ROUNDING_MODES:
                modes = ", ".join(sorted(ROUNDING_MODES))
                raise ScheduleError(f"rounding {name} must be one of {modes}; got {value!r}")
        try:
            object.__setattr__(self, "fit", InstalmentFit(self.fit))
        except ValueError:
            fits = ", ".join(f.value for f in InstalmentFit)
            raise ScheduleError(f"instalment fit must be one of {fits}; got {self.fit!r}") from None
        if (
            self.unit is not None
            and self.payment_unit is not None
            and self.payment_unit < self.unit
        ):
            raise ScheduleError(
                f"the payment rounding unit {self.payment_unit} must be a multiple of "
                f"the rounding unit {self.unit}"
            )

    @classmethod
    def exact(
        cls, payment_unit: Decimal | None = None, payment_mode: str | None = None
    ) -> RoundingPolicy:
        """No row rounding; the instalment may still be rounded (Frappe rounds only for display)."""
        return cls(
            unit=None,
            payment_unit=payment_unit,
            payment_mode=payment_mode if payment_mode is not None else ROUND_HALF_UP,
        )

    @property
    def is_exact(self) -> bool:
        return self.unit is None

    @property
    def instalment_unit(self) -> Decimal | None:
        """The unit of the level instalment: ``payment_unit`` or else ``unit``."""
        return self.payment_unit if self.payment_unit is not None else self.unit

    @property
    def instalment_mode(self) -> str:
        return self.payment_mode if self.payment_mode is not None else self.mode
