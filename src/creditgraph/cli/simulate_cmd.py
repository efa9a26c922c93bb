"""``creditgraph simulate``: write a synthetic population in the input data contract's format."""

from __future__ import annotations

import math
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
    show_report: bool = typer.Option(
        False, "--report", help="Print calibration metrics (alone: measure an existing --out)."
    ),
) -> None:
    """Simulate people, their social graph and loan outcomes, with ground truth in <out>/_truth/."""
    # imported here so that other commands do not pay for numpy, duckdb and igraph at startup
    from creditgraph.simulate import SimulationConfig, report, simulate
    from creditgraph.simulate.config import FORMATS

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
