"""``creditgraph ingest`` and ``creditgraph db``: bring data in, keep the schema current."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from creditgraph.console.batches import batch_table
from creditgraph.console.progress import RowProgress
from creditgraph.ingest.errors import IngestInputError
from creditgraph.ingest.recovery import Recovery
from creditgraph.ingest.service import (
    REPORTED_AT_DEFAULTS,
    BatchReport,
    FileReport,
)
from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)


def ingest_command(
    paths: list[Path] = typer.Argument(..., help="Files (CSV, JSONL, Parquet), one per table."),
    table: str | None = typer.Option(
        None, "--table", help="Table of every file, if not from names."
    ),
    batch_name: str | None = typer.Option(None, "--batch-name", help="A name for this batch."),
    source: str | None = typer.Option(
        None, "--source", help="Social source of rows that carry no source column."
    ),
    reported_at_default: str = typer.Option(
        "ingest-time",
        "--reported-at-default",
        help="Date of an external-loan report without reported_at: ingest-time (unseen by "
        "every earlier as-of date) or opened_at (for historical loads).",
    ),
    max_quarantined_share: float = typer.Option(
        1.0,
        "--max-quarantined-share",
        help="Exit 3 when more than this share of a file's rows is quarantined (always when "
        "all are); the rows that passed are still stored.",
    ),
) -> None:
    """Validate, pseudonymise and store a batch; bad rows go to the quarantine.

    Exit 3 when a file's quarantined share passes --max-quarantined-share (a warning: the
    good rows are stored); exit 2 when the batch cannot be read.
    """
    from creditgraph.ingest.service import ingest

    if reported_at_default not in REPORTED_AT_DEFAULTS:
        _fail(
            f"--reported-at-default must be one of {', '.join(REPORTED_AT_DEFAULTS)} "
            f"(got {reported_at_default!r})"
        )
    if not 0.0 <= max_quarantined_share <= 1.0:
        _fail(f"--max-quarantined-share must be between 0 and 1 (got {max_quarantined_share:g})")
    settings = get_settings()
    try:
        with RowProgress(console) as progress:
            report = ingest(
                paths,
                settings,
                table=table,
                batch_name=batch_name,
                source=source,
                progress=progress.update,
                reported_at_default=reported_at_default,
            )
    except IngestInputError as exc:
        _fail(str(exc))
    for line in recovery_lines(report.recovery):
        console.print(line, markup=False, highlight=False)
    console.print(batch_table(report))
    reasons = report.reasons()
    if reasons:
        console.print(
            "quarantine reasons: " + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common())
        )
        console.print(f"quarantine: {settings.quarantine_dir / report.batch_id}")
    ignored = sorted({c for f in report.files for c in f.ignored_columns})
    if ignored:
        console.print(f"columns not in the contract, not stored: {', '.join(ignored)}")
    for line in summary_lines(report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    over = report.over_limit(max_quarantined_share)
    if over:
        err.print(
            over_limit_line(over, max_quarantined_share),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(3)


def _fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def summary_lines(report: BatchReport) -> list[str]:
    """Nulled optional values and undated external-loan reports: stored, but worth knowing."""
    lines = []
    nulled = report.nulled()
    if nulled:
        lines.append(
            f"nulled fields (row stored, invalid optional value set to null) "
            f"{sum(nulled.values()):,}: " + ", ".join(f"{k} {v:,}" for k, v in nulled.most_common())
        )
    undated = report.dated_at_ingest()
    if undated:
        lines.append(
            f"external_loans: {undated:,} report{'s' if undated != 1 else ''} without reported_at "
            "dated at the ingest time, so unseen by every earlier as-of date "
            "(--reported-at-default opened_at dates them at opened_at)"
        )
    opened = report.dated_at_opened()
    if opened:
        lines.append(
            f"external_loans: {opened:,} report{'s' if opened != 1 else ''} without reported_at "
            "dated at their opened_at (--reported-at-default opened_at)"
        )
    return lines


def over_limit_line(files: list[FileReport], max_share: float) -> str:
    """One line: which files passed the quarantine limit, and that the rest was stored."""
    parts = ", ".join(
        f"{f.path.name} {f.quarantined:,} of {f.rows_read:,} rows ({f.quarantined_share:.0%})"
        for f in files
    )
    return (
        f"warning: quarantined share over --max-quarantined-share {max_share:g}: {parts}; "
        "the rows that passed were stored (exit 3)"
    )


def recovery_lines(recovery: Recovery) -> list[str]:
    """What this run found of batches killed earlier, and what it did about it."""
    lines = [
        f"recovered: batch {batch} was abandoned by its process, now failed"
        for batch in recovery.failed
    ]
    if recovery.published:
        n = len(recovery.published)
        lines.append(f"recovered: {n} staged file{'s' if n != 1 else ''} published (committed)")
    if recovery.removed:
        n = len(recovery.removed)
        lines.append(f"recovered: {n} file{'s' if n != 1 else ''} never committed, removed")
    return lines


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from creditgraph.store.db import make_engine, upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        now = upgrade(engine, revision)
    finally:
        engine.dispose()
    console.print(f"database at revision {now}")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    from creditgraph.store.db import current_revision, head_revision, make_engine

    engine = make_engine(get_settings().database_url)
    try:
        console.print(f"current {current_revision(engine)}  head {head_revision()}")
    finally:
        engine.dispose()


contract_app = typer.Typer(help="The input data contract.", no_args_is_help=True)


@contract_app.command("docs")
def contract_docs() -> None:
    """Print the data contract as Markdown (the source of docs/data-contract.md)."""
    from creditgraph.contracts.docs import render_markdown

    typer.echo(render_markdown(), nl=False)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.add_typer(db_app, name="db")
    app.add_typer(contract_app, name="contract")
