"""``creditgraph loan ...`` and ``creditgraph ledger ...`` on a fresh typer app: outputs and
exit codes (2 with one line on bad input, never a stack trace)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from creditgraph.cli import ledger_cmd, loan_cmd
from creditgraph.settings import get_settings
from creditgraph.store.db import make_engine, upgrade
from tests.loan_world import insert_decision


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    loan_cmd.register(app)
    ledger_cmd.register(app)
    return app


@pytest.fixture
def decision_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    home = tmp_path / "home"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    yield insert_decision(engine)
    engine.dispose()
    get_settings.cache_clear()


def test_the_loan_commands_end_to_end(decision_id: str) -> None:
    runner = CliRunner()
    app = _app()
    accepted = runner.invoke(app, ["loan", "accept", decision_id, "--json"])
    assert accepted.exit_code == 0, accepted.output
    loan_id = json.loads(accepted.stdout)["loan_id"]

    out = runner.invoke(app, ["loan", "disburse", loan_id, "--date", "2026-07-01"])
    assert out.exit_code == 0, out.output
    assert "idempotency key: idem-" in out.stdout  # generated and printed

    args = ["loan", "repay", loan_id, "--amount", "1066.19", "--date", "2026-08-01"]
    args += ["--channel", "unionpay"]
    first = runner.invoke(app, [*args, "--idempotency-key", "pay-1", "--json"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*args, "--idempotency-key", "pay-1", "--json"])
    assert json.loads(again.stdout)["replayed"] is True
    assert json.loads(again.stdout)["transaction_id"] == json.loads(first.stdout)["transaction_id"]

    shown = runner.invoke(app, ["loan", "show", loan_id])
    assert shown.exit_code == 0 and "all-in" in shown.stdout

    prepaid = runner.invoke(
        app,
        [
            "loan",
            "prepay",
            loan_id,
            "--amount",
            "3000",
            "--mode",
            "lower_instalment",
            "--date",
            "2026-08-10",
            "--channel",
            "unionpay",
            "--json",
        ],
    )
    assert prepaid.exit_code == 0, prepaid.output
    reversed_ = runner.invoke(
        app, ["loan", "reverse", json.loads(prepaid.stdout)["transaction_id"]]
    )
    assert reversed_.exit_code == 0, reversed_.output

    tb = runner.invoke(app, ["ledger", "trial-balance", "--json"])
    assert tb.exit_code == 0 and json.loads(tb.stdout)["difference"] == "0.00"
    statement = runner.invoke(app, ["ledger", "statement", loan_id])
    assert statement.exit_code == 0 and "repayment" in statement.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "loan",
                "repay",
                "LN-NOPE",
                "--amount",
                "10",
                "--date",
                "2026-08-01",
                "--channel",
                "b",
            ],
            "no such loan",
        ),
        (["loan", "accept", "DC-NOPE"], "no such decision"),
        (["loan", "disburse", "LN-X", "--date", "2026-13-01"], "not a date"),
        (["ledger", "statement", "LN-NOPE"], "no such loan"),
    ],
)
def test_bad_input_exits_2_with_one_line(decision_id: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_bad_amounts_exit_2(decision_id: str) -> None:
    runner = CliRunner()
    app = _app()
    loan_id = json.loads(runner.invoke(app, ["loan", "accept", decision_id, "--json"]).stdout)[
        "loan_id"
    ]
    runner.invoke(app, ["loan", "disburse", loan_id, "--date", "2026-07-01"])
    for amount in ("-1", "0", "1.001"):
        result = runner.invoke(
            app, ["loan", "repay", loan_id, "--amount", amount, "--channel", "unionpay"]
        )
        assert result.exit_code == 2, result.output
        assert loan_id in result.stderr and "amount" in result.stderr
