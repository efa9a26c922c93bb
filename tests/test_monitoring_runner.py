"""The monitor behind a consumer: events in through the door, alerts out in the consumer's
transaction; a restart (and a kill -9 mid-stream) rebuilds a state equal to a clean replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from creditgraph.monitoring.action_policy_file import load_action_policy
from creditgraph.monitoring.bus import split_partitions
from creditgraph.monitoring.codec import from_payload
from creditgraph.monitoring.config_file import load_monitoring_config
from creditgraph.monitoring.consumer import processed_count
from creditgraph.monitoring.door import Door
from creditgraph.monitoring.intake import submit_events
from creditgraph.monitoring.monitor import Monitor
from creditgraph.monitoring.outbox import OUTBOX, OutboxBus
from creditgraph.monitoring.runner import MonitorService
from creditgraph.store.db import migrated_engine
from creditgraph.store.models import Alert, table_of
from tests.monitor_world import Events, MonitorWorld, monitor_world

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=60)
ALERTS = table_of(Alert)


@pytest.fixture
def world(tmp_path: Path) -> MonitorWorld:
    return monitor_world(tmp_path, people=60, seed=21)


def stream(world: MonitorWorld, days: int = 40) -> tuple[list[dict], list[str]]:
    """Daily activity for twenty people, a ring of six sharing two devices and a phone from
    day 30, and everyone else on a device of their own; the ring's raw ids."""
    ev = Events("run")
    people = world.consented(START)
    ring = people[:6]
    events: list[dict] = []
    for day in range(days):
        at = START + timedelta(days=day, hours=9)
        for person, source in people[6:26]:
            events.append(ev.activity(person, at, source, minutes=40))
        if day == 1:
            for k, (person, source) in enumerate(people[6:40]):
                events.append(ev("device_seen", person, at, source, device_id=f"own-{k}"))
        if day >= 30:
            for k, (person, source) in enumerate(ring):
                at_k = at + timedelta(minutes=k)
                events.append(ev("device_seen", person, at_k, source, device_id="shared-1"))
                events.append(ev("device_seen", person, at_k, source, device_id="shared-2"))
                if day == 30:
                    events.append(
                        ev("phone_changed", person, at_k, source, phone="+86 139-0000-0001")
                    )
    return events, [person for person, _ in ring]


def publish(world: MonitorWorld, events: list[dict]) -> None:
    with migrated_engine(world.settings.database_url) as engine:
        door = Door.from_settings(world.settings)
        for start in range(0, len(events), 500):
            result = submit_events(engine, door, events[start : start + 500], now=NOW)
            assert result.accepted == len(events[start : start + 500]), result.as_dict()


def service(engine, batch: int = 200) -> MonitorService:  # type: ignore[no-untyped-def]
    return MonitorService(
        engine,
        OutboxBus(engine),
        config=load_monitoring_config(),
        policy=load_action_policy(),
        batch=batch,
    )


def clean_replay(engine) -> Monitor:  # type: ignore[no-untyped-def]
    """Every outbox event folded by a fresh monitor in one pass: what any restart must equal."""
    monitor = Monitor(load_monitoring_config())
    with engine.connect() as conn:
        payloads = conn.execute(select(OUTBOX.c.payload).order_by(OUTBOX.c.offset)).scalars()
        monitor.process_batch([from_payload(p) for p in payloads])
    return monitor


def test_a_planted_ring_raises_one_alert_per_member_with_actions(world: MonitorWorld) -> None:
    events, ring = stream(world)
    publish(world, events)
    door = Door.from_settings(world.settings)
    members = {door.identifier(door_namespace(), person) for person in ring}
    with migrated_engine(world.settings.database_url) as engine:
        summary = service(engine).run(until_idle=True)
        assert summary.loop.applied == len(events) and summary.loop.dead == 0
        with engine.connect() as conn:
            rows = conn.execute(
                select(ALERTS.c.person_id, ALERTS.c.type, ALERTS.c.evidence, ALERTS.c.actions)
            ).all()
    rings = [row for row in rows if row.type == "fraud_ring"]
    assert {row.person_id for row in rings} == members  # one alert per member, no one else
    assert len(rings) == len(members)
    evidence = rings[0].evidence
    assert set(evidence["persons"]) == members
    assert any(obj.startswith("phone:") for obj in evidence["objects"])
    assert "freeze_undrawn_limit" in str(rings[0].actions)


