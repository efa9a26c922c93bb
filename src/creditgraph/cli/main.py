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
    _private_home()


def _private_home() -> None:
    """Whatever this run creates is the owner's alone, and an existing home is checked first.

    The home holds personal data (the database's person_identities, the quarantine): one left
    open to group or others is closed with a warning; one owned by another user is refused.
    """
    from pydantic import ValidationError

    from creditgraph.settings import get_settings
    from creditgraph.store.files import ExposedHomeError, secure_home, use_private_umask

    use_private_umask()
    try:
        settings = get_settings()
    except ValidationError:
        return  # the command that reads the settings reports it
    try:
        warnings = secure_home(settings)
    except ExposedHomeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    from creditgraph.privacy.keys import MasterKeyError, check_master_key

    try:
        check_master_key(settings)  # a lost or wrong master key: refuse to start
    except MasterKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _register() -> None:
    # Imported here so that each module's imports are paid only when the CLI starts.
    from creditgraph.cli import commands

    for register in commands.registrars():
        register(app)


_register()
