"""The event bus, on both transports: the embedded outbox and Redis Streams.

Each test runs on the outbox and on Redis (and on SQLite and PostgreSQL for the consumer's
database). Redis tests skip locally when no server answers, and fail under CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection

from creditgraph.monitoring.bus import (
    PARTITIONS,
    EventBus,
    TransactionalAck,
    partition_of,
    split_partitions,
)
from creditgraph.monitoring.consumer import Consumer, processed_count
from creditgraph.monitoring.outbox import OutboxBus, publish_in_transaction
from creditgraph.monitoring.redis_bus import RedisStreamsBus
from creditgraph.store.db import make_engine, upgrade, write_transaction

REDIS_URL = os.environ.get("CREDITGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

MakeBus = Callable[..., EventBus]


def event(n: int, person: str = "p1", kind: str = "activity_day", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{n:06d}",
        "person_id": person,
        "occurred_at": f"2026-12-01T00:00:{n % 60:02d}Z",
        "type": kind,
        "seq": n,
        **extra,
    }


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


BUS_CASES = [
    pytest.param(("outbox", "sqlite"), id="outbox-sqlite"),
    pytest.param(("outbox", "postgres"), id="outbox-postgresql", marks=pytest.mark.postgres),
    pytest.param(("redis", "sqlite"), id="redis-sqlite"),
]


@pytest.fixture(params=BUS_CASES)
def bus_case(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """A transport and the consumer's database (Redis with SQLite: PostgreSQL under the
    consumer is covered by the outbox's runs)."""
    kind, database = request.param
    db = make_engine(str(request.getfixturevalue(f"{database}_url")))
    upgrade(db)
    yield kind, db
    db.dispose()


@pytest.fixture
def bus_engine(bus_case: tuple[str, Engine]) -> Engine:
    return bus_case[1]


@pytest.fixture
def make_bus(request: pytest.FixtureRequest, bus_case: tuple[str, Engine]) -> Iterator[MakeBus]:
    """A factory of buses on one log: each call is another consumer process's view of it."""
    kind, engine = bus_case
    if kind == "outbox":

        def outbox(partitions: tuple[int, ...] | None = None, **_: Any) -> EventBus:
            return OutboxBus(engine, partitions)

        yield outbox
        return
    client = request.getfixturevalue("redis_client")
    prefix = f"{{cgtest:{uuid.uuid4().hex}}}"
    made: list[RedisStreamsBus] = []

    def on_redis(partitions: tuple[int, ...] | None = None, **options: Any) -> EventBus:
        bus = RedisStreamsBus(client, prefix, partitions, **options)
        made.append(bus)
        return bus

    yield on_redis
    if made:
        made[0].drop()


def recorder(seen: list[dict[str, Any]]) -> Callable[[Any, Connection], None]:
    def handle(event: Any, _conn: Connection) -> None:
        if event["type"] == "poison":
            raise ValueError(f"cannot apply {event['event_id']}")
        if event["type"] == "bad_sql":  # fails inside the database: only its savepoint rolls back
            _conn.execute(text("SELECT no_such_column FROM no_such_table"))
        seen.append(dict(event))

    return handle


def test_publish_consume_ack_and_nothing_comes_back(make_bus: MakeBus) -> None:
    bus = make_bus()
    events = [event(n, person=f"p{n % 3}") for n in range(10)]
    ids = bus.publish(events)
    assert len(ids) == 10 and len(set(ids)) == 10
    got = bus.consume("g", "c1", batch=100)
    assert sorted(d.event["seq"] for d in got) == list(range(10))
    assert {d.id for d in got} == set(ids)
    assert all(d.partition == partition_of(d.event["person_id"]) for d in got)
    bus.ack("g", [d.id for d in got])
    assert bus.consume("g", "c1") == []
    assert make_bus().consume("g", "c1") == []  # the acknowledgement is durable
    assert len(make_bus().consume("other", "c1")) == 10  # each group reads the whole log


def test_bad_events_are_refused_at_publish_and_nothing_is_written(make_bus: MakeBus) -> None:
    bus = make_bus()
    with pytest.raises(ValueError, match="event 1 lacks person_id"):
        bus.publish([event(0), {"event_id": "x", "occurred_at": "t", "type": "t"}])
    assert bus.consume("g", "c1") == []


def test_unacknowledged_deliveries_come_back_to_another_consumer(make_bus: MakeBus) -> None:
    make_bus().publish([event(n) for n in range(5)])
    dying = make_bus(claim_idle_ms=50)
    assert len(dying.consume("g", "c1")) == 5  # and never acknowledged
    time.sleep(0.12)
    taker = make_bus(claim_idle_ms=50)  # outbox: a restart; Redis: XAUTOCLAIM of idle entries
    again = taker.consume("g", "c2")
    assert [d.event["seq"] for d in again] == [0, 1, 2, 3, 4]
    taker.ack("g", [d.id for d in again])
    assert make_bus(claim_idle_ms=50).consume("g", "c3") == []


