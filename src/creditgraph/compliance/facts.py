"""Facts the compliance check reads from the database, so a privacy row can say PASS because a
value was measured rather than because the code it cites exists.

Each fact is one aggregate query over primary or indexed keys (no personal field is decrypted or
returned): whether the personal columns are binary ciphertext in the live schema, how many people
lack a data key, whether an erased pseudonym still has a row, and how many subject requests are
open past their deadline. Where the database is hosted is not a fact the database can state: only
the host named in its URL is reported, never its credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, LargeBinary, Select, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from creditgraph.decision.subject.requests import OPEN, now
from creditgraph.store.models import (
    Consent,
    Erasure,
    Person,
    PersonIdentity,
    PersonKey,
    SubjectRequest,
    table_of,
)

PERSONAL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "person_identities": ("external_id", "name", "phone", "id_number", "note"),
    "persons": ("declared_monthly_income_enc",),
}
"""Every column that holds personal data; each must be binary ciphertext (privacy.fieldcrypt)."""

_ERASED_MUST_LEAVE = (PersonKey, PersonIdentity, Person, Consent)
"""Tables in which an erased pseudonym must have no row left (its key, identity, person and
consents; loans under a legal hold stay, pseudonymised, by design)."""


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    persons: int
    persons_without_key: int
    plaintext_columns: tuple[str, ...]
    """``table.column`` of personal columns that are absent or not binary in the live schema."""
    erased: int
    erased_with_rows: Mapping[str, int]
    """Table -> erased pseudonyms that still have a row there."""
    open_requests: int
    overdue_requests: int


def _plaintext_columns(conn: Connection) -> tuple[str, ...]:
    inspector = inspect(conn)
    found: list[str] = []
    for table, names in PERSONAL_COLUMNS.items():
        types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        found += [
            f"{table}.{name}" for name in names if not isinstance(types.get(name), LargeBinary)
        ]
    return tuple(found)


def _count(conn: Connection, stmt: Select[Any]) -> int:
    return int(conn.execute(stmt).scalar_one())


def read_facts(engine: Engine, at: datetime | None = None) -> DatabaseFacts:
    """The facts above, each read in one query; ``at`` (naive UTC) decides what is overdue."""
    persons, keys, erased = table_of(Person), table_of(PersonKey), table_of(Erasure)
    requests = table_of(SubjectRequest)
    moment = at or now()
    with engine.connect() as conn:
        without_key = (
            select(func.count())
            .select_from(persons.outerjoin(keys, keys.c.person_id == persons.c.person_id))
            .where(keys.c.person_id.is_(None))
        )
        erased_with_rows: dict[str, int] = {}
        for model in _ERASED_MUST_LEAVE:
            table = table_of(model)
            erased_with_rows[table.name] = _count(
                conn,
                select(func.count(func.distinct(erased.c.person_id))).select_from(
                    erased.join(table, table.c.person_id == erased.c.person_id)
                ),
            )
        open_ = requests.c.status.in_(OPEN)
        return DatabaseFacts(
            persons=_count(conn, select(func.count()).select_from(persons)),
            persons_without_key=_count(conn, without_key),
            plaintext_columns=_plaintext_columns(conn),
            erased=_count(conn, select(func.count()).select_from(erased)),
            erased_with_rows=erased_with_rows,
            open_requests=_count(conn, select(func.count()).select_from(requests).where(open_)),
            overdue_requests=_count(
                conn,
                select(func.count()).select_from(requests).where(open_, requests.c.due_at < moment),
            ),
        )


def database_host(url: str | None) -> str | None:
    """The host a database URL names, without user, password or query; None when there is no
    URL. SQLite names a file on the machine the check runs on, not a host."""
    if not url:
        return None
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "unreadable database URL"
    if parsed.get_backend_name() == "sqlite":
        return "a SQLite file on the machine running the check"
    if not parsed.host:
        return f"{parsed.get_backend_name()} over a local socket"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()} at {parsed.host}{port}"
