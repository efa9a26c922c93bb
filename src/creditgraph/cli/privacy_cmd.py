"""``creditgraph privacy``: data-subject requests; ``privacy erase`` is ``subject erase``."""

from __future__ import annotations

import typer

privacy_app = typer.Typer(help="Data-subject requests (PIPL).", no_args_is_help=True)


@privacy_app.command("erase")
def privacy_erase(
    person: str = typer.Argument(..., help="The person's id (the lender's own, or the pseudonym)."),
    request_ref: str | None = typer.Option(None, "--request-ref", help="The request's reference."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: erasure cannot be undone."),
    actor: str | None = typer.Option(None, "--actor", help="Who acts (default: user:<login>)."),
) -> None:
    """Erase a person, as `creditgraph subject erase` does: recorded as a subject request."""
    from creditgraph.cli.subject_cmd import erase_person

    erase_person(person, yes, request_ref, None, actor)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
