"""Events in from outside: validated, pseudonymised, gated by consent, then onto the bus.

One function serves ``POST /v1/events`` and ``creditgraph events ingest``. For a batch it

1. validates every event against the contract (``validate.validate_batch``): a broken one gets a
   per-event error naming its index, field and rule, and nothing of it goes further;
2. refuses servicing's own event types (only this platform's servicing writes them, inside its
   postings, ``store.event_outbox``);
3. pseudonymises identifiers at the door (``door.Door``), exactly as ingest does;
4. drops events about a person the book does not know or has erased (an erased person is
   reported to the sender as unknown: the answer must not reveal an erasure), and events naming
   an erased other party;
5. applies the consent gate: an event of a gated type needs a ``monitoring`` consent of the
   person, from the event's own source, valid at ``occurred_at`` (granted at or before it, not
   expired or revoked by then);
6. publishes the rest in one transaction (the outbox) or one call (Redis Streams).

Refused events are counted by reason and never stored: the counts and per-event errors are the
only trace. Nothing is half-applied: an event is published whole or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from creditgraph.monitoring.bus import EventBus
from creditgraph.monitoring.codec import to_payload
from creditgraph.monitoring.door import Door
from creditgraph.monitoring.events import MONITORING_PURPOSE, Category, Event
from creditgraph.monitoring.validate import EventError, validate_batch
from creditgraph.servicing.core.monitoring_events import SERVICING_ID_KINDS
from creditgraph.store.db import write_transaction
from creditgraph.store.event_outbox import publish_in_transaction
from creditgraph.store.models import Consent, Erasure, Person, table_of

SERVICING_ID_PREFIXES = tuple(f"{kind}:" for kind in SERVICING_ID_KINDS)
LOOKUP_CHUNK = 500
CLOCK_TOLERANCE = timedelta(minutes=5)
"""A sender's clock may run this far ahead of ours before ``occurred_at`` counts as future."""

REASONS = (
    "invalid",
    "servicing_only",
    "unknown_person",
    "erased_person",
    "no_consent",
    "consent_expired",
    "consent_revoked",
)
"""Why an event was refused; ``IntakeResult.refused`` counts each."""


