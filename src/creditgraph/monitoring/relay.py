"""Servicing's events from the outbox onto Redis Streams, when the monitor runs on Redis.

Servicing appends its events to the outbox table in the posting's own transaction (an event
exists if and only if its posting does); it never talks to Redis. When monitors consume Redis
Streams (``CREDITGRAPH_EVENT_BUS_URL``), this relay reads the outbox as a consumer group of its
own, publishes each batch to the streams in offset order and only then acknowledges it. A crash
between the two publishes the batch again on restart: at-least-once, and harmless, since the
monitor applies each ``event_id`` once. One person's events keep their order: the outbox is read
in offset order and both buses put a person in the same partition (``event_envelope``).
"""

from __future__ import annotations

from collections.abc import Callable

from creditgraph.monitoring.consumer import LoopStats, run_loop
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.monitoring.redis_bus import RedisStreamsBus

RELAY_GROUP = "relay-to-redis"
RELAY_BATCH = 1000


class Relay:
    """Moves the outbox's events to Redis Streams, batch by batch."""

    def __init__(
        self, outbox: OutboxBus, streams: RedisStreamsBus, batch: int = RELAY_BATCH
    ) -> None:
        self.outbox = outbox
        self.streams = streams
        self.batch = batch
        self.relayed = 0

    def run_once(self) -> LoopStats:
        """One batch: read, publish, acknowledge (in that order)."""
        deliveries = self.outbox.consume(RELAY_GROUP, "relay", self.batch)
        if deliveries:
            self.streams.publish([d.event for d in deliveries])
            self.outbox.ack(RELAY_GROUP, [d.id for d in deliveries])
            self.relayed += len(deliveries)
        n = len(deliveries)
        return LoopStats(batches=1 if n else 0, delivered=n, applied=n)

    def run(self, *, until_idle: bool = False, stop: Callable[[], bool] | None = None) -> LoopStats:
        return run_loop(self.run_once, until_idle=until_idle, stop=stop, idle_sleep=0.2)
