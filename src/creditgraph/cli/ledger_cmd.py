"""``creditgraph ledger ...``: the trial balance and a loan's statement."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.cli.display import yuan
from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
ledger_app = typer.Typer(help="The double-entry journal: trial balance, loan statements.")


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
