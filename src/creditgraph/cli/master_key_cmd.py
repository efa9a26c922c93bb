"""``creditgraph master-key``: check the master key, or rotate it so that erasures become final
in the backups too (the old key is destroyed; backups taken before can no longer be read)."""

from __future__ import annotations

import typer

from creditgraph.settings import get_settings

master_key_app = typer.Typer(
    help="The master key that wraps each person's data key: check, rotate.", no_args_is_help=True
)


@master_key_app.command("check")
def master_key_check() -> None:
    """Open the master key and compare it with the database's check value."""
    from creditgraph.privacy.keys import MasterKeyError, master_key_file, open_master_key
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        try:
            provider = open_master_key(db, master_key_file(settings))
        except MasterKeyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"主密钥正确 / master key OK: {provider.key_id}")


@master_key_app.command("rotate")
def master_key_rotate() -> None:
    """Re-wrap every person's data key under a new master key and destroy the old one."""
    from creditgraph.privacy.keys import MasterKeyError, master_key_file
    from creditgraph.privacy.rotation import rotate_master_key
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        try:
            done = rotate_master_key(db, master_key_file(settings))
        except MasterKeyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(
        f"主密钥已轮换，{done.rewrapped} 个数据密钥已重新封装 / master key rotated: "
        f"{done.old_key_id} -> {done.new_key_id}, {done.rewrapped} data keys re-wrapped; "
        "backups taken before now can no longer be read"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(master_key_app, name="master-key")
