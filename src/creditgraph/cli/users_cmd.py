"""``creditgraph users``: the people who log in to the web workspace (API keys are for machines).

A password is given with ``--password`` or, better (it stays out of the shell's history), on
standard input; only its argon2 hash is kept. Every change is a recorded workspace action.
"""

from __future__ import annotations

import getpass
import sys

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
users_app = typer.Typer(
    help="Workspace users: create, list, disable, reset (password or lock-out).",
    no_args_is_help=True,
)


def _by(value: str | None) -> str:
    if value:
        return value
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _password(given: str | None, confirm: bool) -> str:
    if given is not None:
        return given
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if confirm and getpass.getpass("again: ") != first:
            err.print("error: the two passwords differ", markup=False, highlight=False)
            raise typer.Exit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _fail(exc: Exception) -> typer.Exit:
    zh = getattr(exc, "zh", None)
    err.print(f"error: {exc}" + (f" / {zh}" if zh else ""), markup=False, highlight=False)
    return typer.Exit(2)


@users_app.command("create")
def users_create(
    name: str = typer.Option(..., "--name", help="The log-in name."),
    role: str = typer.Option(..., "--role", help="officer, analyst, auditor or admin."),
    password: str | None = typer.Option(
        None, "--password", help="The password (at least 12 characters); default: standard input."
    ),
    by: str | None = typer.Option(None, "--by", help="Who creates the user (default: you)."),
) -> None:
    """Create a workspace user."""
    from creditgraph.store.db import migrated_engine
    from creditgraph.web.users import UserError, UserStore

    secret = _password(password, confirm=True)
    with migrated_engine(get_settings().database_url) as db:
        try:
            user = UserStore(db).create(name, role, secret, _by(by))
        except UserError as exc:
            raise _fail(exc) from None
    console.print(f"created user {user.name} ({user.role.value})", markup=False)


@users_app.command("list")
def users_list() -> None:
    """List users: name, role, state; never a password or its hash."""
    from creditgraph.store.db import migrated_engine
    from creditgraph.web.users import UserStore

    with migrated_engine(get_settings().database_url) as db:
        users = UserStore(db).list()
    if not users:
        console.print("no workspace users; create one with `creditgraph users create`")
        return
    table = Table("name", "role", "state")
    for u in users:
        state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
        table.add_row(u.name, u.role.value, state)
    console.print(table)


@users_app.command("disable")
def users_disable(
    name: str = typer.Argument(..., help="The user's log-in name."),
    by: str | None = typer.Option(None, "--by", help="Who disables the user (default: you)."),
) -> None:
    """Disable a user: they cannot log in, and their open sessions end now."""
    from creditgraph.store.db import migrated_engine
    from creditgraph.web.users import UserError, UserStore

    with migrated_engine(get_settings().database_url) as db:
        try:
            UserStore(db).disable(name, _by(by))
        except UserError as exc:
            raise _fail(exc) from None
    console.print(f"disabled user {name}", markup=False)


@users_app.command("reset")
def users_reset(
    name: str = typer.Argument(..., help="The user's log-in name."),
    password: str | None = typer.Option(
        None, "--password", help="A new password; default: read one from standard input."
    ),
    unlock_only: bool = typer.Option(
        False, "--unlock-only", help="Only lift a lock-out and re-enable; keep the password."
    ),
    by: str | None = typer.Option(None, "--by", help="Who resets the user (default: you)."),
) -> None:
    """Re-enable a user and lift a lock-out; set a new password (which ends their sessions)."""
    from creditgraph.store.db import migrated_engine
    from creditgraph.web.users import UserError, UserStore

    secret = None if unlock_only else _password(password, confirm=True)
    with migrated_engine(get_settings().database_url) as db:
        try:
            UserStore(db).reset(name, secret, _by(by))
        except UserError as exc:
            raise _fail(exc) from None
    what = "unlocked" if unlock_only else "reset the password of"
    console.print(f"{what} user {name}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
