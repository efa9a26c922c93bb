"""``creditgraph score``: score everyone as of a date with the champion (or a named version)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def score(
    as_of: str = typer.Option(..., "--as-of", help="Score with features as of this date."),
    model: str | None = typer.Option(None, "--model", help="A version id (default: the champion)."),
) -> None:
    """Batch-score every person into the scores table; prints the grade mix."""
    from creditgraph.scoring.registry import RegistryError
    from creditgraph.scoring.service import score_all
    from creditgraph.settings import get_settings

    try:
        day = datetime.strptime(as_of, "%Y-%m-%d").date()
    except ValueError:
        err.print(f"error: --as-of {as_of!r} is not a date (YYYY-MM-DD)", markup=False)
        raise typer.Exit(2) from None
    try:
        with console.status(f"scoring everyone as of {day}…"):
            result = score_all(get_settings(), day, model_id=model)
    except RegistryError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    table = Table(title=f"{result.rows:,} people scored by {result.model_id} as of {day}")
    table.add_column("grade 等级")
    table.add_column("people 人数", justify="right")
    table.add_column("share 占比", justify="right")
    for grade, count in result.grades.items():
        table.add_row(grade, f"{count:,}", f"{100 * count / max(result.rows, 1):.1f}%")
    console.print(table)
