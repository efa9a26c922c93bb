"""Repayment files: each payment its own savepoint; refused rows reported with nothing posted,
the rest posted; a rerun posts nothing twice (both databases, and the CLI)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from creditgraph.cli import loan_cmd
from creditgraph.servicing.errors import IdempotencyConflictError, LoanError
from creditgraph.servicing.ledger import trial_balance
from creditgraph.servicing.loans import LoanService, Payment
from creditgraph.servicing.posting import PostingResult
from creditgraph.settings import get_settings
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import JournalLine
from tests.loan_world import active_loan, loan_row

PAY_DAY = date(2026, 8, 1)


def _lines(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalLine)).scalar_one())


def test_a_batch_posts_the_good_payments_and_refuses_the_bad_alone(engine: Engine) -> None:
    service = LoanService(engine)
    first, second = active_loan(service), active_loan(service)
    service.repay(first, "100.00", PAY_DAY, key="earlier")
    payments = [
        Payment(first, "1066.19", PAY_DAY, "b-1"),
        Payment(second, "-5", PAY_DAY, "b-2"),  # negative: refused
        Payment("LN-nope", "10.00", PAY_DAY, "b-3"),  # unknown loan: refused
        Payment(second, "1066.19", PAY_DAY, "earlier"),  # key used for another body: refused
        Payment(first, "100.00", PAY_DAY, "earlier"),  # the same request again: a replay
        Payment(second, "1066.19", PAY_DAY, "b-6"),
    ]
    results = service.repay_many(payments, chunk_size=4)
    kinds = [type(r).__name__ for r in results]
    assert isinstance(results[0], PostingResult) and not results[0].replayed
    assert isinstance(results[1], LoanError) and "amount" in str(results[1])
    assert isinstance(results[2], LoanError) and "LN-nope" in str(results[2])
    assert isinstance(results[3], IdempotencyConflictError), kinds
    assert isinstance(results[4], PostingResult) and results[4].replayed
    assert isinstance(results[5], PostingResult) and not results[5].replayed
    assert Decimal(trial_balance(engine)["difference"]) == 0
    # the second loan took exactly one payment: the refused rows left nothing behind
    assert loan_row(engine, second)["credit_fen"] == 0
    lines = _lines(engine)
    again = service.repay_many(payments)
    assert [isinstance(r, PostingResult) and r.replayed for r in again] == [
        True,
        False,
        False,
        False,
        True,
        True,
    ]
    assert _lines(engine) == lines  # a rerun of the file posts nothing twice


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    loan_cmd.register(app)
    return app


def test_repay_file_reports_bad_rows_by_file_row_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: typer.Typer
) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(get_settings().database_url)
    try:
        upgrade(engine)
        loan = active_loan(LoanService(engine))
        payments = tmp_path / "payments.csv"
        payments.write_text(
            "loan_id,amount,business_date,idempotency_key\n"
            f"{loan},1066.19,2026-08-01,f-1\n"
            f"{loan},12.345,2026-08-01,f-2\n"
            f"{loan},10.00,2026-13-01,f-3\n"
            f"{loan},,2026-08-01,f-4\n"
        )
        errors = tmp_path / "refused.csv"
        runner = CliRunner()
        result = runner.invoke(
            app,
            [
                "loan",
                "repay-file",
                str(payments),
                "--channel",
                "unionpay",
                "--errors-out",
                str(errors),
            ],
        )
        assert result.exit_code == 1, result.output
        assert "1 posted, 0 already posted (same key), 3 refused" in result.output
        assert "payments.csv row 3 business_date: is not a date" in result.output
        assert "payments.csv row 4 amount: is empty" in result.output
        assert "payments.csv row 2:" in result.output and "decimals" in result.output
        assert "Traceback" not in result.output
        assert len(errors.read_text().splitlines()) == 4  # header and three refused rows
        rerun = runner.invoke(app, ["loan", "repay-file", str(payments), "--channel", "unionpay"])
        assert "0 posted, 1 already posted (same key), 3 refused" in rerun.output
        missing = tmp_path / "bad.csv"
        missing.write_text("loan_id,amount\nx,1\n")
        broken = runner.invoke(app, ["loan", "repay-file", str(missing), "--channel", "unionpay"])
        assert broken.exit_code == 2 and "missing column(s) business_date" in broken.output
    finally:
        engine.dispose()
        get_settings.cache_clear()
