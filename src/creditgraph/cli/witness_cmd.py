"""``creditgraph witness``: a partner's C2SP tlog-witness for the lender's audit log.

The witness is the partner's own process, with its own configuration file, key and database
(see ``creditgraph.audit.witness_config``); it needs no creditgraph home. ``init`` makes the
cosigning key and prints its verifier key, which the lender lists in its witness policy;
``key`` prints it again; ``serve`` answers ``POST /add-checkpoint`` on uvicorn.
"""

from __future__ import annotations

from pathlib import Path

import typer

witness_app = typer.Typer(
    help="A witness of an audit log: cosign checkpoints that extend what it saw.",
    no_args_is_help=True,
)

CONFIG_OPTION = typer.Option(..., "--config", help="The witness's TOML configuration file.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@witness_app.command("init")
def witness_init(
    config: Path = CONFIG_OPTION,
    name: str | None = typer.Option(
        None, "--name", help="The witness's key name, e.g. witness.partner-bank.example."
    ),
) -> None:
    """Create the witness's cosigning key (mode 0600) and print its verifier key."""
    from creditgraph.audit.cosignature import format_verifier
    from creditgraph.audit.witness_config import (
        WitnessConfigError,
        create_cosigner,
        load_witness_config,
    )

    try:
        settings = load_witness_config(config)
        chosen = name or settings.name
        if chosen is None:
            raise WitnessConfigError("give the witness a name with --name or `name` in the file")
        signer = create_cosigner(settings, chosen)
    except WitnessConfigError as exc:
        raise _fail(str(exc)) from None
    typer.echo(format_verifier(signer.verifier()))


@witness_app.command("key")
def witness_key(config: Path = CONFIG_OPTION) -> None:
    """Print the witness's cosigning verifier key, for the log's witness policy."""
    from creditgraph.audit.cosignature import format_verifier
    from creditgraph.audit.witness_config import (
        WitnessConfigError,
        load_cosigner,
        load_witness_config,
    )

    try:
        signer = load_cosigner(load_witness_config(config))
    except WitnessConfigError as exc:
        raise _fail(str(exc)) from None
    typer.echo(format_verifier(signer.verifier()))


@witness_app.command("serve")
def witness_serve(
    config: Path = CONFIG_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(7380, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) until stopped."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from creditgraph.audit.witness_app import Witness, create_witness_app
    from creditgraph.audit.witness_config import (
        WitnessConfigError,
        load_cosigner,
        load_witness_config,
    )
    from creditgraph.audit.witness_store import open_store
    from creditgraph.cli.serve_cmd import MAX_HEADER_BYTES, log_config

    try:
        settings = load_witness_config(config)
        signer = load_cosigner(settings)
    except WitnessConfigError as exc:
        raise _fail(str(exc)) from None
    try:
        store = open_store(settings.database)
    except (SQLAlchemyError, OSError) as exc:
        raise _fail(f"{settings.database}: cannot open the witness database: {exc}") from None
    app = create_witness_app(Witness(store, settings.log_keys, [signer]))
    logging = log_config()
    logging["loggers"]["creditgraph.witness"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    typer.echo(f"witness {signer.name} on http://{host}:{port}/add-checkpoint", err=True)
    uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            workers=1,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            timeout_keep_alive=5,
            server_header=False,
            log_config=logging,
        )
    ).run()


def register(app: typer.Typer) -> None:
    app.add_typer(witness_app, name="witness")


if __name__ == "__main__":  # ``python -m creditgraph.cli.witness_cmd`` for a subprocess
    witness_app()
