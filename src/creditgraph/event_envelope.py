"""The envelope every event on the bus shares: its required fields, its partition, its delivery id.

Here, below the store, because two layers apply the same rules: ``store.event_outbox`` appends
events inside a servicing posting's own transaction, and ``monitoring.bus`` (the transports and
the consumers) reads them back. A person's partition is computed at publish and must come out
the same in every process that ever reads it, so the rule lives in one place.

Pure: no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

Event = Mapping[str, Any]

# Fixed for the life of a store: a person's partition is computed at publish and must not move.
PARTITIONS = 8
REQUIRED_FIELDS = ("event_id", "person_id", "occurred_at", "type")


def partition_of(person_id: object, partitions: int = PARTITIONS) -> int:
    """The partition of a person's events: a stable hash (CRC-32), the same in every process."""
    return zlib.crc32(str(person_id).encode()) % partitions


def missing_fields(event: Event) -> list[str]:
    """The required fields an event lacks (empty when it can travel)."""
    return [name for name in REQUIRED_FIELDS if event.get(name) in (None, "")]


def delivery_id(partition: int, position: object) -> str:
    """``"<partition>:<position>"``: an outbox offset or a Redis Streams entry id."""
    return f"{partition}:{position}"
