"""Erasure on request (PIPL Art. 47): destroy the person's data key, delete their records and
leave a tombstone.

Deleting the data key (crypto-shredding) makes every copy of the person's encrypted fields
unreadable, the backups of the database included. What the law requires us to keep (the loans
and their journal: accounting records, 5 years; with them the decisions that granted them)
stays under a ``legal_holds`` row with its reason
and until when. On SQLite every connection deletes securely (freed pages zeroed) and an erasure
ends with a truncating WAL checkpoint, so no deleted page keeps the person's ciphertext either.

The audit log's commitments about the person lose their salt and pseudonym in the same
transaction: the log's entries stay, verifiable, and can no longer be tied to anyone.

The tombstone holds only the pseudonym, so the lake's append-only files can keep their rows
until compaction while every read (features, graph) drops anything that mentions the person,
and ingestion refuses new rows about them.

Decisions, reviews and the API's retry cache, and why each goes or stays:

- A person **without a loan** has no contract with us, so nothing obliges us to keep their
  decisions: they are deleted with their review requests and decision events, in retention's
  order (events, reviews, the decision; the immutability trigger refuses only UPDATE), and
  their audit commitments are unlinked like every other commitment about the person.
- A person **with a loan** keeps every decision under the loan's legal hold: the application,
  the score and the declared income it was granted on are the credit file that explains the
  credit extended, kept as long as the loan's accounting records (the hold says so). Free text
  is another matter: a review's note, its resolution and a decision event's note are whatever
  an officer or the borrower typed (names, phone numbers, id numbers) and no law needs them to
  account for a loan, so they are replaced by ``ERASED_NOTE``.
- ``idempotency_keys`` rows whose stored answer is about the person (their pseudonym or one of
  their decisions in the answer, or a decision's id in the request path) are deleted either way:
  they are a cache of answers for a client's retries, not a record, and a copy of the note.
- Batch scores are deleted: they are recomputed from data the person no longer has with us.
- Quarantine files (``<home>/quarantine``) name people only by pseudonym; the lines that name
  the erased person lose their record (``quarantine.forget``), keeping the lender's file, row
  number and the rules it broke, which say nothing about the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    Table,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from creditgraph.audit import outbox as audit_log
from creditgraph.privacy import quarantine
from creditgraph.privacy.fieldcrypt import shred
from creditgraph.store.models import (
    Alert,
    AlertAction,
    CollectionsEntry,
    Consent,
    CreditLimitControl,
    DecisionEvent,
    DecisionRecord,
    Erasure,
    EventDeadLetter,
    EventOutbox,
    ExternalLoan,
    IdempotencyKey,
    LegalHold,
    Loan,
    LoanOutcome,
    OnlineFeatures,
    Person,
    PersonIdentity,
    ReviewRequest,
    Score,
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
ERASED_NOTE = "[已删除 / erased]"
"""What a free-text note on a held decision's review or event becomes at erasure."""
HOLD_YEARS = 5
HOLD_CLASS = "loan_credit_file"
HOLD_REASON = (
    "贷款、会计分录及授信决策（信贷档案）须保存至结清后五年 / loans and their journal "
    "(accounting records) and the decisions that granted them (the credit file) are kept "
    "5 years after closing"
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


def erase(
    engine: Engine,
    person_id: str,
    request_ref: str | None = None,
    quarantine_dir: Path | None = None,
) -> ErasureReport:
    """Shred the person's data key, delete every database row of the person, hold their loans
    and record the tombstone, in one transaction; then clear SQLite's WAL of the old pages and
    forget the person's quarantined records under ``quarantine_dir`` (again on a repeated
    erasure, so one cut short after its commit is finished by the next)."""
    with engine.begin() as conn:
        if conn.execute(select(Erasure.person_id).where(Erasure.person_id == person_id)).first():
            forgotten = _forget_quarantined(quarantine_dir, person_id)
            return ErasureReport(person_id, {"quarantine_lines": forgotten}, True)
        now = datetime.now(UTC).replace(tzinfo=None)
        deleted: dict[str, int] = {"person_keys": shred(conn, person_id)}
        deleted |= _decisions(conn, person_id)
        for model in (
            OnlineFeatures,
            Score,
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
        deleted["event_outbox"] += _delete_mentions(conn, person_id, "event_outbox")
        deleted["event_dead_letters"] += _delete_mentions(conn, person_id, "event_dead_letters")
        deleted["alerts_scrubbed"] = _scrub_evidence(conn, person_id)
        deleted["audit_records_unlinked"] = audit_log.erase_person(conn, person_id)
        held_until = _hold_loans(conn, person_id, now)
        conn.execute(
            insert(table_of(Erasure)).values(
                person_id=person_id, erased_at=now, request_ref=request_ref
            )
        )
    checkpoint(engine)
    deleted["quarantine_lines"] = _forget_quarantined(quarantine_dir, person_id)
    return ErasureReport(person_id, deleted, False, held_until)


def _forget_quarantined(quarantine_dir: Path | None, person_id: str) -> int:
    return 0 if quarantine_dir is None else quarantine.forget(quarantine_dir, person_id)


def _decisions(conn: Connection, person_id: str) -> dict[str, int]:
    """The person's decisions: deleted with their reviews and events when they have no loan,
    else kept (the credit file, under the loan's hold) with their free-text notes blanked; the
    API's stored answers about them are deleted either way (see the module docstring)."""
    decisions = table_of(DecisionRecord)
    ids = list(
        conn.execute(select(decisions.c.id).where(decisions.c.person_id == person_id)).scalars()
    )
    counts = {"idempotency_keys": _delete_answers(conn, person_id, ids)}
    if not ids:
        return counts
    reviews, events = table_of(ReviewRequest), table_of(DecisionEvent)
    loans = table_of(Loan)
    if conn.execute(select(loans.c.id).where(loans.c.person_id == person_id).limit(1)).first():
        counts["review_notes_blanked"] = _blank(conn, reviews, ids, "note", "resolution_note")
        counts["decision_event_notes_blanked"] = _blank(conn, events, ids, "note")
        return counts
    # retention's order (privacy.retention._remove_decisions): events, reviews, decisions
    counts["decision_events"] = _delete_in(conn, events, "decision_id", ids)
    counts["review_requests"] = _delete_in(conn, reviews, "decision_id", ids)
    counts["decisions"] = _delete_in(conn, decisions, "id", ids)
    return counts


def _delete_in(conn: Connection, table: Table, column: str, ids: Sequence[str]) -> int:
    result = conn.execute(delete(table).where(table.c[column].in_(list(ids))))
    return int(result.rowcount or 0)


def _blank(conn: Connection, table: Table, decision_ids: Sequence[str], *columns: str) -> int:
    """Replace each non-empty note column of the decisions' rows by ``ERASED_NOTE``."""
    changed = 0
    for column in columns:
        result = conn.execute(
            update(table)
            .where(table.c.decision_id.in_(list(decision_ids)), table.c[column].is_not(None))
            .values({column: ERASED_NOTE})
        )
        changed += int(result.rowcount or 0)
    return changed


def _delete_answers(conn: Connection, person_id: str, decision_ids: Sequence[str]) -> int:
    """Stored API answers about the person: the answer names their pseudonym or one of their
    decisions, or the request's path names a decision (a review request). A scan of the retry
    cache, which is small next to the book; an erasure is rare."""
    keys = table_of(IdempotencyKey)
    body = cast(keys.c.response_body, String)
    about = [body.contains(person_id, autoescape=True)]
    for decision_id in decision_ids:
        about.append(body.contains(decision_id, autoescape=True))
        about.append(keys.c.request_path.contains(decision_id, autoescape=True))
    result = conn.execute(delete(keys).where(or_(*about)))
    return int(result.rowcount or 0)


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


MENTIONING_TABLES = ("event_outbox", "event_dead_letters")
"""Where other people's events are kept: the log, and the events no consumer could handle."""


def _delete_mentions(conn: Connection, person_id: str, table: str) -> int:
    """Other people's events that name the person (a tie, an interaction with them): deleted,
    so that no monitor rebuilds the erased person's place in the graph from them, nor a replay
    of a dead letter. On the outbox an index read on the payload's ``other_person_id``, not a
    scan of the whole log; dead letters are few and read whole."""
    if table not in MENTIONING_TABLES:
        raise ValueError(f"table must be one of {MENTIONING_TABLES}, not {table!r}")
    expression = OTHER_PERSON[conn.dialect.name]
    result = conn.execute(
        text(f"DELETE FROM {table} WHERE {expression} = :person"), {"person": person_id}
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
