"""Writing validated rows of the database tables: insert new, update changed, skip identical.

Idempotency comes from natural keys: a person by id, a consent by (person, source, purpose,
granted_at), an outcome by loan id, an external-loan report by its whole content. A changed row
under the same key (a consent now revoked, a corrected occupation) is an update, not a duplicate.

A person's personal fields (the identity, the id number, the free-text note, the declared income)
are written only as ciphertext under the person's data key (``privacy.fieldcrypt``); the row hash
is taken over the plaintext first, so re-sending the same row is still a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, insert, select, update

from creditgraph.audit import outbox as audit_log
from creditgraph.privacy.consent_texts import consent_texts
from creditgraph.privacy.fieldcrypt import INCOME_FIELD, FieldSealer, Sealer
from creditgraph.privacy.keys import provider_for
from creditgraph.store.models import (
    Consent,
    ExternalLoan,
    LoanOutcome,
    Person,
    PersonIdentity,
    table_of,
)

_IN_CLAUSE = 5_000
IDENTITY_ONLY = ("id_number", "note")
PERSONAL_FIELDS = ("name", "phone", "id_number", "note")
"""Personal columns of a persons row that go to the identity table, never to ``persons``."""
INCOME = "declared_monthly_income_fen"


@dataclass(frozen=True)
class DbTarget:
    table: Table
    key: tuple[str, ...]
    primary_key: tuple[str, ...]
    person_column: str | None = "person_id"


TARGETS: dict[str, DbTarget] = {
    "persons": DbTarget(table_of(Person), ("person_id",), ("person_id",), None),  # type: ignore[arg-type]
    "consents": DbTarget(
        table_of(Consent),
        ("person_id", "source", "purpose", "granted_at"),
        ("id",),
    ),
    "external_loans": DbTarget(table_of(ExternalLoan), ("row_hash",), ("id",)),  # type: ignore[arg-type]
    "loan_outcomes": DbTarget(table_of(LoanOutcome), ("loan_id",), ("loan_id",)),  # type: ignore[arg-type]
}


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    unknown_person_rows: list[int] = field(default_factory=list)


def row_hash(values: dict[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, default=_canonical, separators=(",", ":"))
    return hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest()


def _person_hash(row: dict[str, Any], sealer: Sealer) -> str:
    """A person row's hash whose personal part (income, id number, note) is a keyed digest
    under the person's data key: an unkeyed hash of the row would let anyone holding the
    database recover a declared income by trying values."""
    personal = (INCOME, *IDENTITY_ONLY)
    secret = json.dumps([row.get(k) for k in personal], default=_canonical, ensure_ascii=False)
    public = {k: v for k, v in row.items() if k != "_row" and k not in personal}
    return row_hash({**public, "personal": sealer.digest(row["person_id"], secret)})


def _canonical(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _chunks(values: Sequence[Any], size: int = _IN_CLAUSE) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def known_persons(connection: Connection, person_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(person_ids))
    table = table_of(Person)
    found: set[str] = set()
    for part in _chunks(ids):
        found.update(
            connection.execute(
                select(table.c.person_id).where(table.c.person_id.in_(part))
            ).scalars()
        )
    return found


def _existing(
    connection: Connection, target: DbTarget, rows: list[dict[str, Any]]
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Map natural key -> (primary key..., row_hash) for rows already stored."""
    table = target.table
    first = target.key[0]
    wanted = sorted({r[first] for r in rows})
    columns = (
        [table.c[k] for k in target.key]
        + [table.c[p] for p in target.primary_key]
        + [table.c.row_hash]
    )
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    width = len(target.key)
    for part in _chunks(wanted):
        for record in connection.execute(select(*columns).where(table.c[first].in_(part))):
            found[tuple(record[:width])] = tuple(record[width:])
    return found


