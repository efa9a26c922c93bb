"""The ``creditgraph`` command. Each concern lives in its own module and registers its commands."""

from __future__ import annotations

import typer

from creditgraph import __version__

app = typer.Typer(
    name="creditgraph",
    help="Credit from social-network data: ingest, graph, score, decide, service, monitor, prove.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"creditgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """creditgraph command line."""


def _register() -> None:
    # Imported here so that each module's imports are paid only when the CLI starts.
    from creditgraph.cli import commands

    for register in commands.registrars():
        register(app)


_register()
