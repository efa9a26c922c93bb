"""Monitoring events in: a batch, and what became of each event."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from creditgraph.api.schemas.common import Body

MAX_EVENTS = 5000
"""Events per request: a bigger batch is a file for ``creditgraph events ingest``."""


class EventsIn(Body):
    """Events of contract v1 (docs/events.md); each is checked on its own."""

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description="Events as JSON objects with event_id, type, person_id, occurred_at, source, "
        "version and the type's fields. Identifiers are the lender's own: they are "
        "pseudonymised on arrival and never stored as sent.",
    )


class EventErrorOut(BaseModel):
    """One broken rule of one refused event."""

    index: int = Field(description="The event's position in the batch, from 0.")
    event_id: str | None
    field: str
    rule: str = Field(
        description="The rule: a contract rule (required, type, enum, future, ...), "
        "servicing_only, unknown_person, erased_person, no_consent, consent_expired or "
        "consent_revoked."
    )
    message: str


class EventsOut(BaseModel):
    """Accepted events are on the bus; refused ones are not stored anywhere."""

    received: int
    accepted: int
    refused: int
    refused_by_reason: dict[str, int]
    errors: list[EventErrorOut]
