"""``creditgraph servicing eod --date D``: the end-of-day job of loan servicing.

Thin: the work is ``servicing.eod.run_eod``; this module parses the date, draws progress and
prints what each business date did. Problems are one line on stderr and exit code 2.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from creditgraph.servicing.eod import DayResult

console = Console()
err = Console(stderr=True)
servicing_app = typer.Typer(
    help="Loan servicing batch jobs: the end of day (accrual, arrears, penalty, write-off).",
    no_args_is_help=True,
)
SHOWN_DAYS = 12


def register(app: typer.Typer) -> None:
    app.add_typer(servicing_app, name="servicing")


@servicing_app.callback()
def _servicing() -> None:
    """Loan servicing batch jobs."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def parse_business_date(value: str) -> date:
    """An ISO date (``YYYY-MM-DD``) or a one-line error."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"--date must be a date as YYYY-MM-DD, got {value!r}") from None


@servicing_app.command("eod")
def eod_cmd(
    business_date: str = typer.Option(
        ..., "--date", help="Business date to close, YYYY-MM-DD; skipped dates are run first."
    ),
) -> None:
    """Run the end of day for a business date: accrual, DPD, buckets, penalty, NPA, write-off."""
    from creditgraph.console.progress import RowProgress
    from creditgraph.money import from_fen
    from creditgraph.servicing.config import ServicingConfigError
    from creditgraph.servicing.eod import EodError, run_eod
    from creditgraph.store.db import migrated_engine

    day = parse_business_date(business_date)
    settings = get_settings()
    try:
        with migrated_engine(settings.database_url) as engine, RowProgress(console) as progress:
            result = run_eod(engine, day, timezone=settings.timezone, progress=progress.update)
    except (EodError, ServicingConfigError) as exc:
        raise _fail(str(exc)) from None
    if result.already_done:
        console.print(
            f"end of day {day} already completed (the book is closed through "
            f"{result.closed_through}); nothing to do",
            highlight=False,
        )
        return
    console.print(_summary(result.days))
    written_off = sum(d.written_off_fen for d in result.days)
    console.print(
        f"{len(result.days)} business date(s) closed through {day} in {result.seconds:.1f} s; "
        f"written off {from_fen(written_off):,}",
        highlight=False,
    )


def _summary(days: list[DayResult]) -> Table:
    from creditgraph.money import from_fen

    table = Table(
        title="end of day 日终批处理",
        caption="credit: borrower credit applied to dues; memo: NPA penalty owed, not booked; "
        "overdue: fell overdue that day; w/off: written off; labels: defaults/good",
    )
    columns = (
        "date",
        "loans",
        "credit",
        "accrued",
        "penalty",
        "memo",
        "overdue",
        "cured",
        "NPA",
        "w/off",
        "labels",
    )
    table.add_column("date", no_wrap=True, min_width=10)
    for name in columns[1:]:
        table.add_column(name, justify="right")
    shown = (
        days if len(days) <= SHOWN_DAYS else [*days[: SHOWN_DAYS // 2], *days[-SHOWN_DAYS // 2 :]]
    )
    for k, day in enumerate(shown):
        if len(days) > SHOWN_DAYS and k == SHOWN_DAYS // 2:
            table.add_row("…", *([""] * (len(columns) - 1)))
        table.add_row(
            day.business_date.isoformat(),
            f"{day.loans:,}",
            f"{from_fen(day.credit_applied_fen):,}",
            f"{from_fen(day.accrued_fen):,}",
            f"{from_fen(day.penalty_fen):,}",
            f"{from_fen(day.penalty_memo_fen):,}",
            f"{day.fell_overdue:,}",
            f"{day.cured:,}",
            f"{day.became_npa:,}",
            f"{day.written_off:,}",
            f"{day.defaults_labelled:,}/{day.goods_labelled:,}",
        )
    return table
