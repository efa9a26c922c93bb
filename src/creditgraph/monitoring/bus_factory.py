"""Which bus a process talks to: the embedded outbox, or Redis Streams when a URL says so.

``settings.event_bus_url`` (``CREDITGRAPH_EVENT_BUS_URL``) unset means the outbox in the
database every other part already uses; ``redis://`` or ``rediss://`` means Redis Streams (the
``redis`` extra). Publishers and consumers of one deployment must agree, so the choice is one
setting read in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from creditgraph.monitoring.bus import EventBus
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.settings import Settings

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class BusConfigError(ValueError):
    """The event bus setting names something this platform cannot talk to."""


def bus_for(
    settings: Settings, engine: Engine, partitions: Sequence[int] | None = None
) -> EventBus:
    """The configured bus; ``partitions`` are those a consumer owns (all by default)."""
    url = settings.event_bus_url
    if not url:
        return OutboxBus(engine, partitions)
    if url.startswith(REDIS_SCHEMES):
        from creditgraph.monitoring.redis_bus import RedisStreamsBus

        return RedisStreamsBus.from_url(url, partitions=partitions)
    raise BusConfigError(
        f"event_bus_url must be unset (the embedded outbox) or a redis:// URL, got {url.split(':')[0]}:..."
    )
