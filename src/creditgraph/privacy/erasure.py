"""Erasure on request (PIPL Art. 47): delete the person's records and leave a tombstone.

The tombstone holds only the pseudonym, so the lake's append-only files can keep their rows
until compaction while every read (features, graph) drops anything that mentions the person,
and ingestion refuses new rows about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, insert, select

from creditgraph.store.models import (
    Consent,
    Erasure,
    ExternalLoan,
    LoanOutcome,
    OnlineFeatures,
    Person,
    PersonIdentity,
    table_of,
)


@dataclass(frozen=True)
class ErasureReport:
    person_id: str
    rows_deleted: dict[str, int]
    already_erased: bool


def erased_ids(connection: Connection) -> set[str]:
    return set(connection.execute(select(Erasure.person_id)).scalars())


def erase(engine: Engine, person_id: str, request_ref: str | None = None) -> ErasureReport:
    """Delete every database row of the person and record the tombstone, in one transaction."""
    with engine.begin() as conn:
        if conn.execute(select(Erasure.person_id).where(Erasure.person_id == person_id)).first():
            return ErasureReport(person_id, {}, True)
        deleted: dict[str, int] = {}
        for model in (OnlineFeatures, ExternalLoan, LoanOutcome, Consent, PersonIdentity, Person):
            table = table_of(model)
            result = conn.execute(delete(table).where(table.c.person_id == person_id))
            deleted[table.name] = int(result.rowcount or 0)
        conn.execute(
            insert(table_of(Erasure)).values(
                person_id=person_id,
                erased_at=datetime.now(UTC).replace(tzinfo=None),
                request_ref=request_ref,
            )
        )
    return ErasureReport(person_id, deleted, False)
