"""The event bus's one small interface, shared by the embedded outbox and Redis Streams.

An event is a plain JSON object with at least ``event_id``, ``person_id``, ``occurred_at`` and
``type``; the bus carries it unchanged and never looks inside beyond the person (for the
partition). Delivery is at-least-once: a delivery not acknowledged is delivered again, so handlers
are made idempotent by ``event_id`` (``monitoring.consumer`` does it with ``processed_events``).

Order per person: each event goes to one of ``PARTITIONS`` partitions chosen from its person, a
partition is read in publish order by one consumer of a group at a time, so one person's events
are handled in the order they were published.

This module is pure: no database, no Redis, no file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# The envelope's rules live below the store, which publishes servicing's events with their
# postings; re-exported here as the bus's own vocabulary.
from creditgraph.event_envelope import (
    PARTITIONS,
    REQUIRED_FIELDS,
    Event,
    delivery_id,
    missing_fields,
    partition_of,
)

__all__ = [
    "PARTITIONS",
    "REQUIRED_FIELDS",
    "DeadLetter",
    "Delivery",
    "Event",
    "EventBus",
    "TransactionalAck",
    "delivery_id",
    "missing_fields",
    "one_start",
    "parse_delivery_id",
    "partition_of",
    "split_partitions",
]


def split_partitions(consumers: int, index: int, partitions: int = PARTITIONS) -> tuple[int, ...]:
    """The partitions consumer ``index`` of ``consumers`` owns: round-robin, disjoint, complete."""
    if not 0 <= index < consumers:
        raise ValueError(f"consumer index {index} is outside 0..{consumers - 1}")
    return tuple(range(index, partitions, consumers))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event handed to a consumer; ``id`` is what ``ack`` and ``dead_letter`` take back.

    ``id`` is ``"<partition>:<position>"``: an outbox offset or a Redis Streams entry id.
    """

    id: str
    partition: int
    position: str
    event: Event


def parse_delivery_id(value: str) -> tuple[int, str]:
    partition, _, position = value.partition(":")
    if not position:
        raise ValueError(f"not a delivery id: {value!r}")
    return int(partition), position


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A poison event and why it was set aside."""

    group: str
    delivery_id: str
    event: Event
    reason: str
    dead_at: datetime


@runtime_checkable
class EventBus(Protocol):
    """What every transport offers; ``monitoring.consumer`` runs the same loop over each."""

    def publish(self, events: Iterable[Event]) -> list[str]:
        """Append events durably; returns their delivery ids in order."""
        ...

    def consume(self, group: str, consumer: str, batch: int = 500) -> list[Delivery]:
        """Up to ``batch`` deliveries for ``consumer`` of ``group``, oldest first, never blocking
        long; unacknowledged deliveries of a consumer that died come back."""
        ...

    def ack(self, group: str, ids: Sequence[str]) -> None:
        """The deliveries are done with: they are not delivered to ``group`` again."""
        ...

    def dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        """Set a poison delivery aside with its reason (the caller still acknowledges it)."""
        ...

    def dead_letters(self, group: str) -> list[DeadLetter]:
        """The group's dead letters, oldest first."""
        ...

    def replay(
        self, group: str, *, from_position: str | None = None, since: datetime | None = None
    ) -> None:
        """Deliver to ``group`` again from a position (inclusive) or from the first event
        published on or after ``since`` (naive UTC); exactly one of the two."""
        ...


@runtime_checkable
class TransactionalAck(Protocol):
    """A bus whose acknowledgements and dead letters can join the handler's own transaction
    (the outbox): offsets and effects commit together. ``conn`` is the transport's connection."""

    def ack_in(self, conn: Any, group: str, ids: Sequence[str]) -> None: ...

    def dead_letter_in(self, conn: Any, group: str, delivery: Delivery, reason: str) -> None: ...


def one_start(from_position: str | None, since: datetime | None) -> None:
    """Replay takes exactly one starting point."""
    if (from_position is None) == (since is None):
        raise ValueError("replay takes exactly one of from_position or since")
