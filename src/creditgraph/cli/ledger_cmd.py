"""``creditgraph ledger ...``: the trial balance, a loan's statement and the refunds report."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.console.display import yuan
from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
ledger_app = typer.Typer(help="The double-entry journal: trial balance, loan statements, refunds.")


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


@ledger_app.command("trial-balance")
def trial_balance_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Debits and credits per account; exits 1 if the books do not balance."""
    from creditgraph.servicing.ledger import trial_balance
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        result = trial_balance(db)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        table = Table("account")
        for name in ("debit", "credit", "balance"):
            table.add_column(name, justify="right")
        for row in result["accounts"]:
            table.add_row(
                row["account"], yuan(row["debit"]), yuan(row["credit"]), yuan(row["balance"])
            )
        table.add_row("total", yuan(result["total_debit"]), yuan(result["total_credit"]), "")
        console.print(table)
        console.print(f"difference {yuan(result['difference'])}", highlight=False)
    if not result["balanced"]:
        raise typer.Exit(1)


@ledger_app.command("statement")
def statement_cmd(
    loan_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every posting of a loan with its journal lines, and the loan's balances by account."""
    from creditgraph.servicing.errors import LoanError
    from creditgraph.servicing.ledger import statement
    from creditgraph.store.db import migrated_engine

    try:
        with migrated_engine(get_settings().database_url) as db:
            result = statement(db, loan_id)
    except LoanError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _print_statement(result)


@ledger_app.command("refunds")
def refunds_cmd(
    start: str | None = typer.Option(None, "--from", help="Due or paid on or after, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--to", help="Due or paid on or before, YYYY-MM-DD."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every refund of borrower credit: due (awaiting an officer), paid (who approved it and
    when) or cancelled (its closing payment was reversed)."""
    from creditgraph.servicing.refunds import listing
    from creditgraph.store.db import migrated_engine

    first, last = _day(start, "--from"), _day(end, "--to")
    with migrated_engine(get_settings().database_url) as db, db.connect() as conn:
        rows = listing(conn, first, last)
    if as_json:
        typer.echo(json.dumps({"refunds": rows}, ensure_ascii=False, indent=2))
        return
    for row in rows:  # one line each: long ids would wrap a table
        paid = (
            f"; paid {row['paid_on']}, approved by {row['approved_by']} ({row['transaction_id']})"
            if row["status"] == "paid"
            else ""
        )
        console.print(
            f"{row['due_on']}  {row['loan_id']}  {yuan(row['amount'])}  {row['status']}{paid}",
            highlight=False,
            soft_wrap=True,
        )
    due = sum((Decimal(r["amount"]) for r in rows if r["status"] == "due"), Decimal(0))
    console.print(f"{len(rows):,} refund(s); due, awaiting approval: {yuan(due)}", highlight=False)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def _print_statement(result: dict[str, Any]) -> None:
    console.print(f"statement of loan {result['loan_id']} ({result['state']})", highlight=False)
    table = Table("date", "transaction", "kind", "account", "debit", "credit")
    for posting in result["postings"]:
        kind = posting["kind"] + (" (reversed)" if posting["reversed_by"] else "")
        for k, line in enumerate(posting["lines"]):
            table.add_row(
                posting["business_date"] if k == 0 else "",
                posting["transaction_id"] if k == 0 else "",
                kind if k == 0 else "",
                line["account"],
                yuan(line["debit"]) if line["debit"] != "0.00" else "",
                yuan(line["credit"]) if line["credit"] != "0.00" else "",
            )
    console.print(table)
    for account, balance in result["balances"].items():
        console.print(f"{account}: {yuan(balance)}", highlight=False)