def door_namespace():  # type: ignore[no-untyped-def]
    from creditgraph.contracts.schema import Namespace

    return Namespace.PERSON


def test_a_restart_rebuilds_the_state_a_clean_replay_gives(world: MonitorWorld) -> None:
    events, _ = stream(world, days=35)
    publish(world, events)
    with migrated_engine(world.settings.database_url) as engine:
        first = service(engine, batch=150)
        for _ in range(3):  # part of the stream, then the process "dies"
            first.run_once()
        done = processed_count(engine, "monitor")
        assert 0 < done < len(events)
        second = service(engine, batch=150)
        assert second.start() == done  # the applied events, replayed, no more
        second.run(until_idle=True)
        assert processed_count(engine, "monitor") == len(events)
        clean = clean_replay(engine)
    people = set(clean.states.people)
    assert set(second.monitor.states.people) == people
    for person in people:
        assert second.monitor.states.get(person).snapshot() == clean.states.get(person).snapshot()
    assert second.monitor.rings.peeler.edges()[0].size == clean.rings.peeler.edges()[0].size


KILL_SCRIPT = """
import sys, time
from creditgraph.monitoring.action_policy_file import load_action_policy
from creditgraph.monitoring.config_file import load_monitoring_config
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.monitoring.runner import MonitorService
from creditgraph.store.db import make_engine

engine = make_engine(sys.argv[1])
svc = MonitorService(engine, OutboxBus(engine), config=load_monitoring_config(),
                     policy=load_action_policy(), batch=50)
print("ready", flush=True)
while True:
    if not svc.run_once().delivered:
        break
    time.sleep(0.02)
"""


def test_kill_9_mid_stream_loses_nothing_and_applies_nothing_twice(world: MonitorWorld) -> None:
    events, ring = stream(world)
    publish(world, events)
    url = world.settings.database_url
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with migrated_engine(url) as engine:
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, url], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 60
        while processed_count(engine, "monitor") < len(events) // 3:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed_at = processed_count(engine, "monitor")
        assert killed_at < len(events)
        restarted = service(engine)
        restarted.run(until_idle=True)
        assert processed_count(engine, "monitor") == len(events)
        clean = clean_replay(engine)
        with engine.connect() as conn:
            ring_alerts = conn.execute(
                select(func.count()).select_from(ALERTS).where(ALERTS.c.type == "fraud_ring")
            ).scalar()
    for person, state in clean.states.people.items():
        assert restarted.monitor.states.get(person).snapshot() == state.snapshot()
    assert ring_alerts == len(ring)  # raised once each, before or after the kill


def test_on_redis_streams_a_restart_replays_the_streams_to_the_same_state(
    world: MonitorWorld, redis_client: object
) -> None:
    import uuid

    from creditgraph.monitoring.redis_bus import RedisStreamsBus
    from creditgraph.monitoring.runner import applied_history

    events, _ = stream(world, days=35)
    bus = RedisStreamsBus(redis_client, f"{{cgtest:{uuid.uuid4().hex}}}")
    try:
        with migrated_engine(world.settings.database_url) as engine:
            door = Door.from_settings(world.settings)
            for start in range(0, len(events), 500):
                chunk = events[start : start + 500]
                assert submit_events(engine, door, chunk, now=NOW, bus=bus).accepted == len(chunk)

            def on_redis(batch: int) -> MonitorService:
                return MonitorService(
                    engine,
                    bus,
                    config=load_monitoring_config(),
                    policy=load_action_policy(),
                    batch=batch,
                    group="monitor-redis",
                )

            first = on_redis(20)  # XREADGROUP counts per stream: 8 streams of 20
            for _ in range(2):
                first.run_once()
            done = processed_count(engine, "monitor-redis")
            assert 0 < done < len(events)
            second = on_redis(150)
            assert second.start() == done
            second.run(until_idle=True)
            assert processed_count(engine, "monitor-redis") == len(events)
            clean = Monitor(load_monitoring_config())
            clean.process_batch(
                [from_payload(p) for p in applied_history(engine, bus, "monitor-redis").payloads()]
            )
        for person, state in clean.states.people.items():
            assert second.monitor.states.get(person).snapshot() == state.snapshot()
        assert len(clean.states.people) == len(second.monitor.states.people)
    finally:
        for key in redis_client.keys(bus.prefix.replace("{", "\\{").replace("}", "\\}") + "*"):  # type: ignore[attr-defined]
            redis_client.delete(key)  # type: ignore[attr-defined]


