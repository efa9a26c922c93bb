"""``creditgraph demo``: the whole flow on a synthetic world, stage by stage."""

from __future__ import annotations

import typer
from rich.console import Console

from creditgraph.ingest.errors import IngestInputError
from creditgraph.settings import get_settings


def demo_command(
    people: int = typer.Option(
        20_000, "--people", min=100, help="Size of the synthetic population."
    ),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same world."),
) -> None:
    """Simulate a population and run it through the platform, printing what each stage did."""
    from creditgraph.demo import run_demo

    console = Console()
    try:
        run_demo(get_settings(), people, seed, console)
    except IngestInputError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
