"""``creditgraph simulate``: write a synthetic population in the input data contract's format."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

# Calibration targets shown beside the measured values.
TARGETS: dict[str, str] = {
    "degree_mean": "5 - 12",
    "degree_max": "<= 300",
    "clustering_global": "0.10 - 0.20",
    "giant_component_share": "> 0.95",
    "default_rate": "configured rate",
    "homophily_ratio": "about 2",
    "fraud_ring_share": "0.005 - 0.01",
    "consent_coverage_rows": "most rows; a few % for the gate",
}


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _format_value(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if name.startswith("rows.") or name in {"people", "tie_pairs", "degree_max", "fraud_rings"}:
        return f"{value:,.0f}"
    return f"{value:.4f}"


def contract_check() -> Callable[[list[dict[str, object]]], None]:
    """Every simulated event checked against the event contract before it is written."""
    from datetime import UTC, datetime

    from creditgraph.monitoring.validate import validate_batch

    now = datetime.now(UTC)

    def check(events: list[dict[str, object]]) -> None:
        result = validate_batch(events, now)
        if result.errors:
            first = result.errors[0]
            raise ValueError(
                f"simulated event {first.event_id} breaks the event contract: field "
                f"{first.field}, rule {first.rule}: {first.message} "
                f"({len(result.errors)} errors in its chunk)"
            )

    return check


def print_report(metrics: dict[str, float], console: Console) -> None:
    table = Table(title="Calibration", show_lines=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("target")
    for name, value in metrics.items():
        table.add_row(name, _format_value(name, value), TARGETS.get(name, ""))
    console.print(table)


def simulate_command(
    out: Path = typer.Option(..., "--out", help="Output directory (one file per contract table)."),
    people: int | None = typer.Option(None, "--people", help="Number of people to simulate."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    with_bad_rows: bool = typer.Option(
        False, "--with-bad-rows", help="Add about 0.5% deliberately malformed rows."
    ),
    default_rate: float = typer.Option(0.08, "--default-rate", help="Share of loans that default."),
    fraud_share: float = typer.Option(
        0.0075, "--fraud-share", help="Share of people in fraud rings."
    ),
    end_date: str = typer.Option(
        "2026-06-30", "--end-date", help="Last day of the simulated world."
    ),
    months: int = typer.Option(
        12, "--months", help="Months of history before the first application."
    ),
    activity_days: int = typer.Option(30, "--activity-days", help="Days of activity_daily kept."),
    events: bool = typer.Option(
        False,
        "--events",
        help="Also write the event stream of the same world (_events/events.jsonl, "
        "_events/servicing_events.jsonl) and its planted ground truth (_truth/events_truth.json).",
    ),
    event_months: int = typer.Option(
        3, "--event-months", help="With --events: months of events, ending at --event-end."
    ),
    event_end: str | None = typer.Option(
        None,
        "--event-end",
        help="With --events: last day of the event window (default: the world's last day).",
    ),
    show_report: bool = typer.Option(
        False, "--report", help="Print calibration metrics (alone: measure an existing --out)."
    ),
) -> None:
    """Simulate people, their social graph and loan outcomes, with ground truth in <out>/_truth/."""
    # imported here so that other commands do not pay for numpy, duckdb and igraph at startup
    from creditgraph.simulate import SimulationConfig, report, simulate
    from creditgraph.simulate.config import FORMATS
    from creditgraph.simulate.events import write_events_of

    console = Console()
    if people is None:
        if not show_report:
            raise _fail("give --people N to simulate, or --report to measure an existing --out")
        try:
            metrics = report(out)
        except Exception as exc:  # one clean line, never a traceback
            raise _fail(str(exc)) from None
        print_report(metrics, console)
        return
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    try:
        end = date.fromisoformat(end_date)
    except ValueError:
        raise _fail(
            f"--end-date must be an ISO date such as 2026-06-30 (got {end_date!r})"
        ) from None
    try:
        config = SimulationConfig(
            people=people,
            seed=seed,
            default_rate=default_rate,
            fraud_share=fraud_share,
            end_date=end,
            months=months,
            activity_days=activity_days,
            with_bad_rows=with_bad_rows,
            fmt=fmt,  # type: ignore[arg-type]  # checked against FORMATS above
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None

    window_end: date | None = None
    if event_end is not None:
        try:
            window_end = date.fromisoformat(event_end)
        except ValueError:
            raise _fail(
                f"--event-end must be an ISO date such as 2025-06-30 (got {event_end!r})"
            ) from None
        if window_end > end:
            raise _fail(f"--event-end must not be after --end-date {end} (got {window_end})")
    if event_months < 1:
        raise _fail(f"--event-months must be at least 1 (got {event_months})")

    err = Console(stderr=True)
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    tasks: dict[str, TaskID] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        with Progress(*columns, console=err, transient=False) as bar:

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=max(total, 1))
                bar.update(tasks[stage], completed=done, total=max(total, 1))

            result = simulate(config, out, progress)
            if events:
                progress("events", 0, 1)
                stream = write_events_of(
                    config, out, event_months, window_end, check=contract_check()
                )
                progress("events", 1, 1)
        measured = report(out) if show_report else None
    except Exception as exc:  # one clean line, never a traceback
        raise _fail(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)) from None

    total_rows = sum(result.rows.values())
    console.print(
        f"wrote {total_rows:,} rows in {result.seconds:.1f} s to {result.out_dir} "
        f"(ground truth: {result.truth_path})",
        highlight=False,
        soft_wrap=True,
    )
    if events:
        console.print(
            f"wrote {stream.events:,} events from {stream.start:%Y-%m-%d} to "
            f"{stream.end:%Y-%m-%d} in {stream.seconds:.1f} s to {stream.events_path.parent} "
            f"(ground truth: {stream.truth_path})",
            highlight=False,
            soft_wrap=True,
        )
    if result.bad_rows:
        console.print(
            f"bad rows: {sum(result.bad_rows.values()):,} (listed in {result.bad_rows_path})",
            highlight=False,
            soft_wrap=True,
        )
    if measured is not None:
        print_report(measured, console)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the CLI."""
    app.command("simulate")(simulate_command)
