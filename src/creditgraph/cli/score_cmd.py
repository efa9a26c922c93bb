"""``creditgraph score``: score everyone as of a date with the champion (or a named version)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.console.display import json_text, print_table, write_table

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def score(
    as_of: str = typer.Option(..., "--as-of", help="Score with features as of this date."),
    model: str | None = typer.Option(None, "--model", help="A version id (default: the champion)."),
    out: Path | None = typer.Option(
        None, "--out", metavar="FILE", help="Also write every person's score (.csv or .parquet)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document, nothing else."),
) -> None:
    """Batch-score every person into the scores table; prints the grade mix."""
    from creditgraph.scoring.registry import RegistryError
    from creditgraph.scoring.service import score_all
    from creditgraph.settings import get_settings

    try:
        day = datetime.strptime(as_of, "%Y-%m-%d").date()
    except ValueError:
        raise _fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    if out is not None and not out.name.lower().endswith((".csv", ".parquet", ".pq")):
        raise _fail(f"--out {out}: unknown output type; use .csv or .parquet")
    try:
        with err.status(f"scoring everyone as of {day}…"):
            result = score_all(get_settings(), day, model_id=model, keep_rows=out is not None)
        if out is not None and result.table is not None:
            write_table(result.table, out)
    except (RegistryError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        document = {
            "model_id": result.model_id,
            "as_of": result.as_of,
            "rows": result.rows,
            "grades": result.grades,
            "out": None if out is None else str(out),
        }
        typer.echo(json_text(document))
        return
    table = Table(title=f"{result.rows:,} people scored by {result.model_id} as of {day}")
    table.add_column("grade 等级")
    table.add_column("people 人数", justify="right")
    table.add_column("share 占比", justify="right")
    for grade, count in result.grades.items():
        table.add_row(grade, f"{count:,}", f"{100 * count / max(result.rows, 1):.1f}%")
    print_table(console, table)
    if out is not None:
        console.print(f"wrote {out}", highlight=False, markup=False, soft_wrap=True)
