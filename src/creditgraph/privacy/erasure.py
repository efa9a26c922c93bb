"""Erasure on request (PIPL Art. 47): delete the person's records and leave a tombstone.

The audit log's commitments about the person lose their salt and pseudonym in the same
transaction: the log's entries stay, verifiable, and can no longer be tied to anyone.

The tombstone holds only the pseudonym, so the lake's append-only files can keep their rows
until compaction while every read (features, graph) drops anything that mentions the person,
and ingestion refuses new rows about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, String, cast, delete, insert, select, update

from creditgraph.audit import outbox as audit_log
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
        conn.execute(
            insert(table_of(Erasure)).values(
                person_id=person_id,
                erased_at=datetime.now(UTC).replace(tzinfo=None),
                request_ref=request_ref,
            )
        )
    return ErasureReport(person_id, deleted, False)


def _delete_mentions(conn: Connection, person_id: str) -> int:
    """Other people's events that name the person (a tie, an interaction with them): deleted,
    so that no monitor rebuilds the erased person's place in the graph from them."""
    outbox = table_of(EventOutbox)
    result = conn.execute(
        delete(outbox).where(cast(outbox.c.payload, String).contains(person_id, autoescape=True))
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
