"""``creditgraph loan ...``: accept, disburse, repay, prepay, reverse, refund, cancel, show.

Thin: every call goes to ``LoanService``. Posting commands take ``--idempotency-key``; when it
is omitted one is generated and printed, so the command can be retried safely with it. Money in
(repay, prepay, repay-file) is the lender's operator posting what a payment channel received:
``--channel`` names it and is recorded on each posting. A refund is paid only when an officer
approves it (``refund --by``). Problems are one line on stderr and exit code 2.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from creditgraph.console.display import percent, yuan
from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from creditgraph.servicing.loans import LoanService
    from creditgraph.servicing.posting import PostingResult

console = Console()
err = Console(stderr=True)
loan_app = typer.Typer(help="Loans: accept an offer, disburse, repay, prepay, reverse.")
T = TypeVar("T")

KEY_HELP = "Idempotency key: a retry with the same key and body posts nothing new."
DATE_HELP = "Business date, YYYY-MM-DD (default: today)."
CHANNEL_HELP = "The payment channel the money came through (recorded on the posting)."
FILE_CHUNK = 500  # payments per commit (and per progress step) of a repayment file
SHOWN_ERRORS = 20


def register(app: typer.Typer) -> None:
    app.add_typer(loan_app, name="loan")


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--date {value!r} is not a date (YYYY-MM-DD)") from None


@contextmanager
def _service() -> Iterator[LoanService]:
    from creditgraph.servicing.loans import LoanService
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        yield LoanService(db)


def _run(call: Callable[[LoanService], T]) -> T:
    """Run a service call; every refusal becomes one line on stderr and exit code 2."""
    from creditgraph.decision.errors import CatalogueError
    from creditgraph.servicing.accounts import UnbalancedPostingError
    from creditgraph.servicing.config import ServicingConfigError
    from creditgraph.servicing.errors import LoanError, ScheduleError
    from creditgraph.servicing.lifecycle import LoanStateError

    try:
        with _service() as service:
            return call(service)
    except (
        LoanError,
        LoanStateError,
        ScheduleError,
        UnbalancedPostingError,
        ServicingConfigError,
        CatalogueError,
    ) as exc:
        raise _fail(str(exc)) from None


def _print_posting(result: PostingResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    again = " (replayed: already posted with this key)" if result.replayed else ""
    console.print(
        f"{result.kind} {result.transaction_id} on loan {result.loan_id}: {result.amount} "
        f"on {result.business_date}; loan is {result.state}{again}",
        highlight=False,
    )
    console.print(f"idempotency key: {result.idempotency_key}", highlight=False)


@loan_app.command("accept")
def accept_cmd(
    decision_id: str = typer.Argument(..., help="An approved decision's id."),
    offer: int = typer.Option(0, "--offer", help="Index of the offer in the decision (0-based)."),
    as_json: bool = typer.Option(False, "--json", help="Print the loan as JSON."),
) -> None:
    """Accept an offer of an approved decision: the loan is created, awaiting disbursement."""
    loan = _run(lambda s: s.accept(decision_id, offer))
    _print_loan(loan, as_json)


@loan_app.command("disburse")
def disburse_cmd(
    loan_id: str = typer.Argument(...),
    on: str | None = typer.Option(None, "--date", help=DATE_HELP),
    key: str | None = typer.Option(None, "--idempotency-key", help=KEY_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pay out an accepted loan; its schedule starts on the business date."""
    day = _date(on)
    _print_posting(_run(lambda s: s.disburse(loan_id, day, key)), as_json)


