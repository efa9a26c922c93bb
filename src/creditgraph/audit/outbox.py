"""Committing records to the audit log, in the transaction that writes them.

``record`` (or ``record_many``) is called by the code that writes or changes a logged record,
on the same connection and before its commit: the commitment lands with the record or not at all,
so the log can never miss a committed record nor hold one that was rolled back. The sequencer
(:mod:`creditgraph.audit.sequencer`) later gives each pending commitment its leaf.

``erase_person`` is erasure's part: the person's salts and pseudonym are destroyed, their
entries stay where they are in the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, select, update

from creditgraph.audit import commitment
from creditgraph.audit.kinds import kind_of
from creditgraph.store.models import AuditRecord, table_of

RECORDS = table_of(AuditRecord)


class MissingRecordError(LookupError):
    """A record was to be committed that its transaction does not hold."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record(conn: Connection, kind: str, record_id: str) -> None:
    """Commit one record of ``kind`` as it now stands in ``conn``'s transaction."""
    record_many(conn, kind, [record_id])


def record_many(conn: Connection, kind: str, record_ids: Sequence[str]) -> int:
    """Commit several records of one kind as they now stand; how many were committed."""
    ids = list(dict.fromkeys(str(i) for i in record_ids))
    if not ids:
        return 0
    loaded = kind_of(kind).load(conn, ids)
    missing = [i for i in ids if i not in loaded]
    if missing:
        raise MissingRecordError(
            f"audit: {len(missing)} {kind} record(s) to commit are not in this transaction, "
            f"first {missing[0]!r}"
        )
    now = _now()
    rows = []
    for record_id in ids:
        person_id, fields = loaded[record_id]
        salt = commitment.new_salt()
        message = commitment.opening(kind, record_id, fields)
        rows.append(
            {
                "kind": kind,
                "record_id": record_id,
                "person_id": person_id,
                "salt": salt,
                "commitment": commitment.commit(salt, message),
                "created_at": now,
            }
        )
    conn.execute(insert(RECORDS), rows)
    return len(rows)


def backfill(conn: Connection, kind: str, chunk: int = 5_000) -> int:
    """Commit every live record of ``kind`` that has no commitment yet: records written before
    the log began. Run once after upgrading; the entries say when they were logged, not when
    the records were written."""
    committed = set(
        conn.execute(select(RECORDS.c.record_id).where(RECORDS.c.kind == kind).distinct()).scalars()
    )
    missing = sorted(kind_of(kind).live_ids(conn) - committed)
    for start in range(0, len(missing), chunk):
        record_many(conn, kind, missing[start : start + chunk])
    return len(missing)


def forget_superseded(conn: Connection, kind: str, record_ids: Sequence[str]) -> int:
    """Destroy the salts of every commitment of these records but the latest one.

    For a record changed because someone else was erased (a ring's evidence naming them): the
    earlier commitments covered the erased pseudonym, and with their salts could be opened by
    guessing it back from the tombstones.
    """
    if not record_ids:
        return 0
    latest = (
        select(func.max(RECORDS.c.id))
        .where(RECORDS.c.kind == kind, RECORDS.c.record_id.in_(list(record_ids)))
        .group_by(RECORDS.c.record_id)
    )
    result = conn.execute(
        update(RECORDS)
        .where(
            RECORDS.c.kind == kind,
            RECORDS.c.record_id.in_(list(record_ids)),
            RECORDS.c.id.not_in(latest.scalar_subquery()),
            RECORDS.c.salt.is_not(None),
        )
        .values(salt=None, person_id=None, erased_at=_now())
    )
    return int(result.rowcount or 0)


def erase_person(conn: Connection, person_id: str) -> int:
    """Destroy the salts of every commitment about ``person_id``; how many were made unlinkable."""
    result = conn.execute(
        update(RECORDS)
        .where(RECORDS.c.person_id == person_id)
        .values(salt=None, person_id=None, erased_at=_now())
    )
    return int(result.rowcount or 0)
