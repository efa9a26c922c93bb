"""``creditgraph subject``: a person's requests about their data (PIPL Art. 44-47, 24).

ID is the lender's own person id (pseudonymised with the home's key, as at ingest) or the
pseudonym. Every command acts as ``user:<login name>`` in the request and access logs unless
``--actor`` names someone else. Nothing personal is printed: the export goes to the files named,
created 0600. A refusal is one line on stderr and exit code 1 (2 for a missing confirmation).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from creditgraph.decision.subject.service import Actor, SubjectService

console = Console()
subject_app = typer.Typer(
    help="Subject requests: export, correct, erase, object; deadlines and the request list.",
    no_args_is_help=True,
)
T = TypeVar("T")

PERSON = typer.Argument(..., help="The person's id (the lender's own, or the pseudonym).")
ACTOR = typer.Option(None, "--actor", help="Who acts (default: user:<your login name>).")
REQUEST = typer.Option(
    None, "--request", help="Answer this filed request (from `subject file`) instead of a new one."
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def actor_of(name: str | None) -> Actor:
    from creditgraph.decision.subject.service import Actor

    if name is not None:
        return Actor(name, "user")
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Actor(f"user:{login}", "user")


def log_cli_read(
    engine: Engine, person_id: str, data_classes: tuple[str, ...], purpose: str
) -> None:
    """Record that the user at this command line read the person's data (one insert)."""
    from creditgraph.privacy.access_log import record_access
    from creditgraph.store.db import write_transaction

    who = actor_of(None)
    with write_transaction(engine) as conn:
        record_access(conn, who.name, who.kind, person_id, purpose, data_classes, "read")


@contextmanager
def _service() -> Iterator[tuple[SubjectService, Callable[[str], str]]]:
    """The subject service on the home's database, and how an ID becomes the pseudonym."""
    from creditgraph.contracts.schema import Namespace
    from creditgraph.decision.subject.requests import Deadline
    from creditgraph.decision.subject.service import SubjectService
    from creditgraph.features.store import resolve_person
    from creditgraph.privacy.keys import MasterKeyError, master_key_file, open_master_key
    from creditgraph.privacy.pseudonym import KeyFileError, Pseudonymiser, load_or_create_key
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        try:
            pseudo = Pseudonymiser(load_or_create_key(settings.key_file))
            provider = open_master_key(db, master_key_file(settings))
        except (MasterKeyError, KeyFileError) as exc:
            raise _fail(str(exc)) from None
        service = SubjectService(
            db,
            pseudo,
            provider=provider,
            lake_dir=settings.lake_dir,
            quarantine_dir=settings.quarantine_dir,
            deadline=Deadline(settings.subject_request_days),
        )
        yield (
            service,
            lambda person: resolve_person(db, person, lambda p: pseudo.one(Namespace.PERSON, p)),
        )