def write_rows(
    connection: Connection,
    table_name: str,
    rows: list[dict[str, Any]],
    identities: list[dict[str, Any]] | None = None,
    batch_id: str = "",
    now: datetime | None = None,
    sealer: Sealer | None = None,
) -> WriteCounts:
    """Upsert one chunk of validated, pseudonymised rows (each has ``_row``).

    Persons' personal fields are sealed by ``sealer`` (default: each person's data key under
    the master key opened for this database).
    """
    target = TARGETS[table_name]
    counts = WriteCounts()
    now = now or datetime.utcnow()
    if target.person_column:
        known = known_persons(connection, (r[target.person_column] for r in rows))
        kept = []
        for r in rows:
            if r[target.person_column] in known:
                kept.append(r)
            else:
                counts.unknown_person_rows.append(r["_row"])
        rows = kept
    if not rows:
        return counts
    identity_by_row = {i["_row"]: i for i in identities or []}
    existing: dict[tuple[Any, ...], tuple[Any, ...]] | None = None
    if table_name == "persons":  # who is new first: their keys are made without a lookup
        existing = _existing(connection, target, rows)
        sealer = sealer or FieldSealer(provider_for(connection))
        people = [r["person_id"] for r in rows]
        sealer.keys_for(connection, people, {p for p in people if (p,) not in existing})
    for r in rows:
        if table_name == "persons" and sealer is not None:
            r["row_hash"] = _person_hash(r, sealer)
            extra = {k: r.pop(k, None) for k in IDENTITY_ONLY}
            if r["_row"] in identity_by_row:
                identity_by_row[r["_row"]].update(extra)
        else:
            r["row_hash"] = row_hash({k: v for k, v in r.items() if k != "_row"})
        # a report without a date is dated by its batch, after hashing: re-sending it is no news
        if table_name == "external_loans" and r["reported_at"] is None:
            r["reported_at"] = now
        if table_name == "consents":  # after hashing: the receipt's text hash is derived
            r["text_sha256"] = consent_texts().sha256(r["text_version"], r["purpose"])
            r["recorded_via"] = "ingest"
    if existing is None:  # other tables' keys may include the row hash: read after hashing
        existing = _existing(connection, target, rows)
    pending: dict[tuple[Any, ...], dict[str, Any]] = {}
    superseded = 0  # a key changed again later in the chunk: only its last row is written
    for r in rows:
        key = tuple(r[k] for k in target.key)
        previous = pending.get(key)
        stored = existing.get(key)
        latest_hash = previous["row_hash"] if previous else (stored[-1] if stored else None)
        if latest_hash == r["row_hash"]:
            counts.duplicates += 1
            continue
        if previous is not None:
            superseded += 1
        pending[key] = r
    if table_name == "persons" and sealer is not None:
        for r in pending.values():
            sealed = sealer.seal(r["person_id"], INCOME_FIELD, str(int(r.pop(INCOME))))
            r["declared_monthly_income_enc"] = sealed
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, r in pending.items():
        record = {k: v for k, v in r.items() if k != "_row"}
        record["batch_id"] = batch_id
        if table_name == "persons":
            record["updated_at"] = now
        stored = existing.get(key)
        if stored is None:
            if table_name == "persons":
                record["created_at"] = now
            inserts.append(record)
        else:
            for name, value in zip(target.primary_key, stored[:-1], strict=True):
                record["pk_" + name] = value
            updates.append(record)
    if table_name == "consents" and updates:
        _keep_revocations(connection, updates)
    table = target.table
    if inserts:
        connection.execute(insert(table), inserts)
        counts.inserted = len(inserts)
    if updates:
        values: dict[str, Any] = {
            c: bindparam(c)
            for c in updates[0]
            if not c.startswith("pk_") and c not in target.primary_key and c != "created_at"
        }
        condition = and_(*(table.c[p] == bindparam("pk_" + p) for p in target.primary_key))
        connection.execute(update(table).where(condition).values(values), updates)
    if table_name == "consents":
        _commit_consents(connection, target, inserts, updates)
    # counted as if each row had come alone: the first of a new key inserts, the rest update
    counts.updated = len(updates) + superseded
    if identities is not None and sealer is not None:
        _write_identities(
            connection,
            [identity_by_row[r["_row"]] for r in pending.values()],
            {k for k, v in existing.items()},
            sealer,
        )
    return counts


def _keep_revocations(connection: Connection, updates: list[dict[str, Any]]) -> None:
    """A feed never clears or postpones a stored revocation: the earliest revocation wins.

    A withdrawal is the person's own act (often through our API or CLI, which the lender's feed
    does not know about), so a feed row of the same grant (a later expiry, a corrected flag)
    updates the row but keeps its ``revoked_at``; a feed may only bring a revocation forward.
    """
    table = table_of(Consent)
    ids = [u["pk_id"] for u in updates]
    stored: dict[Any, datetime] = {}
    for part in _chunks(ids):
        query = select(table.c.id, table.c.revoked_at).where(
            table.c.id.in_(part), table.c.revoked_at.is_not(None)
        )
        stored.update((i, at) for i, at in connection.execute(query))
    for u in updates:
        kept = stored.get(u["pk_id"])
        if kept is not None and (u["revoked_at"] is None or u["revoked_at"] > kept):
            u["revoked_at"] = kept


def _commit_consents(
    connection: Connection,
    target: DbTarget,
    inserts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
) -> None:
    """Commit each consent granted or changed (a revocation) to the audit log, with its row:
    the ids of new rows are read back by natural key, one query per chunk of people."""
    ids = [str(u["pk_id"]) for u in updates]
    if inserts:
        stored = _existing(connection, target, inserts)
        ids += [str(stored[tuple(r[k] for k in target.key)][0]) for r in inserts]
    audit_log.record_many(connection, "consent", ids)


def _write_identities(
    connection: Connection,
    identities: list[dict[str, Any]],
    existing_keys: set[tuple[Any, ...]],
    sealer: Sealer,
) -> None:
    """Identity rows as ciphertext: new people inserted, known people's fields replaced (the
    lender's id of a pseudonym never changes)."""
    table = table_of(PersonIdentity)
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for i in identities:
        person_id = i["person_id"]
        plain = {f: i.get(f) for f in PERSONAL_FIELDS}
        if (person_id,) in existing_keys:
            changed.append({"pk_person_id": person_id, **sealer.seal_many(person_id, plain)})
        else:
            plain["external_id"] = i["external_id"]
            new.append({"person_id": person_id, **sealer.seal_many(person_id, plain)})
    if new:
        connection.execute(insert(table), new)
    if changed:
        connection.execute(
            update(table)
            .where(table.c.person_id == bindparam("pk_person_id"))
            .values({f: bindparam(f) for f in PERSONAL_FIELDS}),
            changed,
        )
