"""``creditgraph consent``: grant, revoke and show a person's consents, with receipts.

``--person`` is the lender's own id; it is pseudonymised with this home's key at the door, and
only the pseudonym is printed (never beside the raw id). Times are ISO 8601; a time without an
offset is UTC. A refused request stores nothing and exits 1 with one line, in English and
Chinese.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import typer

from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from creditgraph.privacy.consent import Receipt

consent_app = typer.Typer(
    help="Consents per person, source and purpose: grant, revoke, show (PIPL Art. 14-16).",
    no_args_is_help=True,
)
T = TypeVar("T")

PERSON = typer.Option(..., "--person", help="The person's id in the lender's own records.")
SOURCE = typer.Option(..., "--source", help="The data source (a social platform, the app).")
PURPOSE = typer.Option(
    ..., "--purpose", help="credit_assessment, monitoring or sharing (one consent each)."
)
AT = typer.Option(None, "--at", help="When it happened, ISO 8601 (default: now; UTC if no offset).")
AS_JSON = typer.Option(False, "--json", help="Print the receipts as JSON.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"{option}: not an ISO 8601 date or time / {option}：不是 ISO 8601 日期或时间"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@contextmanager
def _engine() -> Iterator[Engine]:
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        yield db


def _pseudonym(person: str) -> str:
    from creditgraph.contracts.schema import Namespace
    from creditgraph.privacy.pseudonym import KeyFileError, Pseudonymiser, load_or_create_key

    if not person.strip():
        raise _fail("--person: required / --person：必填")
    try:
        key = load_or_create_key(get_settings().key_file)
    except KeyFileError as exc:
        raise _fail(str(exc)) from None
    return Pseudonymiser(key).one(Namespace.PERSON, person)


def _run(action: Callable[[], T]) -> T:
    from creditgraph.privacy.consent import ConsentError

    try:
        return action()
    except ConsentError as exc:
        raise _fail(str(exc)) from None


def _print(receipts: list[Receipt], as_json: bool, done: str) -> None:
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in receipts], ensure_ascii=False, indent=2))
        return
    if done:
        typer.echo(done)
    for r in receipts:
        until = f" until {r.expires_at.isoformat()}" if r.expires_at else ""
        revoked = f" revoked {r.revoked_at.isoformat()}" if r.revoked_at else ""
        typer.echo(
            f"consent {r.consent_id}: person {r.person_id} source {r.source} purpose {r.purpose}"
            f"{' (sensitive)' if r.sensitive else ''} - {r.status}; granted "
            f"{r.granted_at.isoformat()}{until}{revoked}; text {r.text_version} "
            f"sha256 {r.text_sha256 or '-'}; audit commitment {r.audit_commitment or '-'}"
        )
        if r.purge_job_id is not None:
            typer.echo(
                f"  purge of this source's social rows scheduled (job {r.purge_job_id}) / "
                f"已安排删除该来源的社交数据（任务 {r.purge_job_id}）"
            )


@consent_app.command("grant")
def grant_cmd(
    person: str = PERSON,
    source: str = SOURCE,
    purpose: str = PURPOSE,
    text_version: str | None = typer.Option(
        None, "--text-version", help="The consent text shown (default: the one in force)."
    ),
    sensitive: bool = typer.Option(
        False, "--sensitive", help="Separate consent to sensitive personal information."
    ),
    expires: str | None = typer.Option(None, "--expires", help="When it lapses, ISO 8601."),
    at: str | None = AT,
    as_json: bool = AS_JSON,
) -> None:
    """Record a consent the person gave; prints its receipt."""
    from creditgraph.privacy import consent

    granted_at, expires_at = _time(at, "--at"), _time(expires, "--expires")
    person_id = _pseudonym(person)
    with _engine() as db:
        receipt = _run(
            lambda: consent.grant(
                db,
                person_id,
                source,
                purpose,
                text_version=text_version,
                sensitive=sensitive,
                at=granted_at,
                expires_at=expires_at,
                via="cli",
            )
        )
    _print([receipt], as_json, "consent granted / 已记录同意")


@consent_app.command("revoke")
def revoke_cmd(
    person: str = PERSON,
    source: str = SOURCE,
    purpose: str = PURPOSE,
    at: str | None = AT,
    as_json: bool = AS_JSON,
) -> None:
    """Revoke the person's active consent: every read stops using the source at once."""
    from creditgraph.privacy import consent

    revoked_at = _time(at, "--at")
    person_id = _pseudonym(person)
    with _engine() as db:
        receipts = _run(
            lambda: consent.revoke_active(db, person_id, source, purpose, at=revoked_at)
        )
    _print(receipts, as_json, "consent revoked / 已撤回同意")


@consent_app.command("show")
def show_cmd(
    person: str = PERSON,
    source: str | None = typer.Option(None, "--source", help="Only this source."),
    purpose: str | None = typer.Option(None, "--purpose", help="Only this purpose."),
    as_json: bool = AS_JSON,
) -> None:
    """The person's consents, oldest first, with their receipts."""
    from creditgraph.privacy import consent

    person_id = _pseudonym(person)
    with _engine() as db:
        receipts = _run(lambda: consent.show(db, person_id, source=source, purpose=purpose))
    if not receipts and not as_json:
        typer.echo("no consents / 没有同意记录")
        return
    _print(receipts, as_json, "")


def register(app: typer.Typer) -> None:
    app.add_typer(consent_app, name="consent")