def _answer(action: Callable[[], T]) -> T:
    """Run a request; a refusal (unknown person, erased, a field's rule) is one line."""
    from creditgraph.decision.subject.requests import SubjectError
    from creditgraph.privacy.access_log import AccessLogError
    from creditgraph.privacy.fieldcrypt import FieldCryptError
    from creditgraph.privacy.keys import MasterKeyError

    try:
        return action()
    except (SubjectError, AccessLogError, FieldCryptError, MasterKeyError) as exc:
        raise _fail(str(exc)) from None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this account only (0600), whatever it was."""
    from creditgraph.store.files import private_file

    private_file(path)
    os.chmod(path, 0o600)
    path.write_text(text, encoding="utf-8")


def _done(request: dict[str, Any]) -> None:
    console.print(
        f"{request['kind']} request {request['id']}: {request['status']} "
        f"(received {request['received_at']}, due {request['due_at']})",
        markup=False,
        highlight=False,
    )


@subject_app.command("export")
def subject_export(
    person: str = PERSON,
    out: Path = typer.Option(..., "--out", help="The JSON export file (created 0600)."),
    html: Path | None = typer.Option(None, "--html", help="Also a readable page (0600)."),
    lang: str = typer.Option("zh", "--lang", help="The page's language: zh or en."),
    request: str | None = REQUEST,
    actor: str | None = ACTOR,
) -> None:
    """Everything held about a person, as JSON (and a page); the export is access-logged."""
    from creditgraph.decision.subject.export import counts
    from creditgraph.decision.subject.page import LANGUAGES, render_page

    if lang not in LANGUAGES:
        raise _fail(f"--lang must be one of {', '.join(LANGUAGES)}", 2)
    with _service() as (service, resolve):
        doc = _answer(lambda: service.export(resolve(person), actor_of(actor), request))
    _write_private(out, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    if html is not None:
        _write_private(html, render_page(doc, lang))
    sections = sum(1 for n in counts(doc).values() if n)
    console.print(
        f"export request {doc['request_id']}: done, {sections} sections written to {out}"
        + (f" and {html}" if html else ""),
        markup=False,
        highlight=False,
    )


@subject_app.command("correct")
def subject_correct(
    person: str = PERSON,
    field: list[str] = typer.Option(
        ...,
        "--field",
        help="name=value (repeat): name, phone, id_number, note, "
        "declared_monthly_income; an empty value clears an optional field.",
    ),
    request: str | None = REQUEST,
    actor: str | None = ACTOR,
) -> None:
    """Correct personal fields; the request records which fields, never their values."""
    values: dict[str, str | None] = {}
    for item in field:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise _fail("--field must be name=value", 2)
        if name.strip() in values:
            raise _fail(f"--field {name.strip()} is given twice", 2)
        values[name.strip()] = value
    with _service() as (service, resolve):
        _done(_answer(lambda: service.correct(resolve(person), values, actor_of(actor), request)))


@subject_app.command("erase")
def subject_erase(
    person: str = PERSON,
    yes: bool = typer.Option(False, "--yes", help="Confirm: erasure cannot be undone."),
    reference: str | None = typer.Option(
        None, "--request-ref", help="The request's own reference (a ticket number)."
    ),
    request: str | None = REQUEST,
    actor: str | None = ACTOR,
) -> None:
    """Erase a person: their data key and records, a tombstone; the request keeps the report."""
    erase_person(person, yes, reference, request, actor)


def erase_person(
    person: str, yes: bool, reference: str | None, request: str | None, actor: str | None
) -> None:
    """``subject erase`` (and its older name ``privacy erase``)."""
    if not yes:
        raise _fail("erasure cannot be undone; add --yes to confirm", 2)
    with _service() as (service, resolve):
        answer = _answer(
            lambda: service.erase(resolve(person), actor_of(actor), request, reference)
        )
    _done(answer)
    result = answer["result"]
    if result["already_erased"]:
        console.print("the person was already erased", markup=False)
        return
    rows = ", ".join(f"{k} {v}" for k, v in result["rows_deleted"].items())
    console.print(f"deleted {rows or 'no rows'}; tombstone recorded", markup=False)


@subject_app.command("object")
def subject_object(
    person: str = PERSON,
    decision: str = typer.Option(..., "--decision", help="The decision objected to."),
    note: str | None = typer.Option(None, "--note", help="What the person says (no more)."),
    request: str | None = REQUEST,
    actor: str | None = ACTOR,
) -> None:
    """Object to an automated decision: a human review is opened in the review queue."""
    with _service() as (service, resolve):
        answer = _answer(
            lambda: service.object(resolve(person), decision, actor_of(actor), note, request)
        )
    _done(answer)
    console.print(f"review {answer['result']['review_id']} opened", markup=False)


@subject_app.command("file")
def subject_file(
    person: str = PERSON,
    kind: str = typer.Option(..., "--kind", help="export, correct, erase or object."),
    actor: str | None = ACTOR,
) -> None:
    """File a request received another way (a letter, a call) to answer before its deadline."""
    with _service() as (service, resolve):
        _done(_answer(lambda: service.receive(resolve(person), kind, actor_of(actor))))


@subject_app.command("start")
def subject_start(
    request: str = typer.Argument(..., help="The request's id."),
    actor: str | None = ACTOR,
) -> None:
    """Mark a filed request in progress: someone is working on it (it stays due)."""
    with _service() as (service, _):
        _done(_answer(lambda: service.start(request, actor_of(actor))))


@subject_app.command("reject")
def subject_reject(
    request: str = typer.Argument(..., help="The request's id."),
    reason: str = typer.Option(..., "--reason", help="Why, as the person will be told."),
    actor: str | None = ACTOR,
) -> None:
    """Refuse a filed request, with the reason (PIPL Art. 50)."""
    with _service() as (service, _):
        _done(_answer(lambda: service.reject(request, reason, actor_of(actor))))


@subject_app.command("list")
def subject_list(
    overdue: bool = typer.Option(
        False, "--overdue", help="Only open requests past their due time."
    ),
    status: str | None = typer.Option(
        None, "--status", help="received, in_progress, done, rejected."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Subject requests by deadline, earliest first."""
    with _service() as (service, _):
        rows = _answer(lambda: service.requests(overdue=overdue, status=status))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print("no overdue requests" if overdue else "no requests", markup=False)
        return
    for row in rows:
        late = "  OVERDUE 逾期" if row["overdue"] else ""
        console.print(
            f"{row['id']}  {row['kind']:<7} {row['status']:<11} due {row['due_at']}{late}",
            markup=False,
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(subject_app, name="subject")
