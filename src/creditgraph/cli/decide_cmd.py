"""``creditgraph decide`` (one application or a file of them) and ``creditgraph review``.

Thin: every call goes to ``DecisionService``; this module only parses options and prints.
Problems are one line on stderr and exit code 2; a batch with refused rows exits 1.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.console.decisions import print_decision
from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from creditgraph.decision.batch import BatchResult
    from creditgraph.decision.service import DecisionService

console = Console()
err = Console(stderr=True)
review_app = typer.Typer(
    help="The human-review queue: referrals and borrowers' review requests.",
    no_args_is_help=True,
)
RESULT_COLUMNS = (
    "row",
    "person",
    "product",
    "status",
    "decision_id",
    "outcome",
    "limit",
    "amount_offered",
    "all_in_rate",
    "error_field",
    "error_rule",
    "error_message",
)


def register(app: typer.Typer) -> None:
    app.command("decide")(decide_cmd)
    app.add_typer(review_app, name="review")


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


@contextmanager
def _service() -> Iterator[DecisionService]:
    from creditgraph.decision.service import DecisionService
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        yield DecisionService(db, settings)


def _resolver(service: DecisionService) -> Callable[[str], str]:
    """Maps the lender's own id (or a pseudonym) to the pseudonym decisions are stored under."""
    from creditgraph.contracts.schema import Namespace
    from creditgraph.features.store import resolve_person
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key

    pseudo = Pseudonymiser(load_or_create_key(get_settings().key_file))
    return lambda person: resolve_person(
        service.engine, person, lambda p: pseudo.one(Namespace.PERSON, p)
    )


def decide_cmd(
    person: str | None = typer.Option(
        None, "--person", help="The person's id (the lender's own, or the pseudonym)."
    ),
    product: str | None = typer.Option(None, "--product", help="Product code, e.g. XFD-GEN."),
    amount: str | None = typer.Option(None, "--amount", help="Amount asked for, in yuan."),
    term: int | None = typer.Option(None, "--term", help="Term in months."),
    purpose: str | None = typer.Option(
        None, "--purpose", help="Loan purpose (default: the product's first)."
    ),
    schedule_type: str | None = typer.Option(
        None, "--schedule-type", help="Repayment method (default: the product's first)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the stored decision as JSON."),
    applications: Path | None = typer.Option(
        None, "--applications", help="CSV or Parquet: person, product, amount, term[, purpose]."
    ),
    out: Path | None = typer.Option(None, "--out", help="With --applications: results CSV."),
) -> None:
    """Decide one application (--person ...) or a file of them (--applications FILE)."""
    single = [person, product, amount, term]
    if applications is not None:
        if any(v is not None for v in single):
            raise _fail("give either --applications or --person/--product/--amount/--term")
        _decide_file(applications, out)
        return
    missing = [
        name
        for name, value in zip(("--person", "--product", "--amount", "--term"), single, strict=True)
        if value is None
    ]
    if missing:
        raise _fail(f"missing {', '.join(missing)} (or give --applications FILE)")
    assert person is not None and product is not None and amount is not None and term is not None
    _decide_one(person, product, amount, term, purpose, schedule_type, as_json)


