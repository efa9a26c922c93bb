"""``creditgraph keys``: API keys for the HTTP API. The secret is printed once, at creation."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
keys_app = typer.Typer(
    help="API keys for `creditgraph serve`: create, list, revoke, unlock.", no_args_is_help=True
)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@keys_app.command("create")
def keys_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the key, e.g. 'mobile app'."),
    role: str = typer.Option(
        ..., "--role", help="applicant-app, officer, analyst, admin or payment-channel."
    ),
    created_by: str | None = typer.Option(None, "--by", help="Who creates it (default: you)."),
) -> None:
    """Create a key and print its token; only a hash is kept, so copy the token now."""
    from creditgraph.api.keys import KeyStoreError, create_key
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        try:
            created = create_key(db, name, role, created_by or _user())
        except KeyStoreError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2) from None
    info = created.info
    console.print(f"created key {info.id} ({info.name}, {info.role.value})", markup=False)
    console.print("token (shown once, store it now):", markup=False)
    typer.echo(created.token)


@keys_app.command("list")
def keys_list() -> None:
    """List keys: id, name, role, prefix, creation and revocation; never secrets."""
    from creditgraph.api.keys import list_keys
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        keys = list_keys(db)
    if not keys:
        console.print("no API keys; create one with `creditgraph keys create`")
        return
    table = Table("id", "name", "role", "prefix", "created", "by", "revoked")
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            k.role.value,
            k.prefix,
            k.created_at.isoformat(timespec="seconds"),
            k.created_by,
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="The key's id (see `keys list`).")) -> None:
    """Revoke a key: its next request is refused."""
    from creditgraph.api.keys import revoke_key
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        info = revoke_key(db, key_id)
    if info is None:
        err.print(f"error: no API key {key_id}", markup=False, highlight=False)
        raise typer.Exit(2)
    console.print(f"revoked key {info.id} ({info.name})", markup=False)


@keys_app.command("unlock")
def keys_unlock(
    prefix: str | None = typer.Option(
        None, "--prefix", help="Lift the lock-outs of this key prefix (see `keys list`)."
    ),
    all_: bool = typer.Option(False, "--all", help="Lift every current lock-out."),
) -> None:
    """Lift lock-outs left by failed authentications before they expire (the events are kept)."""
    from datetime import timedelta

    from creditgraph.api.lockout import lift
    from creditgraph.store.db import migrated_engine

    if (prefix is None) == (not all_):
        err.print("error: give either --prefix PREFIX or --all", markup=False, highlight=False)
        raise typer.Exit(2)
    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        lifted = lift(db, prefix, timedelta(seconds=settings.auth_lockout_seconds))
    console.print(f"lifted {lifted} lock-out{'s' if lifted != 1 else ''}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
