"""The Redis Streams bus across a restart of the Redis server itself.

A private ``redis-server`` (append-only file, fsync on every write) carries a stream of events;
a consumer applies part of them, one more batch is delivered and left unacknowledged, and the
server is killed with SIGKILL and started again on the same directory. Consumers then finish:
every event is applied exactly once (the state equals a clean replay into another group), the
unacknowledged batch comes back from the server's own pending list, and the streams go on.

Skips when ``redis-server`` or the ``redis`` client is missing, except under CI, where that fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.engine import Connection

from creditgraph.monitoring.consumer import Consumer, processed_count
from creditgraph.monitoring.redis_bus import RedisStreamsBus
from creditgraph.store.db import make_engine, upgrade

EVENTS = 2000
LATER = 300  # published after the restart


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """A private ``redis-server`` on ``port`` keeping its append-only file in ``directory``."""

    binary: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        import redis

        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what the append-only file already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not on PATH")
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable("the redis client is not installed")
    assert binary is not None
    directory = tmp_path / "redis"
    directory.mkdir()
    running = RedisServer(binary, _free_port(), directory)
    running.start()
    yield running
    running.kill()


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def event(n: int) -> dict[str, Any]:
    return {
        "event_id": f"r{n:06d}",
        "person_id": f"p{n % 23}",
        "occurred_at": f"2026-12-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "type": "activity_day",
        "amount": n % 7 + 1,
    }


def effect_table(engine: Engine, name: str) -> Table:
    table = Table(
        name,
        MetaData(),
        Column("person_id", String(40), primary_key=True),
        Column("total", Integer, nullable=False),
        Column("events", Integer, nullable=False),
    )
    table.create(engine)
    return table


def adder(table: str) -> Callable[[Any, Connection], None]:
    """A handler that is not idempotent on its own: only the consumer's processed_events keep
    an event from being added twice."""

    def handle(e: Any, conn: Connection) -> None:
        done = conn.execute(
            text(
                f"UPDATE {table} SET total = total + :a, events = events + 1 WHERE person_id = :p"
            ),
            {"a": e["amount"], "p": e["person_id"]},
        )
        if done.rowcount == 0:
            conn.execute(
                text(f"INSERT INTO {table} (person_id, total, events) VALUES (:p, :a, 1)"),
                {"a": e["amount"], "p": e["person_id"]},
            )

    return handle


def bus_on(server: RedisServer, prefix: str) -> RedisStreamsBus:
    """A bus as a freshly started consumer process sees it (its own client and read state)."""
    return RedisStreamsBus.from_url(server.url, prefix=prefix)


def totals(engine: Engine, table: Table) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.person_id, table.c.total, table.c.events)).all()
    return {person: (total, count) for person, total, count in rows}


def test_a_redis_restart_loses_no_event_and_applies_none_twice(
    server: RedisServer, db: Engine
) -> None:
    import redis

    prefix = f"{{cgrestart:{uuid.uuid4().hex}}}"
    state = effect_table(db, "restart_state")
    replayed = effect_table(db, "restart_replay")
    events = [event(n) for n in range(EVENTS + LATER)]
    bus = bus_on(server, prefix)
    bus.publish(events[:EVENTS])

    consumer = Consumer(bus, db, "state", "c1", adder("restart_state"), batch=50)
    while processed_count(db, "state") < 600:
        assert consumer.run_once().delivered
    applied_before = processed_count(db, "state")
    # Two batches in flight when the server dies: one delivered to c1 and not yet handled, and
    # one that c2 handled and committed but whose XACK never reached the server (killed while
    # c2 handled the batch's first event; the rest of the batch is handled in the database).
    in_flight = bus.consume("state", "c1", batch=50)
    assert in_flight
    apply = adder("restart_state")

    def kill_then_apply(e: Any, conn: Connection) -> None:
        server.kill()
        apply(e, conn)

    c2 = Consumer(bus_on(server, prefix), db, "state", "c2", kill_then_apply, batch=50)
    with pytest.raises(redis.ConnectionError):
        c2.run_once()
    committed = processed_count(db, "state")
    unacknowledged = committed - applied_before  # c2's batch: in the database, still pending
    assert unacknowledged > 0

    with pytest.raises(redis.ConnectionError):
        bus.publish(events[EVENTS : EVENTS + 1])  # nothing reaches a dead server
    server.start()

    after = bus_on(server, prefix)
    # both batches are still pending after the restart
    assert after.pending("state") == len(in_flight) + unacknowledged
    ids = after.publish(events[EVENTS:])
    assert len(ids) == LATER
    first = Consumer(after, db, "state", "c1", adder("restart_state"), batch=50)
    second = Consumer(bus_on(server, prefix), db, "state", "c2", adder("restart_state"), batch=50)
    one, two = first.run(until_idle=True), second.run(until_idle=True)
    assert one.dead == two.dead == 0
    assert one.duplicates + two.duplicates == unacknowledged  # c2's batch, delivered again
    assert one.applied + two.applied == EVENTS + LATER - committed
    assert after.pending("state") == 0
    assert processed_count(db, "state") == EVENTS + LATER
    assert after.dead_letters("state") == []

    # A clean replay of the whole stream into another group gives the same state.
    Consumer(bus_on(server, prefix), db, "replay", "r1", adder("restart_replay"), batch=200).run(
        until_idle=True
    )
    expected: dict[str, tuple[int, int]] = {}
    for e in events:
        total, count = expected.get(e["person_id"], (0, 0))
        expected[e["person_id"]] = (total + e["amount"], count + 1)
    assert totals(db, state) == expected
    assert totals(db, replayed) == expected
    with db.connect() as conn:
        assert conn.execute(select(func.sum(state.c.events))).scalar() == EVENTS + LATER
    after.drop()
