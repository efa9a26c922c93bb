"""Servicing's outbox events reach a monitor on Redis Streams through the relay, in order per
person, each applied once even when the relay dies between publishing and acknowledging."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine

from creditgraph.monitoring.consumer import Consumer, processed_count
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.monitoring.redis_bus import RedisStreamsBus
from creditgraph.monitoring.relay import RELAY_GROUP, Relay
from creditgraph.store.db import write_transaction
from creditgraph.store.event_outbox import publish_in_transaction


def events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"repaid:t{i}",
            "type": "repayment_posted",
            "person_id": f"p{i % 7}",
            "occurred_at": f"2026-07-01T00:00:{i % 60:02d}Z",
            "source": "servicing",
            "version": 1,
            "seq": i,
        }
        for i in range(n)
    ]


def test_the_relay_moves_servicing_events_once_each_in_order(
    engine: Engine, redis_client: Any
) -> None:
    sent = events(300)
    with write_transaction(engine) as conn:  # as servicing does, inside its posting
        publish_in_transaction(conn, sent)
    streams = RedisStreamsBus(redis_client, f"{{cgtest:{uuid.uuid4().hex}}}")
    try:
        outbox = OutboxBus(engine)
        # a relay that dies after publishing its first batch, before acknowledging it
        first = outbox.consume(RELAY_GROUP, "relay", 100)
        streams.publish([d.event for d in first])
        outbox.rewind(RELAY_GROUP)
        relay = Relay(OutboxBus(engine), streams, batch=100)
        assert relay.run(until_idle=True).delivered == 300
        seen: dict[str, list[int]] = defaultdict(list)

        def handle(event: Any, _conn: Any) -> None:
            seen[str(event["person_id"])].append(int(event["seq"]))

        consumer = Consumer(streams, engine, "monitor-redis", "c1", handle, batch=50)
        stats = consumer.run(until_idle=True)
        assert stats.delivered == 400 and stats.duplicates == 100  # the first batch twice
        assert processed_count(engine, "monitor-redis") == 300
        for person, order in seen.items():
            assert order == sorted(order), person  # one person's events in posting order
        assert sum(len(v) for v in seen.values()) == 300
        assert Relay(OutboxBus(engine), streams).run(until_idle=True).delivered == 0
    finally:
        streams.drop()


def test_the_relay_command_needs_a_redis_bus(tmp_path: Any, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from creditgraph.cli.main import app

    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_EVENT_BUS_URL", raising=False)
    result = CliRunner().invoke(app, ["events", "relay", "--until-idle"])
    assert result.exit_code == 2 and "CREDITGRAPH_EVENT_BUS_URL" in result.stderr
