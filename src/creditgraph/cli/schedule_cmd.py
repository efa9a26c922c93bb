"""``creditgraph schedule``: print a repayment schedule and its all-in annualised rate.

The command only translates: text options become a ``ScheduleRequest``, the schedule comes back as a
table or as JSON with amounts as strings. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from creditgraph.console.display import percent, yuan
from creditgraph.money import MoneyError
from creditgraph.servicing import (
    AllInRateError,
    DayCount,
    Frequency,
    GraceType,
    Method,
    RateBasis,
    Schedule,
    ScheduleError,
    ScheduleRequest,
    generate_schedule,
    schedule_all_in_rate,
)

console = Console()

METHODS = " | ".join(m.value for m in Method)
DAY_COUNTS = " | ".join(d.value for d in DayCount)


class InputError(ValueError):
    """A command-line value that cannot be read."""


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise InputError(f"{what} must be a finite number, got {text!r}")
    return value


def parse_rate(text: str) -> Decimal:
    """``0.049`` or ``4.9%`` as the fraction 0.049; a bare number above 1 is taken for a mistake."""
    cleaned = text.strip()
    if cleaned.endswith("%"):
        return _decimal(cleaned[:-1], "annual rate") / 100
    value = _decimal(cleaned, "annual rate")
    if value > 1:
        raise InputError(
            f"annual rate {cleaned} would be {value * 100}%; write {cleaned}% or {value / 100}"
        )
    return value


def _integer(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InputError(f"{what} must be a whole number, got {text!r}") from None


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} must be a date as YYYY-MM-DD, got {text!r}") from None


def _required(value: str | None, option: str) -> str:
    if value is None:
        raise InputError(f"missing {option}")
    return value


def build_request(
    *,
    principal: str | None,
    annual_rate: str | None,
    periods: str | None,
    method: str | None,
    frequency: str,
    day_count: str,
    start: str | None,
    first_due: str | None,
    fee: str,
    period_fee: str,
    grace: str,
    grace_type: str,
) -> ScheduleRequest:
    """The request the options describe; raises ``InputError`` or ``ScheduleError`` if bad."""
    return ScheduleRequest(
        principal=_decimal(_required(principal, "--principal"), "principal"),
        annual_rate=parse_rate(_required(annual_rate, "--annual-rate")),
        periods=_integer(_required(periods, "--periods"), "periods"),
        method=Method(_choice(_required(method, "--method"), Method, "method")),
        start=date.today() if start is None else _date(start, "start"),
        first_due=None if first_due is None else _date(first_due, "first due date"),
        frequency=Frequency(_choice(frequency, Frequency, "frequency")),
        day_count=DayCount(_choice(day_count, DayCount, "day count")),
        upfront_fee=_decimal(fee, "fee"),
        fee_per_period=_decimal(period_fee, "period fee"),
        grace_periods=_integer(grace, "grace"),
        grace=GraceType(_choice(grace_type, GraceType, "grace type")),
    )


def _choice(value: str, kind: type[Method | Frequency | DayCount | GraceType], what: str) -> str:
    cleaned = value.strip().lower().replace("-", "_")
    names = [member.value for member in kind]
    if cleaned not in names:
        raise InputError(f"unknown {what} {value!r}; expected one of {', '.join(names)}")
    return cleaned


def _rates(schedule: Schedule) -> dict[str, str]:
    return {
        "nominal": str(schedule_all_in_rate(schedule, basis=RateBasis.NOMINAL)),
        "effective": str(schedule_all_in_rate(schedule, basis=RateBasis.EFFECTIVE)),
    }


def _print_table(schedule: Schedule, rates: dict[str, str]) -> None:
    request = schedule.request
    title = (
        f"{request.method.value}  {yuan(request.principal)} at "
        f"{percent(str(request.annual_rate), 4)}  "
        f"{request.periods} x {request.frequency.value}  {request.day_count.value}"
    )
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for name in ("n", "due date", "opening", "principal", "interest", "fee", "payment", "closing"):
        table.add_column(name, justify="left" if name == "due date" else "right", no_wrap=True)
    for row in schedule.rows:
        table.add_row(
            str(row.n),
            row.due_date.isoformat(),
            yuan(row.opening_principal),
            yuan(row.principal),
            yuan(row.interest),
            yuan(row.fee),
            yuan(row.payment),
            yuan(row.closing_principal),
        )
    totals = schedule.totals
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        yuan(totals.principal),
        yuan(totals.interest),
        yuan(totals.fee),
        yuan(totals.payment),
        "",
    )
    # Never squeeze amounts into ellipses: print at least as wide as the table needs.
    natural = console.measure(table, options=console.options.update(max_width=10_000)).maximum
    wide = Console(width=max(console.width, natural)) if natural > console.width else console
    wide.print(table)
    if request.upfront_fee:
        console.print(
            f"upfront fee {yuan(request.upfront_fee)}; "
            f"amount received {yuan(schedule.net_disbursement)}",
            highlight=False,
        )
    console.print(
        f"all-in annualised rate (综合年化成本, IRR x {request.periods_per_year}): "
        f"{percent(rates['nominal'], 4)}  effective: {percent(rates['effective'], 4)}",
        highlight=False,
    )


def schedule_command(
    principal: str | None = typer.Option(
        None, "--principal", metavar="YUAN", help="Loan amount in yuan."
    ),
    annual_rate: str | None = typer.Option(
        None, "--annual-rate", metavar="RATE", help="Annual contract rate: 0.049 or 4.9%."
    ),
    periods: str | None = typer.Option(
        None, "--periods", metavar="N", help="Number of instalments."
    ),
    method: str | None = typer.Option(None, "--method", metavar="METHOD", help=METHODS),
    frequency: str = typer.Option(
        "monthly", "--frequency", metavar="FREQ", help="monthly | biweekly | weekly"
    ),
    day_count: str = typer.Option(
        "periodic",
        "--day-count",
        metavar="BASIS",
        help=f"{DAY_COUNTS}; periodic is annual / 12 per month, as bank calculators quote.",
    ),
    start: str | None = typer.Option(
        None, "--start", metavar="DATE", help="Disbursement date (default today)."
    ),
    first_due: str | None = typer.Option(
        None,
        "--first-due",
        metavar="DATE",
        help="First due date (default one period after the start).",
    ),
    fee: str = typer.Option(
        "0", "--fee", metavar="YUAN", help="Upfront fee, deducted from the amount received."
    ),
    period_fee: str = typer.Option(
        "0", "--period-fee", metavar="YUAN", help="Fee added to every instalment."
    ),
    grace: str = typer.Option("0", "--grace", metavar="K", help="Grace periods at the start."),
    grace_type: str = typer.Option(
        "interest_only", "--grace-type", metavar="TYPE", help="interest_only | full"
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable JSON (amounts as text)."),
) -> None:
    """Print a repayment schedule, its totals and the all-in annualised rate."""
    try:
        request = build_request(
            principal=principal,
            annual_rate=annual_rate,
            periods=periods,
            method=method,
            frequency=frequency,
            day_count=day_count,
            start=start,
            first_due=first_due,
            fee=fee,
            period_fee=period_fee,
            grace=grace,
            grace_type=grace_type,
        )
        schedule = generate_schedule(request)
        rates = _rates(schedule)
    except (InputError, ScheduleError, AllInRateError, MoneyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        data: dict[str, Any] = schedule.as_dict()
        data["all_in_rate"] = rates
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_table(schedule, rates)


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule_command)