@dataclass
class IntakeResult:
    """What became of a batch: how many were accepted, each refusal, the counts by reason."""

    received: int
    accepted: int = 0
    delivery_ids: list[str] = field(default_factory=list)
    errors: list[EventError] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "refused": sum(self.refused.values()),
            "refused_by_reason": {reason: self.refused[reason] for reason in sorted(self.refused)},
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass(frozen=True, slots=True)
class _Grant:
    source: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _naive_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _present(conn: Connection, column: Any, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` appear in ``column`` (a primary key), read in chunks."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def _grants(conn: Connection, ids: Sequence[str]) -> dict[str, list[_Grant]]:
    consents = table_of(Consent)
    c = consents.c
    out: dict[str, list[_Grant]] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(c.person_id, c.source, c.granted_at, c.expires_at, c.revoked_at).where(
                c.purpose == MONITORING_PURPOSE, c.person_id.in_(chunk)
            )
        )
        for row in rows:
            out.setdefault(row.person_id, []).append(
                _Grant(row.source, row.granted_at, row.expires_at, row.revoked_at)
            )
    return out


def consent_refusal(event: Event, grants: Sequence[_Grant]) -> str | None:
    """Why the consent gate refuses ``event`` (a reason of ``REASONS``), or None to let it in."""
    gate = event.spec.gate
    if gate is None:
        return None
    at = _naive_utc(event.occurred_at)
    reason = "no_consent"
    for grant in grants:
        if gate.same_source and grant.source != event.source:
            continue
        if grant.granted_at > at:
            continue
        if grant.revoked_at is not None and grant.revoked_at <= at:
            reason = "consent_revoked"
            continue
        if grant.expires_at is not None and grant.expires_at <= at:
            if reason == "no_consent":
                reason = "consent_expired"
            continue
        return None
    return reason


MESSAGES = {
    "servicing_only": "servicing events, and ids shaped like theirs (repaid:, bucket:, missed:, "
    "writeoff:), are the platform's own servicing's, not sent in",
    "unknown_person": "person_id is not a person of this lender's book",
    "erased_person": "other_person_id may not be used",
    "no_consent": "no monitoring consent of this person from this source at occurred_at",
    "consent_expired": "the person's monitoring consent from this source had expired at occurred_at",
    "consent_revoked": "the person revoked monitoring consent from this source before occurred_at",
}


def _refuse(result: IntakeResult, index: int, event: Event, field_name: str, reason: str) -> None:
    shown = "unknown_person" if reason == "erased_person" and field_name == "person_id" else reason
    result.refused[reason] += 1
    result.errors.append(
        EventError(index, event.event_id, field_name, shown, MESSAGES.get(shown, shown))
    )


def submit_events(
    engine: Engine,
    door: Door,
    batch: Sequence[object],
    *,
    now: datetime | None = None,
    bus: EventBus | None = None,
) -> IntakeResult:
    """Validate, pseudonymise, gate and publish ``batch``; see the module docstring.

    ``bus`` None publishes to the embedded outbox inside the transaction that read the consents;
    a Redis Streams bus is given explicitly and published to after those reads.
    """
    received_at = now or datetime.now(UTC)
    checked = validate_batch(batch, received_at, clock_tolerance=CLOCK_TOLERANCE)
    result = IntakeResult(received=checked.received, errors=list(checked.errors))
    if checked.errors:
        result.refused["invalid"] += len(checked.refused_indexes)
    indexes = [i for i in range(checked.received) if i not in checked.refused_indexes]
    candidates: list[tuple[int, Event]] = []
    for index, event in zip(indexes, checked.events, strict=True):
        if event.category is Category.SERVICING:
            _refuse(result, index, event, "type", "servicing_only")
        elif event.event_id.startswith(SERVICING_ID_PREFIXES):
            _refuse(result, index, event, "event_id", "servicing_only")
        else:
            candidates.append((index, door.pseudonymise(event)))
    with write_transaction(engine) as conn:
        accepted = _admit(conn, candidates, result)
        payloads = [to_payload(event) for event in accepted]
        if payloads and bus is None:
            result.delivery_ids = publish_in_transaction(conn, payloads)
    if payloads and bus is not None:
        result.delivery_ids = bus.publish(payloads)
    result.accepted = len(payloads)
    result.errors.sort(key=lambda error: (error.index, error.field))
    return result


def _admit(
    conn: Connection, candidates: Sequence[tuple[int, Event]], result: IntakeResult
) -> list[Event]:
    """The candidates that name a known, not erased person and pass the consent gate."""
    subjects = sorted({event.person_id for _, event in candidates})
    others = sorted(
        {
            str(event.get("other_person_id"))
            for _, event in candidates
            if event.get("other_person_id")
        }
    )
    known = _present(conn, table_of(Person).c.person_id, subjects)
    erased = _present(conn, table_of(Erasure).c.person_id, sorted(set(subjects) | set(others)))
    gated = sorted({event.person_id for _, event in candidates if event.spec.gate is not None})
    grants = _grants(conn, gated)
    accepted: list[Event] = []
    for index, event in candidates:
        if event.person_id in erased:
            _refuse(result, index, event, "person_id", "erased_person")
            continue
        if event.person_id not in known:
            _refuse(result, index, event, "person_id", "unknown_person")
            continue
        other = event.get("other_person_id")
        if other is not None and str(other) in erased:
            _refuse(result, index, event, "other_person_id", "erased_person")
            continue
        reason = consent_refusal(event, grants.get(event.person_id, ()))
        if reason is not None:
            _refuse(result, index, event, "occurred_at", reason)
            continue
        accepted.append(event)
    return accepted
