"""The event bus on Redis Streams with consumer groups, for more than one machine.

One stream per partition (``<prefix>:p<n>``), so one person's events stay in one stream and keep
their order when two consumers split the partitions (``bus.split_partitions``); within a stream a
consumer group hands each entry to one consumer (``XREADGROUP``) until it is acknowledged
(``XACK``). An entry left unacknowledged by a consumer that died is taken over after
``claim_idle_ms`` by ``XAUTOCLAIM``; a restarted consumer first re-reads its own pending entries.
Poison events go to the dead-letter stream ``<prefix>:dead`` with the group and the reason.

Replay moves the group's last-delivered id (``XGROUP SETID``): from an entry id, or from a date,
since an entry id starts with its millisecond timestamp. Streams are never trimmed here, and must
not be while a monitor may restart: a monitor rebuilds its state from every event its group
applied (``monitoring.runner``), and counts and logs those a trimmed stream no longer holds.

The ``redis`` client is the ``redis`` extra and is imported only when a bus is made.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from creditgraph.monitoring.bus import (
    PARTITIONS,
    DeadLetter,
    Delivery,
    Event,
    delivery_id,
    missing_fields,
    one_start,
    parse_delivery_id,
    partition_of,
)

# The braces are a Redis Cluster hash tag: every stream of a prefix is in one slot, so the
# publishing script may touch several of them.
DEFAULT_PREFIX = "{creditgraph:events}"
PUBLISH_SCRIPT = """
local ids = {}
for i = 1, #KEYS do ids[i] = redis.call('XADD', KEYS[i], '*', 'e', ARGV[i]) end
return ids
"""
CLAIM_IDLE_MS = 30_000
PUBLISH_CHUNK = 1000


def connect(url: str) -> Any:
    """A Redis client for ``url``; raises a clear error when the ``redis`` extra is missing."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "the Redis Streams bus needs the redis extra: pip install 'creditgraph[redis]'"
        ) from exc
    return redis.Redis.from_url(url)