@loan_app.command("repay")
def repay_cmd(
    loan_id: str = typer.Argument(...),
    amount: str = typer.Option(..., "--amount", help="Amount received, in yuan (e.g. 1200.50)."),
    channel: str = typer.Option(..., "--channel", help=CHANNEL_HELP),
    on: str | None = typer.Option(None, "--date", help=DATE_HELP),
    key: str | None = typer.Option(None, "--idempotency-key", help=KEY_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Post a repayment a payment channel received: penalty, fee, interest, principal (per
    product), oldest due first. More than the loan can take that day is refused."""
    day = _date(on)
    _print_posting(_run(lambda s: s.repay(loan_id, amount, day, key, channel=channel)), as_json)


@loan_app.command("repay-file")
def repay_file_cmd(
    path: Path = typer.Argument(
        ..., help="CSV: loan_id, amount, business_date, idempotency_key (one payment a row)."
    ),
    channel: str = typer.Option(..., "--channel", help="The payment channel that sent the file."),
    errors_out: Path | None = typer.Option(
        None, "--errors-out", help="Write the refused rows (with the reason) to this CSV."
    ),
) -> None:
    """Post a payment channel's repayment file: each row its own posting, the channel recorded
    on each; refused rows reported (file, row, field), the rest posted.

    A rerun of the same file posts nothing twice (every row carries its idempotency key).
    Exit code 1 when any row was refused, 2 when the file cannot be read.
    """
    from creditgraph.servicing.errors import LoanInputError
    from creditgraph.servicing.loans import check_name
    from creditgraph.servicing.payments_file import PaymentsFileError, read_payments
    from creditgraph.servicing.posting import PostingResult

    try:
        check_name(channel, "--channel")
        rows, refused = read_payments(path)
    except (PaymentsFileError, LoanInputError) as exc:
        raise _fail(str(exc)) from None
    payments = [p for _, p in rows]
    results: list[Any] = []
    with _service() as service, Progress(console=err, transient=True) as progress:
        task = progress.add_task("posting repayments", total=len(payments))
        for start in range(0, len(payments), FILE_CHUNK):
            chunk = payments[start : start + FILE_CHUNK]
            results.extend(service.repay_many(chunk, actor=f"file:{path.name}", channel=channel))
            progress.advance(task, len(chunk))
    posted = sum(isinstance(r, PostingResult) and not r.replayed for r in results)
    replayed = sum(isinstance(r, PostingResult) and r.replayed for r in results)
    messages = [str(e) for e in refused]
    for (number, _), result in zip(rows, results, strict=True):
        if not isinstance(result, PostingResult):
            field = getattr(result, "field", None)
            where = f"{path.name} row {number}" + (f" {field}" if field else "")
            messages.append(f"{where}: {result}")
    console.print(
        f"{path.name}: {posted:,} posted, {replayed:,} already posted (same key), "
        f"{len(messages):,} refused",
        highlight=False,
    )
    for message in messages[:SHOWN_ERRORS]:
        err.print(message, markup=False, highlight=False, soft_wrap=True)
    if len(messages) > SHOWN_ERRORS:
        err.print(f"... and {len(messages) - SHOWN_ERRORS:,} more", highlight=False)
    if errors_out is not None and messages:
        with errors_out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["error"])
            writer.writerows([m] for m in messages)
    if messages:
        raise typer.Exit(1)


@loan_app.command("prepay")
def prepay_cmd(
    loan_id: str = typer.Argument(...),
    amount: str | None = typer.Option(None, "--amount", help="Principal to prepay, in yuan."),
    full: bool = typer.Option(False, "--full", help="Prepay all principal (close the loan)."),
    mode: str = typer.Option(
        "shorter_term", "--mode", help="shorter_term (keep instalment) or lower_instalment."
    ),
    channel: str = typer.Option(..., "--channel", help=CHANNEL_HELP),
    on: str | None = typer.Option(None, "--date", help=DATE_HELP),
    key: str | None = typer.Option(None, "--idempotency-key", help=KEY_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Prepay (提前还款) part or all of the principal, with the product's prepayment fee."""
    day = _date(on)
    result = _run(
        lambda s: s.prepay(
            loan_id, day, amount=amount, full=full, mode=mode, key=key, channel=channel
        )
    )
    _print_posting(result, as_json)


@loan_app.command("refund")
def refund_cmd(
    loan_id: str = typer.Argument(..., help="A closed loan with a refund due."),
    by: str = typer.Option(..., "--by", help="The officer approving the payout (recorded)."),
    on: str | None = typer.Option(
        None, "--date", help="Business date (default: the open business date)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pay out the refund due on a closed loan (the credit left at closing), as an officer
    approves it: Dr borrower_credit, Cr cash_clearing. Nothing is refunded without this."""
    day = None if on is None else _date(on)
    refund = _run(lambda s: s.approve_refund(loan_id, by, day))
    if as_json:
        typer.echo(json.dumps(refund, ensure_ascii=False, indent=2))
        return
    console.print(
        f"refund {refund['refund_id']} of loan {loan_id}: {yuan(refund['amount'])} paid on "
        f"{refund['paid_on']}, approved by {refund['approved_by']} "
        f"(transaction {refund['transaction_id']})",
        highlight=False,
    )


@loan_app.command("reverse")
def reverse_cmd(
    transaction_id: str = typer.Argument(..., help="The repayment or prepayment to reverse."),
    on: str | None = typer.Option(None, "--date", help="Business date (default: the original's)."),
    note: str | None = typer.Option(None, "--note", help="Why it is reversed."),
    key: str | None = typer.Option(None, "--idempotency-key", help=KEY_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Reverse a posting: the mirror entries, the allocation undone, the state restored."""
    day = None if on is None else _date(on)
    _print_posting(_run(lambda s: s.reverse(transaction_id, key, day, note=note)), as_json)


@loan_app.command("cancel")
def cancel_cmd(
    loan_id: str = typer.Argument(...),
    note: str | None = typer.Option(None, "--note"),
) -> None:
    """Cancel an accepted loan before it is disbursed."""
    _print_loan(_run(lambda s: s.cancel(loan_id, note=note)), False)


@loan_app.command("show")
def show_cmd(
    loan_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The loan: terms, state, all-in rate, schedule with what is paid and outstanding."""
    _print_loan(_run(lambda s: s.show(loan_id)), as_json)


def _print_loan(loan: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(loan, ensure_ascii=False, indent=2))
        return
    console.print(
        f"loan {loan['loan_id']} ({loan['product_code']}, decision {loan['decision_id']}): "
        f"{loan['state']}  principal {yuan(loan['principal'])} x {loan['periods']} "
        f"({loan['method']})  nominal {percent(loan['nominal_rate'])}  "
        f"all-in 综合年化 {percent(loan['all_in_rate'])}",
        highlight=False,
    )
    console.print(
        f"outstanding principal {yuan(loan['principal_outstanding'])}  "
        f"credit {yuan(loan['credit'])}  "
        f"DPD {loan['dpd']} ({loan['bucket']})  maturity {loan['maturity'] or '-'}",
        highlight=False,
    )
    if not loan["schedule"]:
        return
    table = Table("n", "due", "principal", "interest", "fee", "penalty", "paid", "outstanding")
    for row in loan["schedule"]:
        table.add_row(
            str(row["n"]),
            row["due_date"],
            row["principal"],
            row["interest"],
            row["fee"],
            row["penalty"],
            row["paid"],
            row["outstanding"],
        )
    console.print(table)