def test_a_consumer_dying_before_its_commit_loses_nothing(
    make_bus: MakeBus, bus_engine: Engine
) -> None:
    make_bus().publish([event(n) for n in range(20)])

    def dies(event: Any, conn: Connection) -> None:
        if event["seq"] == 7:
            raise SystemExit("killed mid-batch")

    with pytest.raises(SystemExit):
        Consumer(make_bus(claim_idle_ms=50), bus_engine, "g", "c1", dies).run_once()
    assert processed_count(bus_engine, "g") == 0  # the batch's effects rolled back together
    seen: list[dict[str, Any]] = []
    time.sleep(0.12)
    stats = Consumer(make_bus(claim_idle_ms=50), bus_engine, "g", "c1", recorder(seen)).run(
        until_idle=True
    )
    assert [e["seq"] for e in seen] == list(range(20))
    assert stats.applied == 20 and stats.duplicates == 0
    assert processed_count(bus_engine, "g") == 20


def test_an_idempotent_handler_applies_each_event_once(
    make_bus: MakeBus, bus_engine: Engine
) -> None:
    bus = make_bus()
    ids = bus.publish([event(n) for n in range(6)] + [event(2), event(4)])  # two published twice
    seen: list[dict[str, Any]] = []
    consumer = Consumer(bus, bus_engine, "g", "c1", recorder(seen), batch=3)
    stats = consumer.run(until_idle=True)
    assert [e["seq"] for e in seen] == list(range(6))
    assert (stats.delivered, stats.applied, stats.duplicates) == (8, 6, 2)
    bus.replay("g", from_position=ids[0])  # everything again: all skipped
    again = consumer.run(until_idle=True)
    assert (again.applied, again.duplicates) == (0, 8)
    assert len(seen) == 6 and processed_count(bus_engine, "g") == 6


def test_one_persons_events_keep_their_order_across_two_consumers(
    make_bus: MakeBus, bus_engine: Engine
) -> None:
    people = [f"person-{k}" for k in range(12)]
    assert len({partition_of(p) for p in people}) > 2  # the people spread over partitions
    make_bus().publish([event(n, person=people[n % len(people)]) for n in range(600)])
    seen: list[dict[str, Any]] = []
    consumers = [
        Consumer(
            make_bus(split_partitions(2, i)), bus_engine, "g", f"c{i}", recorder(seen), batch=25
        )
        for i in range(2)
    ]
    while True:  # the two take turns, batch by batch
        if sum(c.run_once().delivered for c in consumers) == 0:
            break
    assert sorted(e["seq"] for e in seen) == list(range(600))
    for person in people:
        mine = [e["seq"] for e in seen if e["person_id"] == person]
        assert mine == sorted(mine) and len(mine) == 50


def test_a_poison_event_goes_to_the_dead_letters_and_the_stream_goes_on(
    make_bus: MakeBus, bus_engine: Engine
) -> None:
    bus = make_bus()
    events = [event(n) for n in range(10)]
    events[4] = event(4, kind="poison")
    events[7] = event(7, kind="bad_sql")
    bus.publish(events)
    seen: list[dict[str, Any]] = []
    stats = Consumer(bus, bus_engine, "g", "c1", recorder(seen)).run(until_idle=True)
    assert [e["seq"] for e in seen] == [0, 1, 2, 3, 5, 6, 8, 9]
    assert (stats.applied, stats.dead) == (8, 2)
    assert processed_count(bus_engine, "g") == 8
    poison, bad_sql = bus.dead_letters("g")
    assert poison.event["event_id"] == "e000004"
    assert poison.reason == "ValueError: cannot apply e000004"
    assert bad_sql.event["event_id"] == "e000007"
    assert bad_sql.reason.startswith(("OperationalError", "ProgrammingError"))
    assert bus.dead_letters("other") == []
    assert make_bus().consume("g", "c1") == []  # acknowledged: not delivered again


def test_replay_from_an_offset_and_from_a_date(make_bus: MakeBus) -> None:
    bus = make_bus()
    first = []
    for n in range(6):  # a millisecond apart: Redis orders streams against each other by time
        first += bus.publish([event(n, person=f"p{n}")])
        time.sleep(0.002)
    time.sleep(0.02)
    moment = utcnow()
    time.sleep(0.02)
    bus.publish([event(n, person=f"p{n}") for n in range(6, 10)])
    got = bus.consume("g", "c1", batch=100)
    bus.ack("g", [d.id for d in got])
    assert bus.consume("g", "c1") == []

    bus.replay("g", from_position=first[3])
    assert sorted(d.event["seq"] for d in drain(bus, "g")) == list(range(3, 10))
    bus.replay("g", since=moment)
    assert sorted(d.event["seq"] for d in drain(bus, "g")) == list(range(6, 10))
    fresh = make_bus()
    fresh.replay("new", since=moment)
    assert sorted(d.event["seq"] for d in drain(fresh, "new")) == list(range(6, 10))
    with pytest.raises(ValueError, match="exactly one"):
        bus.replay("g")