def test_consumers_that_split_the_partitions_rebuild_only_their_own_share(
    world: MonitorWorld,
) -> None:
    events, _ = stream(world, days=35)
    publish(world, events)
    with migrated_engine(world.settings.database_url) as engine:

        def consumer(index: int) -> MonitorService:
            return MonitorService(
                engine,
                OutboxBus(engine, split_partitions(2, index)),
                config=load_monitoring_config(),
                policy=load_action_policy(),
                name=f"c{index}",
            )

        first, second = consumer(0), consumer(1)
        first.run(until_idle=True)
        second.run(until_idle=True)
        assert processed_count(engine, "monitor") == len(events)
        restarted = consumer(0)
        restarted.start()
    before = {p: s.snapshot() for p, s in first.monitor.states.people.items()}
    after = {p: s.snapshot() for p, s in restarted.monitor.states.people.items()}
    assert after == before and before  # its own people, no one of the other share
    assert restarted.monitor.rings.n_edges == first.monitor.rings.n_edges


def test_an_erasure_reaches_the_events_the_alerts_and_the_running_monitor(
    world: MonitorWorld,
) -> None:
    from creditgraph.contracts.schema import Namespace
    from creditgraph.privacy.erasure import erase

    events, ring = stream(world)
    publish(world, events[: len(events) - 10])
    door = Door.from_settings(world.settings)
    gone = door.identifier(Namespace.PERSON, ring[0])
    with migrated_engine(world.settings.database_url) as engine:
        running = service(engine)
        running.run(until_idle=True)
        assert gone in running.monitor.states.people
        report = erase(engine, gone, request_ref="DSR-9")
        assert report.rows_deleted["event_outbox"] > 0 and report.rows_deleted["alerts"] == 1
        assert report.rows_deleted["credit_limit_controls"] == 1  # the ring's freeze
        publish(world, events[len(events) - 10 :])
        running.run(until_idle=True)  # notices the erasure and rebuilds without them
        assert gone not in running.monitor.states.people
        with engine.connect() as conn:
            outbox_text = " ".join(str(p) for p in conn.execute(select(OUTBOX.c.payload)).scalars())
            evidence = " ".join(str(e) for e in conn.execute(select(ALERTS.c.evidence)).scalars())
    assert gone not in outbox_text and gone not in evidence
    assert "erased" in evidence  # the other members' ring alerts keep the ring, not the name


def test_an_event_whose_handling_fails_is_set_aside_and_leaves_no_trace_in_the_state(
    world: MonitorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import creditgraph.monitoring.monitor as monitor_module

    events, _ = stream(world, days=35)
    publish(world, events)
    poison = events[100]["event_id"]
    real = monitor_module.multi_lending

    def failing(state, event, config):  # type: ignore[no-untyped-def]
        if event.event_id == poison:
            raise RuntimeError("detector failed")
        return real(state, event, config)

    monkeypatch.setattr(monitor_module, "multi_lending", failing)
    with migrated_engine(world.settings.database_url) as engine:
        running = service(engine, batch=150)
        running.run(until_idle=True)
        assert running.summary.loop.dead == 1
        running.run_once()  # the next batch (none) after the rebuild the failure asked for
        clean = Monitor(load_monitoring_config())
        with engine.connect() as conn:
            payloads = conn.execute(select(OUTBOX.c.payload).order_by(OUTBOX.c.offset)).scalars()
            clean.process_batch([from_payload(p) for p in payloads if p["event_id"] != poison])
    for person, state in clean.states.people.items():
        assert running.monitor.states.get(person).snapshot() == state.snapshot()
