"""``creditgraph privacy``: data-subject requests."""

from __future__ import annotations

import typer
from rich.console import Console

from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
privacy_app = typer.Typer(help="Data-subject requests (PIPL).", no_args_is_help=True)


@privacy_app.command("erase")
def privacy_erase(
    person: str = typer.Argument(..., help="The person's id (the lender's own, or the pseudonym)."),
    request_ref: str | None = typer.Option(None, "--request-ref", help="The request's reference."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: erasure cannot be undone."),
) -> None:
    """Erase a person: delete their records, refuse their data from now on, drop them from reads."""
    from creditgraph.contracts.schema import Namespace
    from creditgraph.features.store import resolve_person
    from creditgraph.privacy.erasure import erase
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
    from creditgraph.store.db import migrated_engine

    if not yes:
        err.print("error: erasure cannot be undone; add --yes to confirm", markup=False)
        raise typer.Exit(2)
    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        pseudo = Pseudonymiser(load_or_create_key(settings.key_file))
        person_id = resolve_person(db, person, lambda p: pseudo.one(Namespace.PERSON, p))
        report = erase(db, person_id, request_ref)
    if report.already_erased:
        console.print(f"person {person_id} was already erased")
        return
    rows = ", ".join(f"{k} {v}" for k, v in report.rows_deleted.items() if v)
    console.print(f"erased person {person_id}: deleted {rows or 'no rows'}; tombstone recorded")


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
