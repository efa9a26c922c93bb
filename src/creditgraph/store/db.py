"""Engine creation and schema migration: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

from creditgraph.store.files import private_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_SECONDS = 30.0
WAL_CHECKPOINT_PAGES = 10_000  # pages of 4 KiB: about 40 MB of WAL between checkpoints
WAL_SIZE_LIMIT = 64 * 1024 * 1024
CACHE_KIB = 64 * 1024


def json_dumps(value: Any) -> str:
    """JSON columns through orjson: several times faster than ``json`` on decision records.

    Non-string keys are written as strings, as ``json.dumps`` does; NaN becomes null (valid
    JSON, which PostgreSQL's JSON type demands anyway).
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str) -> Engine:
    """An engine with the pragmas SQLite needs to be a serious OLTP store (WAL, foreign keys)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not parsed.query.get("uri"):
            # Created empty and 0600 before SQLite opens it: SQLite gives the WAL and shared-memory
            # files the database file's mode, and person_identities must not be world-readable.
            private_file(Path(database).expanduser())
        engine = create_engine(
            url,
            connect_args={"timeout": 30},
            # The most recently used connection first: its page cache is the warm one (a FIFO
            # pool cycles through every connection, each with a cold cache of its own).
            pool_use_lifo=True,
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint the WAL every ~40 MB instead of SQLite's 4 MB: the pages every write
            # touches again (index right edges, hot loans) are copied to the database once per
            # checkpoint, so fewer checkpoints copy far fewer pages. A posting's commit fell from
            # 144 to 62 us; the WAL file is kept below 64 MB.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            # A page cache of up to 64 MB per connection (SQLite's default is 2 MB): a posting's
            # loan, instalment and index pages stay in memory after an end of day has swept the
            # whole book; memory is taken only as pages are read.
            cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted content is overwritten with zeros, so an erased person's pages do not stay
            # readable in the file's free list (privacy.erasure checkpoints the WAL after).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(
        url, pool_pre_ping=True, json_serializer=json_dumps, json_deserializer=orjson.loads
    )


class FairLock:
    """A lock handed to its waiters in the order they came (FIFO).

    ``threading.Lock`` lets the thread that releases it take it straight back, ahead of a thread
    that has waited all along: one writer committing back to back could starve the rest (the
    audit sequencer among them). Here a release hands the lock to the longest waiter.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releasing thread handed the lock over: it is held for us

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_WRITE_LOCKS: dict[str, FairLock] = {}
_LOCKS_GUARD = threading.Lock()


def process_write_lock(engine: Engine) -> FairLock:
    """The lock the threads of this process take before writing to ``engine``'s database
    (SQLite); engines on the same database share it."""
    key = engine.url.render_as_string(hide_password=True)
    with _LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = FairLock()
        return lock


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One short write unit of work that serialises with other writers instead of failing.

    SQLite admits one writer per database. Threads of this process take a Python lock first,
    which wakes the next writer the moment the first commits (SQLite's own busy handler sleeps
    and polls: 1, 2, 5 ... 100 ms). The write lock is then taken up front (``BEGIN IMMEDIATE``,
    retried while busy for up to 30 s): a deferred transaction that reads and then writes can
    fail with "database is locked" when two processes upgrade at once. PostgreSQL needs neither;
    callers lock rows (``FOR UPDATE``) where they must.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with process_write_lock(engine), engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        previous = raw.isolation_level
        raw.isolation_level = None  # ours is the only BEGIN, not the driver's implicit one
        try:
            _begin_immediate(raw)
            with conn.begin():  # SQLAlchemy's transaction over it: sessions bound here join it
                yield conn
        finally:
            if raw.in_transaction:
                raw.rollback()
            raw.isolation_level = previous


def _begin_immediate(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE`` on the driver connection, retried while the database is busy."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; returns the revision now in force."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    """An engine whose schema is at head, disposed of on exit."""
    engine = make_engine(url)
    try:
        if current_revision(engine) != head_revision():
            upgrade(engine)
        yield engine
    finally:
        engine.dispose()