def drain(bus: EventBus, group: str) -> list[Any]:
    out = []
    while batch := bus.consume(group, "c1", batch=3):
        bus.ack(group, [d.id for d in batch])
        out.extend(batch)
    return out


# --- the outbox alone ------------------------------------------------------------------------


def test_outbox_publish_inside_the_callers_transaction_rolls_back_with_it(engine: Engine) -> None:
    bus = OutboxBus(engine)
    assert isinstance(bus, TransactionalAck)
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        publish_in_transaction(conn, [event(1)])
        raise RuntimeError("the posting failed")
    assert bus.consume("g", "c1") == []
    with write_transaction(engine) as conn:
        ids = publish_in_transaction(conn, [event(2), event(3)])
    assert [d.id for d in bus.consume("g", "c1")] == ids


def test_outbox_offsets_only_grow_and_commit_with_the_handlers_effects(engine: Engine) -> None:
    bus = OutboxBus(engine)
    ids = bus.publish([event(n, person=f"p{n}") for n in range(PARTITIONS * 3)])
    offsets = [int(i.split(":")[1]) for i in ids]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    got = bus.consume("g", "c1", batch=5)
    bus.ack("g", [got[0].id, got[2].id])  # a gap: the committed offset stops before it
    assert set(bus.committed("g").values()) == {offsets[0]}
    bus.ack("g", [got[1].id, got[3].id, got[4].id])
    assert set(bus.committed("g").values()) == {offsets[4]}


# --- kill -9 of a real consumer process on the outbox -----------------------------------------

CONSUMER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import update, insert, text
    from creditgraph.monitoring.consumer import Consumer
    from creditgraph.monitoring.outbox import OutboxBus
    from creditgraph.store.db import make_engine

    url, pause = sys.argv[1], float(sys.argv[2])
    engine = make_engine(url)

    def handle(event, conn):
        conn.execute(text("INSERT INTO bus_test_applied (event_id) VALUES (:e)"),
                     {"e": event["event_id"]})
        done = conn.execute(
            text("UPDATE bus_test_totals SET total = total + :a WHERE person_id = :p"),
            {"a": event["amount"], "p": event["person_id"]},
        )
        if done.rowcount == 0:
            conn.execute(text("INSERT INTO bus_test_totals (person_id, total) VALUES (:p, :a)"),
                         {"a": event["amount"], "p": event["person_id"]})
        if pause:
            time.sleep(pause)

    Consumer(OutboxBus(engine), engine, "state", "c1", handle, batch=40).run(until_idle=True)
    """
)


def effect_tables(engine: Engine) -> tuple[Table, Table]:
    metadata = MetaData()
    applied = Table("bus_test_applied", metadata, Column("event_id", String(64), primary_key=True))
    totals = Table(
        "bus_test_totals",
        metadata,
        Column("person_id", String(40), primary_key=True),
        Column("total", Integer, nullable=False),
    )
    metadata.create_all(engine)
    return applied, totals


def test_a_consumer_killed_mid_stream_restarts_to_the_state_of_a_clean_replay(
    engine: Engine, tmp_path: Path
) -> None:
    applied, totals = effect_tables(engine)
    events = [event(n, person=f"p{n % 17}", amount=n % 7 + 1) for n in range(2000)]
    OutboxBus(engine).publish(events)
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER_SCRIPT)
    url = engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen([sys.executable, str(script), url, "0.0005"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while processed_count(engine, "state") < 300:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    left_at = processed_count(engine, "state")
    assert 300 <= left_at < 2000  # killed mid-stream

    rerun = subprocess.run(
        [sys.executable, str(script), url, "0"], capture_output=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr.decode()

    expected: dict[str, int] = {}
    for e in events:
        expected[e["person_id"]] = expected.get(e["person_id"], 0) + e["amount"]
    with engine.connect() as conn:
        assert dict(conn.execute(select(totals.c.person_id, totals.c.total)).all()) == expected
        assert conn.execute(select(func.count()).select_from(applied)).scalar() == 2000
    assert processed_count(engine, "state") == 2000
    assert OutboxBus(engine).dead_letters("state") == []
    assert set(OutboxBus(engine).committed("state").values()) == {2000}