def _ms(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


class RedisStreamsBus:
    """The ``EventBus`` on Redis Streams; ``partitions`` are the streams this consumer reads."""

    def __init__(
        self,
        client: Any,
        prefix: str = DEFAULT_PREFIX,
        partitions: Sequence[int] | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        block_ms: int | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        owned = (
            tuple(sorted(set(partitions))) if partitions is not None else tuple(range(PARTITIONS))
        )
        if not owned or any(not 0 <= p < PARTITIONS for p in owned):
            raise ValueError(f"partitions must be a non-empty subset of 0..{PARTITIONS - 1}")
        self.partitions = owned
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self._ready: set[str] = set()
        self._own_pending_read: set[tuple[str, str]] = set()
        self._last_claim: dict[str, float] = {}
        self._publish_script = client.register_script(PUBLISH_SCRIPT)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStreamsBus:
        return cls(connect(url), **options)

    def stream(self, partition: int) -> str:
        return f"{self.prefix}:p{partition}"

    @property
    def dead_stream(self) -> str:
        return f"{self.prefix}:dead"

    # --- publishing -----------------------------------------------------------------------

    def publish(self, events: Iterable[Event]) -> list[str]:
        """``XADD`` each event to its person's stream; the ids in the order given.

        A chunk is one server-side script (``PUBLISH_SCRIPT``): atomic, and about 2.5 times the
        rate of a pipeline of ``XADD`` commands, whose packing in Python is the cost.
        """
        items = list(events)
        for index, event in enumerate(items):
            missing = missing_fields(event)
            if missing:
                raise ValueError(f"event {index} lacks {', '.join(missing)}")
        ids: list[str] = []
        for start in range(0, len(items), PUBLISH_CHUNK):
            chunk = items[start : start + PUBLISH_CHUNK]
            parts = [partition_of(event["person_id"]) for event in chunk]
            entries = self._publish_script(
                keys=[self.stream(p) for p in parts],
                args=[orjson.dumps(dict(event)) for event in chunk],
            )
            ids.extend(delivery_id(p, _str(entry)) for p, entry in zip(parts, entries, strict=True))
        return ids

    # --- consuming ------------------------------------------------------------------------

    def consume(self, group: str, consumer: str, batch: int = 500) -> list[Delivery]:
        """Own pending entries first (after a restart), then entries idle too long elsewhere
        (``XAUTOCLAIM``), then new ones (``XREADGROUP >``)."""
        self._ensure_group(group)
        deliveries = self._own_pending(group, consumer, batch)
        if not deliveries:
            deliveries = self._claim(group, consumer, batch)
        if deliveries:
            return deliveries
        streams = {self.stream(p): ">" for p in self.partitions}
        reply = self.client.xreadgroup(group, consumer, streams, count=batch, block=self.block_ms)
        return self._deliveries(reply)

    def ack(self, group: str, ids: Sequence[str]) -> None:
        by_stream: dict[str, list[str]] = {}
        for value in ids:
            p, entry = parse_delivery_id(value)
            by_stream.setdefault(self.stream(p), []).append(entry)
        if not by_stream:
            return
        pipe = self.client.pipeline(transaction=False)
        for name, entries in by_stream.items():
            pipe.xack(name, group, *entries)
        pipe.execute()

    def pending(self, group: str) -> int:
        """How many entries of ``group`` are delivered and not yet acknowledged."""
        self._ensure_group(group)
        return sum(
            int(self.client.xpending(self.stream(p), group)["pending"]) for p in self.partitions
        )

    # --- dead letters and replay ------------------------------------------------------------

    def dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        self.client.xadd(
            self.dead_stream,
            {
                "group": group,
                "delivery_id": delivery.id,
                "reason": reason[:1000],
                "e": orjson.dumps(dict(delivery.event)),
            },
        )

    def dead_letters(self, group: str) -> list[DeadLetter]:
        letters = []
        for entry, fields in self.client.xrange(self.dead_stream):
            if _str(fields[b"group"]) != group:
                continue
            moment = datetime.fromtimestamp(int(_str(entry).split("-")[0]) / 1000, UTC)
            letters.append(
                DeadLetter(
                    group,
                    _str(fields[b"delivery_id"]),
                    orjson.loads(fields[b"e"]),
                    _str(fields[b"reason"]),
                    moment.replace(tzinfo=None),
                )
            )
        return letters

    def replay(
        self, group: str, *, from_position: str | None = None, since: datetime | None = None
    ) -> None:
        """``XGROUP SETID`` on every partition's stream to just before the starting entry.

        ``from_position`` is a delivery id (``3:1733550000000-0``: its own stream starts at that
        entry, the others at its millisecond) or a bare entry id (every stream at that id);
        ``since`` a naive UTC moment. Pending entries stay pending and are acknowledged as usual.
        """
        one_start(from_position, since)
        own: int | None = None
        if since is not None:
            start = (_ms(since), 0)
        else:
            assert from_position is not None
            partition, _, entry = from_position.rpartition(":")
            own = int(partition) if partition else None
            ms, _, seq = entry.partition("-")
            start = (int(ms), int(seq or 0))
        self._ensure_group(group)
        for p in range(PARTITIONS):
            # ids are per stream: the other streams start at the entry's millisecond
            exact = own is None or p == own
            self.client.xgroup_setid(
                self.stream(p), group, id=_just_before(start if exact else (start[0], 0))
            )
        self._own_pending_read = {key for key in self._own_pending_read if key[0] != group}

    def rewind(self, group: str) -> None:
        """After a transaction that handled deliveries rolled back: read this process's own
        pending entries again first, so they come back now and in order, not after another
        consumer's ``XAUTOCLAIM`` and behind newer entries."""
        self._own_pending_read = {key for key in self._own_pending_read if key[0] != group}

    def drop(self) -> None:
        """Delete every stream of this prefix (tests and tear-down)."""
        self.client.delete(*(self.stream(p) for p in range(PARTITIONS)), self.dead_stream)
        self._ready.clear()

    # --- internals --------------------------------------------------------------------------

    def _ensure_group(self, group: str) -> None:
        if group in self._ready:
            return
        for p in range(PARTITIONS):
            try:
                self.client.xgroup_create(self.stream(p), group, id="0", mkstream=True)
            except Exception as exc:  # redis.ResponseError: the group exists already
                if "BUSYGROUP" not in str(exc):
                    raise
        self._ready.add(group)

    def _own_pending(self, group: str, consumer: str, batch: int) -> list[Delivery]:
        """Once per group and consumer: what Redis still holds as delivered to this consumer."""
        key = (group, consumer)
        if key in self._own_pending_read:
            return []
        streams = {self.stream(p): "0" for p in self.partitions}
        deliveries = self._deliveries(self.client.xreadgroup(group, consumer, streams, count=batch))
        if not deliveries:
            self._own_pending_read.add(key)
        return deliveries

    def _claim(self, group: str, consumer: str, batch: int) -> list[Delivery]:
        """``XAUTOCLAIM`` entries idle for ``claim_idle_ms``, at most every half of that time."""
        now = time.monotonic()
        if now - self._last_claim.get(group, -1e18) < self.claim_idle_ms / 2000:
            return []
        self._last_claim[group] = now
        deliveries: list[Delivery] = []
        for p in self.partitions:
            reply = self.client.xautoclaim(
                self.stream(p), group, consumer, self.claim_idle_ms, start_id="0-0", count=batch
            )
            for entry, fields in reply[1]:
                if fields:  # an entry deleted from the stream comes back without fields
                    deliveries.append(_delivery(p, entry, fields))
        return deliveries

    def _deliveries(self, reply: Any) -> list[Delivery]:
        out = []
        for name, entries in reply or []:
            p = int(_str(name).rpartition(":p")[2])
            for entry, fields in entries:
                if fields:
                    out.append(_delivery(p, entry, fields))
        # one stream after another in the reply: order each partition's entries as they came,
        # and across partitions by id so a batch is as close to publish order as it can be
        out.sort(key=lambda d: _entry_key(d.position))
        return out


def _delivery(partition: int, entry: Any, fields: dict[Any, Any]) -> Delivery:
    position = _str(entry)
    return Delivery(
        delivery_id(partition, position), partition, position, orjson.loads(fields[b"e"])
    )


def _just_before(start: tuple[int, int]) -> str:
    """The last-delivered id that makes ``start`` the next entry (the id is exclusive)."""
    ms, seq = start
    if seq > 0:
        return f"{ms}-{seq - 1}"
    if ms > 0:
        return f"{ms - 1}-{2**64 - 1}"
    return "0-0"


def _entry_key(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
