"""``creditgraph backtest``: score past applications, each with features as of its own date.

Thin: reads the files, calls ``creditgraph.backtest``, writes the rows, the summary and the report.
Problems are one line on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.console.display import json_text, print_table, write_table

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest_cmd)


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def backtest_cmd(
    applications: Path = typer.Argument(
        ..., metavar="FILE", help="CSV or Parquet: person_id, applied_at[, product, amount, term]."
    ),
    model: str | None = typer.Option(None, "--model", help="A version id (default: the champion)."),
    decide: bool = typer.Option(
        False, "--decide", help="Also decide (approve/decline/refer, limit, price); nothing stored."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", metavar="FILE", help="CSV or Parquet: person_id, applied_at, bad."
    ),
    out: Path | None = typer.Option(
        None, "--out", metavar="FILE", help="Write one row per application (.csv or .parquet)."
    ),
    report: Path | None = typer.Option(
        None, "--report", metavar="FILE.html", help="With --labels: the validation report."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document, nothing else."),
) -> None:
    """Score a file of past applications with features as of each one's applied_at."""
    from creditgraph.backtest import BacktestError, run_backtest, write_validation_report
    from creditgraph.cli.model_cmd import InputError, read_table
    from creditgraph.console.progress import RowProgress
    from creditgraph.scoring.registry import RegistryError
    from creditgraph.settings import get_settings

    if report is not None and labels is None:
        raise _fail("--report needs --labels: the report measures against outcomes")
    if out is not None and not out.name.lower().endswith((".csv", ".parquet", ".pq")):
        raise _fail(f"--out {out}: unknown output type; use .csv or .parquet")
    try:
        table = read_table(applications)
        label_table = None if labels is None else read_table(labels)
        progress = RowProgress(err) if not as_json else None
        if progress is not None:
            with progress:
                result = run_backtest(
                    get_settings(),
                    table,
                    model_id=model,
                    decide=decide,
                    labels=label_table,
                    progress=lambda d, n, rows: progress.update("as-of dates 特征日期", d, n),
                )
        else:
            result = run_backtest(
                get_settings(), table, model_id=model, decide=decide, labels=label_table
            )
        if out is not None:
            write_table(result.rows, out)
        if report is not None:
            write_validation_report(result, report)
    except (InputError, BacktestError, RegistryError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    summary = result.summary()
    summary["out"] = None if out is None else str(out)
    summary["report"] = None if report is None else str(report)
    if as_json:
        if out is None:
            summary["rows"] = result.rows.to_pylist()
        typer.echo(json_text(summary))
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    console.print(
        f"{summary['applications']:,} applications, {summary['scored']:,} scored by "
        f"{summary['model_id']} with features as of each applied_at "
        f"({summary['feature_dates']:,} as-of dates, {summary['applications_per_second']:,} "
        f"applications/s); {summary['without_features']:,} without features that day",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    grades = Table(title="grades 等级")
    grades.add_column("grade 等级")
    grades.add_column("applications 申请", justify="right")
    for grade, count in summary["grades"].items():
        grades.add_row(grade, f"{count:,}")
    print_table(console, grades)
    if summary["decisions"]:
        mix = ", ".join(f"{k} {v:,}" for k, v in summary["decisions"].items())
        console.print(f"decisions 决策 (not stored): {mix}", highlight=False)
    check = summary["validation"]
    if check is not None:
        auc = "-" if check["auc"] is None else f"{check['auc']:.4f}"
        interval = (
            ""
            if check["auc_low"] is None
            else f" [{check['auc_low']:.4f}, {check['auc_high']:.4f}]"
        )
        ks = "-" if check["ks"] is None else f"{check['ks']:.4f}"
        console.print(
            f"{check['labelled']:,} labelled ({check['bads']:,} bad): AUC {auc}{interval}, "
            f"KS {ks}; {summary['unmatched_labels']:,} label rows matched no application",
            highlight=False,
            soft_wrap=True,
        )
        table = Table(title="calibration by grade 分等级校准")
        for name in ("grade", "applications", "bads", "expected bad rate", "observed bad rate"):
            table.add_column(name, justify="left" if name == "grade" else "right")
        for row in check["calibration_by_grade"]:
            table.add_row(
                row["grade"],
                f"{row['applications']:,}",
                f"{row['bads']:,}",
                f"{row['expected_bad_rate']:.2%}",
                f"{row['observed_bad_rate']:.2%}",
            )
        print_table(console, table)
    for key in ("out", "report"):
        if summary[key]:
            console.print(f"wrote {summary[key]}", highlight=False, markup=False, soft_wrap=True)
