"""Money as exact decimals in code and integer fen in storage, with the conversions in one place.

Amounts are ``decimal.Decimal`` yuan everywhere in the core; storage keeps integer fen (分), so
no database or file format can lose a fen to binary floating point. Conversions refuse, rather
than round, anything that is not a whole number of fen: rounding is a business rule and belongs
to the caller.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeAlias

Money: TypeAlias = Decimal
"""An amount in yuan (CNY). An alias, not a new type: it documents intent in signatures."""

FEN = Decimal("0.01")
"""The smallest unit of account, 0.01 yuan."""

FEN_PER_YUAN = 100


class MoneyError(ValueError):
    """An amount that cannot be money: a float, not finite, or finer than one fen."""


def as_decimal(value: object, what: str = "amount") -> Decimal:
    """``value`` as a finite Decimal; ints and decimal strings are accepted, floats never are.

    Floats are refused because ``0.1`` is not one tenth: the error has already happened by the time
    the value arrives here.
    """
    if isinstance(value, (bool, float)):
        raise MoneyError(
            f"{what} must be a Decimal, int or decimal string, not {type(value).__name__}"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"{what} {value!r} is not a number") from None
    else:
        raise MoneyError(
            f"{what} must be a Decimal, int or decimal string, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise MoneyError(f"{what} must be finite, got {value}")
    return result


def is_whole_fen(amount: Decimal) -> bool:
    """True when ``amount`` is a whole number of fen (``1.500`` is, ``1.005`` is not)."""
    if not _quantizable(amount):
        return False
    return amount == amount.quantize(FEN)


def _quantizable(amount: Decimal) -> bool:
    # quantize raises InvalidOperation when the result would exceed the context precision.
    return amount.is_finite() and amount.adjusted() < 25


def to_fen(amount: Decimal) -> int:
    """Yuan to integer fen; refuses amounts with a fraction of a fen instead of rounding them."""
    value = as_decimal(amount)
    if not _quantizable(value):
        raise MoneyError(f"{amount} is too large to be an amount of money")
    if not is_whole_fen(value):
        raise MoneyError(f"{amount} has more than 2 decimals (a fraction of a fen); round it first")
    return int(value.scaleb(2))


def from_fen(fen: int) -> Decimal:
    """Integer fen to yuan with exactly two decimals (``12345`` -> ``Decimal('123.45')``)."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise MoneyError(f"fen must be an int, not {type(fen).__name__}")
    return Decimal(f"{fen}E-2")  # string construction is exact at any size; arithmetic is not


def quantize_fen(amount: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``amount`` rounded to the fen by an explicit rule (half-up by default, as banks quote)."""
    value = as_decimal(amount)
    if not _quantizable(value):
        raise MoneyError(f"{amount} is too large to be an amount of money")
    return value.quantize(FEN, rounding=rounding)