def _decide_one(
    person: str,
    product: str,
    amount: str,
    term: int,
    purpose: str | None,
    schedule_type: str | None,
    as_json: bool,
) -> None:
    from creditgraph.decision.errors import DecisionInputError
    from creditgraph.decision.service import DecisionServiceError, UnknownPersonError
    from creditgraph.scoring.registry import RegistryError

    try:
        with _service() as service:
            person_id = _resolver(service)(person)
            record = service.decide_for(
                person_id, product, amount, term, purpose=purpose, schedule_type=schedule_type
            )
    except UnknownPersonError:
        raise _fail(f"unknown person {person!r}: no online features") from None
    except (DecisionInputError, DecisionServiceError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    print_decision(console, record)


def _result_rows(result: BatchResult) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, record in zip(result.row_numbers, result.decisions, strict=True):
        rows.append(
            {
                "row": number,
                "person": record["person_id"],
                "product": record["product_code"],
                "status": "decided",
                "decision_id": record["id"],
                "outcome": record["outcome"],
                "limit": record["limit"],
                "amount_offered": record["amount_offered"],
                "all_in_rate": record["all_in_rate"],
            }
        )
    for error in result.errors:
        rows.append(
            {
                "row": error.row,
                "status": "error",
                "error_field": error.field,
                "error_rule": error.rule,
                "error_message": error.message,
            }
        )
    rows.sort(key=lambda r: int(r["row"]))
    return rows


def _decide_file(path: Path, out: Path | None) -> None:
    from creditgraph.decision.batch import BatchInputError
    from creditgraph.scoring.registry import RegistryError

    try:
        with _service() as service:
            result = service.decide_batch(path, resolve=_resolver(service), compact=True)
    except (BatchInputError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    if out is not None:
        try:
            with out.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, restval="")
                writer.writeheader()
                writer.writerows(_result_rows(result))
        except OSError as exc:
            raise _fail(f"{out}: cannot write it ({exc.strerror})") from None
    outcomes = result.outcomes()
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())) or "none"
    console.print(
        f"{len(result.decisions):,} decided ({mix}); {len(result.errors):,} row problem(s)"
        + (f"; results in {out}" if out else ""),
        highlight=False,
    )
    for error in result.errors[:20]:
        err.print(
            f"{error.file}: row {error.row}: {error.field}: {error.message} [{error.rule}]",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if len(result.errors) > 20:
        err.print(f"... and {len(result.errors) - 20:,} more row problems", markup=False)
    if result.errors:
        raise typer.Exit(1)


def _review_call(action: str, *args: Any) -> dict[str, Any]:
    from creditgraph.decision.service import DecisionServiceError

    try:
        with _service() as service:
            result: dict[str, Any] = getattr(service, action)(*args)
            return result
    except DecisionServiceError as exc:
        raise _fail(str(exc)) from None


@review_app.command("list")
def review_list(
    status: str = typer.Option("open", "--status", help="open, taken, approved, declined or all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Review requests waiting (or in another state), oldest first."""
    from creditgraph.decision.service import DecisionServiceError

    try:
        with _service() as service:
            queue = service.review_queue(None if status == "all" else status)
    except DecisionServiceError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(queue, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(queue)} review request(s) ({status})")
    for column in ("id", "decision", "kind", "status", "requested by", "taken by", "since"):
        table.add_column(column, overflow="fold")
    for item in queue:
        table.add_row(
            item["id"],
            item["decision_id"],
            item["kind"],
            item["status"],
            item["requested_by"],
            item["taken_by"] or "",
            item["created_at"],
        )
    console.print(table)


@review_app.command("request")
def review_request(
    decision: str = typer.Argument(..., help="The decision to review."),
    by: str = typer.Option(..., "--by", help="Who asks (the borrower's reference)."),
    note: str | None = typer.Option(None, "--note", help="What the borrower says."),
) -> None:
    """Record a borrower's request for a human review (PIPL Art. 24)."""
    item = _review_call("request_review", decision, by, note)
    console.print(f"review request {item['id']} opened for decision {decision}")


@review_app.command("take")
def review_take(
    request: str = typer.Argument(..., help="The review request's id."),
    officer: str = typer.Option(..., "--officer", help="The loan officer taking it."),
) -> None:
    """Take an open review request."""
    item = _review_call("take", request, officer)
    console.print(f"review request {item['id']} taken by {item['taken_by']}")


def _resolve(request: str, officer: str, note: str, approve: bool) -> None:
    item = _review_call("resolve", request, officer, approve, note)
    console.print(f"review request {item['id']} {item['status']} by {item['resolved_by']}")


@review_app.command("approve")
def review_approve(
    request: str = typer.Argument(..., help="The review request's id."),
    officer: str = typer.Option(..., "--officer", help="The loan officer deciding."),
    note: str = typer.Option(..., "--note", help="Why (kept in the audit trail)."),
) -> None:
    """Approve after human review."""
    _resolve(request, officer, note, approve=True)


@review_app.command("decline")
def review_decline(
    request: str = typer.Argument(..., help="The review request's id."),
    officer: str = typer.Option(..., "--officer", help="The loan officer deciding."),
    note: str = typer.Option(..., "--note", help="Why (kept in the audit trail)."),
) -> None:
    """Decline after human review."""
    _resolve(request, officer, note, approve=False)
