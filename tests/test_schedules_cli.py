"""``creditgraph schedule`` as a person runs it: the table, JSON, rate parsing and clean errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.cli.schedule_cmd import InputError, parse_rate

BASE = ["schedule", "--principal", "10000", "--periods", "6", "--start", "2024-01-15"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*BASE, *args])
    return result.exit_code, result.stdout, result.stderr


def test_table_totals_and_rate() -> None:
    code, out, err = run("--annual-rate", "12%", "--method", "equal_installment")
    assert code == 0, err
    assert "1,725.48" in out and "1,725.51" in out  # level instalment, last absorbs the residue
    assert "10,352.91" in out  # total paid
    # The last instalment's 0.03 residue is real money, so the all-in rate is a hair above 12%.
    assert "IRR x 12): 12.0002%" in out
    assert "effective: 12.6828%" in out


def test_json_amounts_are_strings() -> None:
    code, out, _ = run(
        "--annual-rate", "0.12", "--method", "equal_principal", "--fee", "100", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["method"] == "equal_principal"
    assert data["rows"][0] == {
        "n": 1,
        "due_date": "2024-02-15",
        "opening_principal": "10000.00",
        "principal": "1666.67",
        "interest": "100.00",
        "fee": "0.00",
        "payment": "1766.67",
        "closing_principal": "8333.33",
    }
    assert data["totals"]["principal"] == "10000.00"
    assert data["net_disbursement"] == "9900.00"
    assert Decimal(data["all_in_rate"]["nominal"]) > Decimal("0.12")
    assert set(data["all_in_rate"]) == {"nominal", "effective"}


def test_frequency_day_count_and_grace() -> None:
    code, out, err = run(
        "--annual-rate",
        "4.9%",
        "--method",
        "interest_first",
        "--frequency",
        "biweekly",
        "--day-count",
        "act360",
        "--period-fee",
        "2",
        "--grace",
        "1",
        "--grace-type",
        "full",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["frequency"] == "biweekly" and data["day_count"] == "act360"
    assert data["rows"][0]["payment"] == "2.00"  # full grace: only the fee
    assert data["rows"][1]["due_date"] == "2024-02-12"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--annual-rate", "4.9", "--method", "bullet"], "write 4.9% or 0.049"),
        (["--annual-rate", "abc", "--method", "bullet"], "annual rate 'abc' is not a number"),
        (["--annual-rate", "-1%", "--method", "bullet"], "must not be negative"),
        (["--annual-rate", "5%", "--method", "balloon"], "unknown method 'balloon'"),
        (["--annual-rate", "5%"], "missing --method"),
        (["--annual-rate", "5%", "--method", "bullet", "--day-count", "act999"], "day count"),
        (["--annual-rate", "5%", "--method", "bullet", "--start", "15/01/2024"], "YYYY-MM-DD"),
        (
            ["--annual-rate", "5%", "--method", "bullet", "--fee", "20000"],
            "less than the principal",
        ),
        (["--annual-rate", "5%", "--method", "bullet", "--grace", "x"], "whole number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_bad_principal_and_periods() -> None:
    result = CliRunner().invoke(
        app,
        [
            "schedule",
            "--principal",
            "10.001",
            "--annual-rate",
            "5%",
            "--periods",
            "0",
            "--method",
            "bullet",
        ],
    )
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == "error: principal 10.001 has more than 2 decimals; amounts are in whole fen"
    )


@pytest.mark.parametrize(
    ("text", "rate"), [("0.049", "0.049"), ("4.9%", "0.049"), (" 4.35 % ", "0.0435"), ("1", "1")]
)
def test_parse_rate(text: str, rate: str) -> None:
    assert parse_rate(text) == Decimal(rate)


def test_parse_rate_refuses_a_bare_percentage() -> None:
    with pytest.raises(InputError, match="would be 1200%"):
        parse_rate("12")
