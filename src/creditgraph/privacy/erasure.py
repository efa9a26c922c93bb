"""Erasure on request (PIPL Art. 47): destroy the person's data key, delete their records and
leave a tombstone.

Deleting the data key (crypto-shredding) makes every copy of the person's encrypted fields
unreadable, the backups of the database included. What the law requires us to keep (the loans
and their journal: accounting records, 5 years) stays under a ``legal_holds`` row with its reason
and until when. On SQLite every connection deletes securely (freed pages zeroed) and an erasure
ends with a truncating WAL checkpoint, so no deleted page keeps the person's ciphertext either.

The audit log's commitments about the person lose their salt and pseudonym in the same
transaction: the log's entries stay, verifiable, and can no longer be tied to anyone.

The tombstone holds only the pseudonym, so the lake's append-only files can keep their rows
until compaction while every read (features, graph) drops anything that mentions the person,
and ingestion refuses new rows about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, String, cast, delete, func, insert, select, text, update

from creditgraph.audit import outbox as audit_log
from creditgraph.privacy.fieldcrypt import shred
from creditgraph.store.models import (
    Alert,
    AlertAction,
    CollectionsEntry,
    Consent,
    CreditLimitControl,
    Erasure,
    EventDeadLetter,
    EventOutbox,
    ExternalLoan,
    LegalHold,
    Loan,
    LoanOutcome,
    OnlineFeatures,
    Person,
    PersonIdentity,
    table_of,
)

ERASED = "erased"
"""What an erased pseudonym becomes where another person's record names it (alert evidence)."""
MONITORING_TABLES = (
    EventOutbox,
    EventDeadLetter,
    Alert,
    AlertAction,
    CreditLimitControl,
    CollectionsEntry,
)
"""Monitoring's records about a person: events, alerts, the actions taken on them."""
HOLD_YEARS = 5
HOLD_CLASS = "loan_accounting"
HOLD_REASON = (
    "贷款及其会计分录须保存至结清后五年 / loans and their journal are accounting records, "
    "kept 5 years after closing"
)
HOLD_BASIS = "会计档案管理办法 / accounting records 5 years; PIPL Art. 47(2)"


@dataclass(frozen=True)
class ErasureReport:
    person_id: str
    rows_deleted: dict[str, int]
    already_erased: bool
    held_until: date | None = None  # loans kept under a legal hold until then


def erased_ids(connection: Connection) -> set[str]:
    return set(connection.execute(select(Erasure.person_id)).scalars())


def erase(engine: Engine, person_id: str, request_ref: str | None = None) -> ErasureReport:
    """Shred the person's data key, delete every database row of the person, hold their loans
    and record the tombstone, in one transaction; then clear SQLite's WAL of the old pages."""
    with engine.begin() as conn:
        if conn.execute(select(Erasure.person_id).where(Erasure.person_id == person_id)).first():
            return ErasureReport(person_id, {}, True)
        now = datetime.now(UTC).replace(tzinfo=None)
        deleted: dict[str, int] = {"person_keys": shred(conn, person_id)}
        for model in (
            OnlineFeatures,
            ExternalLoan,
            LoanOutcome,
            Consent,
            PersonIdentity,
            Person,
            *MONITORING_TABLES,
        ):
            table = table_of(model)
            result = conn.execute(delete(table).where(table.c.person_id == person_id))
            deleted[table.name] = int(result.rowcount or 0)
        deleted["event_outbox"] += _delete_mentions(conn, person_id)
        deleted["alerts_scrubbed"] = _scrub_evidence(conn, person_id)
        deleted["audit_records_unlinked"] = audit_log.erase_person(conn, person_id)
        held_until = _hold_loans(conn, person_id, now)
        conn.execute(
            insert(table_of(Erasure)).values(
                person_id=person_id, erased_at=now, request_ref=request_ref
            )
        )
    checkpoint(engine)
    return ErasureReport(person_id, deleted, False, held_until)


def _hold_loans(conn: Connection, person_id: str, now: datetime) -> date | None:
    """A legal hold on the person's loans and journal, until 5 years after the last closing
    (or from now while a loan is open); None when the person has no loan."""
    loans = table_of(Loan)
    ended = func.coalesce(loans.c.closed_on, loans.c.written_off_on)
    count, finished, last_end = conn.execute(
        select(func.count(), func.count(ended), func.max(ended)).where(
            loans.c.person_id == person_id
        )
    ).one()
    if not count:
        return None
    start = last_end if finished == count and last_end is not None else now.date()
    held_until = _plus_years(start, HOLD_YEARS)
    conn.execute(
        insert(table_of(LegalHold)).values(
            person_id=person_id,
            data_class=HOLD_CLASS,
            reason=HOLD_REASON,
            basis=HOLD_BASIS,
            held_until=held_until,
            created_at=now,
        )
    )
    return held_until


def _plus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL into the database and truncate it, so the erased rows' old pages
    (the WAL's copies; the database's are zeroed by ``secure_delete``) leave the files."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


OTHER_PERSON = {
    "sqlite": "json_extract(payload, '$.other_person_id')",
    "postgresql": "(payload ->> 'other_person_id')",
}
"""The expression migration 0019 indexes: the other person an event names (a tie, an
interaction); the events' contract names no one else."""


def _delete_mentions(conn: Connection, person_id: str) -> int:
    """Other people's events that name the person (a tie, an interaction with them): deleted,
    so that no monitor rebuilds the erased person's place in the graph from them. An index read
    on the payload's ``other_person_id``, not a scan of the whole log."""
    expression = OTHER_PERSON[conn.dialect.name]
    result = conn.execute(
        text(f"DELETE FROM event_outbox WHERE {expression} = :person"), {"person": person_id}
    )
    return int(result.rowcount or 0)


def _scrub_evidence(conn: Connection, person_id: str) -> int:
    """Other people's alerts whose evidence names the person (a ring's members, a contagion's
    delinquent): the pseudonym is replaced by ``erased``, the alert kept and, changed on
    purpose, committed again to the audit log."""
    alerts = table_of(Alert)
    rows = conn.execute(
        select(alerts.c.id, alerts.c.evidence).where(
            cast(alerts.c.evidence, String).contains(person_id, autoescape=True)
        )
    ).all()
    for alert_id, evidence in rows:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(evidence=_scrub(evidence, person_id))
        )
    changed = [str(alert_id) for alert_id, _ in rows]
    audit_log.record_many(conn, "alert", changed)
    audit_log.forget_superseded(conn, "alert", changed)
    return len(rows)


def _scrub(value: Any, person_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, person_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, person_id) for v in value]
    return ERASED if value == person_id else value
