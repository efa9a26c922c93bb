"""A witness's persistent state: per log origin, the last checkpoint it cosigned.

The witness is a partner's own process, so its state lives in its own small database (a SQLite
file; the tables are created here, not by the lender's migrations). Two rules make it safe:

- ``compare_and_swap`` is one statement: an ``UPDATE ... WHERE origin AND size AND root_hash``
  that matches only while the state the decision was made against is still stored, or, for an
  origin never cosigned, an ``INSERT`` that fails on the primary key if another request got
  there first. Two concurrent requests can never both move the state, so the witness never
  cosigns two trees that do not extend one another.
- SQLite runs with ``synchronous=FULL``: a cosignature is sent only after the swap commits, and
  a witness that forgot a committed state after a power loss could cosign a second view.

Sizes are stored as a signed 64-bit ``BIGINT``: a tree beyond 2^63 - 1 entries fails the write,
and the server then answers 500 without a cosignature.

A refusal that comes after the log's signature verified (a conflict or a bad proof) can be
kept in ``witness_evidence``: the signed checkpoint itself, which proves what the log showed
this witness, for reporting a split view. Checkpoints hold no personal data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from creditgraph.audit.witness import WitnessState
from creditgraph.store.files import private_file

METADATA = MetaData()

CHECKPOINTS = Table(
    "witness_checkpoints",
    METADATA,
    Column("origin", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

EVIDENCE = Table(
    "witness_evidence",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", Text, nullable=False, index=True),
    Column("received_at", DateTime, nullable=False),
    Column("status", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("checkpoint", LargeBinary, nullable=False),
)


def utcnow() -> datetime:
    """Naive UTC, as every timestamp column of the project is."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Evidence:
    """A refused request the log had signed: when, the status sent, why, and its checkpoint."""

    origin: str
    received_at: datetime
    status: int
    reason: str
    checkpoint: bytes


class WitnessStore:
    """The witness's state on an engine (SQLite in production; any SQLAlchemy database works)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Create the tables if they are missing (idempotent)."""
        METADATA.create_all(self.engine)

    def load(self, origin: str) -> WitnessState | None:
        """The last cosigned state of ``origin``, or None if it was never cosigned."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(CHECKPOINTS.c.size, CHECKPOINTS.c.root_hash).where(
                    CHECKPOINTS.c.origin == origin
                )
            ).one_or_none()
        return None if row is None else WitnessState(int(row.size), bytes(row.root_hash))

    def compare_and_swap(
        self, origin: str, previous: WitnessState | None, new: WitnessState
    ) -> bool:
        """Store ``new`` for ``origin`` only while ``previous`` is stored; whether it was.

        One statement in its own transaction, committed before this returns True.
        """
        now = utcnow()
        if previous is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(CHECKPOINTS).values(
                            origin=origin, size=new.size, root_hash=new.root_hash, updated_at=now
                        )
                    )
            except IntegrityError:
                if self.load(origin) is None:
                    raise  # not the primary key: the database refused the write itself
                return False  # another request stored a first state meanwhile
            return True
        with self.engine.begin() as conn:
            result = conn.execute(
                update(CHECKPOINTS)
                .where(
                    CHECKPOINTS.c.origin == origin,
                    CHECKPOINTS.c.size == previous.size,
                    CHECKPOINTS.c.root_hash == previous.root_hash,
                )
                .values(size=new.size, root_hash=new.root_hash, updated_at=now)
            )
            return result.rowcount == 1

    def keep_evidence(self, origin: str, status: int, reason: str, checkpoint: bytes) -> None:
        """Keep a refused, log-signed checkpoint note and why it was refused."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(EVIDENCE).values(
                    origin=origin,
                    received_at=utcnow(),
                    status=status,
                    reason=reason,
                    checkpoint=checkpoint,
                )
            )

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        """The evidence kept, oldest first, for one origin or all."""
        query = select(EVIDENCE).order_by(EVIDENCE.c.id)
        if origin is not None:
            query = query.where(EVIDENCE.c.origin == origin)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Evidence(r.origin, r.received_at, r.status, r.reason, bytes(r.checkpoint)) for r in rows
        ]

    def states(self) -> Iterator[tuple[str, WitnessState]]:
        """Every origin's stored state, by origin."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.origin)).all()
        for row in rows:
            yield row.origin, WitnessState(int(row.size), bytes(row.root_hash))


def sqlite_engine(path: Path, *, busy_timeout: float = 10.0) -> Engine:
    """An engine on the SQLite file ``path`` (created 0600): WAL, full sync, a busy timeout.

    Concurrent writers wait up to ``busy_timeout`` seconds for the write lock, then fail (the
    server answers 500: fails closed).
    """
    private_file(path)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


def open_store(path: Path, *, busy_timeout: float = 10.0) -> WitnessStore:
    """The witness store in the SQLite file ``path``, its tables created if missing."""
    store = WitnessStore(sqlite_engine(path, busy_timeout=busy_timeout))
    store.create()
    return store
