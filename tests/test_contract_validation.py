"""The contract's parse rules as pure functions of text: money to fen, times to UTC, rules by name."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.contracts.schema import TABLES
from creditgraph.contracts.validate import compile_query, validate_chunk
from creditgraph.duck import connect

CON = connect("Asia/Shanghai")
QUERY = compile_query(
    TABLES["external_loans"], {"person_id", "lender", "opened_at", "amount", "status", "max_dpd"}
)


def _loan(amount: str, opened_at: str = "2025-01-01") -> pa.Table:
    return pa.table(
        {
            "_row": pa.array([1], pa.int64()),
            "person_id": ["P1"],
            "lender": ["x"],
            "opened_at": [opened_at],
            "amount": [amount],
            "status": ["open"],
            "max_dpd": ["0"],
        }
    )


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999999"), places=2))
def test_money_with_two_decimals_is_exact_in_fen(amount: Decimal) -> None:
    result = validate_chunk(CON, QUERY, _loan(str(amount)))
    assert result.valid["amount_fen"].to_pylist() == [int(amount * 100)]


@settings(max_examples=100, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000000"), places=5).filter(
        lambda d: d != d.quantize(Decimal("0.01"))
    )
)
def test_money_with_more_decimals_is_rejected(amount: Decimal) -> None:
    result = validate_chunk(CON, QUERY, _loan(format(amount, "f")))
    assert result.valid.num_rows == 0
    assert result.invalid_errors == [["amount:decimals"]]


def test_naive_times_are_business_time_and_stored_in_utc() -> None:
    result = validate_chunk(CON, QUERY, _loan("10", "2025-01-01 08:00"))
    assert result.valid["opened_at"].to_pylist() == [datetime(2025, 1, 1, 0, 0)]
    explicit = validate_chunk(CON, QUERY, _loan("10", "2025-01-01T08:00:00+00:00"))
    assert explicit.valid["opened_at"].to_pylist() == [datetime(2025, 1, 1, 8, 0)]


def test_failed_field_does_not_also_fail_its_rules() -> None:
    result = validate_chunk(CON, QUERY, _loan("abc"))
    assert result.invalid_errors == [["amount:type"]]
    zero = validate_chunk(CON, QUERY, _loan("0"))
    assert zero.invalid_errors == [["amount:positive_amount"]]
