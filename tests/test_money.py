"""Yuan <-> fen conversions: exact both ways, and refusing what would need rounding."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditgraph.money import (
    FEN,
    MoneyError,
    as_decimal,
    from_fen,
    is_whole_fen,
    quantize_fen,
    to_fen,
)


def test_to_fen_and_back() -> None:
    assert to_fen(Decimal("123.45")) == 12345
    assert to_fen(Decimal("1.5")) == 150
    assert to_fen(Decimal("1.500")) == 150  # trailing zeros are still whole fen
    assert to_fen(Decimal("-0.01")) == -1
    assert from_fen(12345) == Decimal("123.45")
    assert str(from_fen(5)) == "0.05"
    assert str(from_fen(0)) == "0.00"


def test_to_fen_refuses_fractions_of_a_fen() -> None:
    with pytest.raises(MoneyError, match="more than 2 decimals"):
        to_fen(Decimal("1.005"))


@pytest.mark.parametrize("bad", [0.1, True, Decimal("NaN"), Decimal("Infinity"), "abc", None])
def test_non_money_is_refused(bad: object) -> None:
    with pytest.raises(MoneyError):
        to_fen(bad)  # type: ignore[arg-type]


def test_money_error_is_a_value_error() -> None:
    assert issubclass(MoneyError, ValueError)


def test_from_fen_is_exact_at_any_size() -> None:
    assert str(from_fen(10**40 + 1)).endswith("00.01")  # no context rounding on the way
    with pytest.raises(MoneyError, match="too large"):
        to_fen(from_fen(10**40 + 1))
    assert is_whole_fen(Decimal("12.30"))
    assert not is_whole_fen(Decimal("12.301"))


def test_quantize_fen() -> None:
    assert quantize_fen(Decimal("2.345")) == Decimal("2.35")
    assert quantize_fen(Decimal("2.345"), ROUND_DOWN) == Decimal("2.34")
    assert quantize_fen(Decimal("-2.345")) == Decimal("-2.35")  # half away from zero
    assert quantize_fen(Decimal(2)).as_tuple().exponent == -2


def test_as_decimal_accepts_ints_and_strings() -> None:
    assert as_decimal(5) == Decimal(5)
    assert as_decimal(" 1.25 ") == Decimal("1.25")
    assert Decimal("0.01") == FEN


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_round_trip(fen: int) -> None:
    assert to_fen(from_fen(fen)) == fen
    assert from_fen(fen).as_tuple().exponent == -2
