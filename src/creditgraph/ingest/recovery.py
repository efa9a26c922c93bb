"""Recovery at the start of an ingest: batches whose process was killed, and what they left behind.

A file's rows, its ``ingest_files`` record (naming its part) and its staged lake part and
quarantine file are committed in one database transaction; only then are the staged files
renamed into place. So after a kill:

- a staged part (``*.part``) whose record committed is published (renamed): its rows count;
- a staged part with no committed record is removed: its rows were never ingested;
- a published part with no record (left by versions that renamed before committing) is removed;
- a batch still ``running`` whose process is gone is marked ``failed``, with the counts of the
  files it committed.

A batch's process is gone when, on the same host, its process id is not running or now belongs
to a process started at another time; a batch from another host (PostgreSQL) is gone when its
heartbeat is older than the lease. A batch of a live process is never touched.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, select, update

from creditgraph.audit import outbox as audit_log
from creditgraph.settings import Settings
from creditgraph.store.db import write_transaction
from creditgraph.store.models import IngestBatch, IngestFile, table_of

BEATS_PER_LEASE = 5  # heartbeats per lease (settings.ingest_lease_seconds)
STAGED = ".part"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Owner:
    """The process that runs a batch, recorded with it."""

    host: str
    pid: int
    started: str | None  # the process's start time, so a recycled pid is not taken for it

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), process_started(os.getpid()))


def process_started(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5), after pid and comm


def process_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return started is None or process_started(pid) in (None, started)


def abandoned(
    host: str | None,
    pid: int | None,
    started: str | None,
    last_sign_of_life: datetime,
    now: datetime,
    here: str,
    lease: timedelta,
) -> bool:
    """Whether a ``running`` batch's process is gone (see the module's docstring)."""
    if host == here and pid is not None:
        return not process_alive(pid, started)
    return now - last_sign_of_life > lease  # another host, or a batch from before owners


@dataclass
class Recovery:
    failed: list[str] = field(default_factory=list)  # batches found abandoned, now failed
    published: list[Path] = field(default_factory=list)  # recorded parts a kill left staged
    removed: list[Path] = field(default_factory=list)  # staged or orphan parts never recorded

    def __bool__(self) -> bool:
        return bool(self.failed or self.published or self.removed)


def recover(engine: Engine, settings: Settings) -> Recovery:
    """Fail the batches whose process is gone, then settle the files of every failed batch."""
    lease = timedelta(seconds=settings.ingest_lease_seconds)
    result = Recovery()
    batches = table_of(IngestBatch)
    files = table_of(IngestFile)
    here = socket.gethostname()
    now = utcnow()
    with engine.connect() as conn:
        running = conn.execute(
            select(
                batches.c.id,
                batches.c.owner_host,
                batches.c.owner_pid,
                batches.c.owner_started,
                batches.c.heartbeat_at,
                batches.c.started_at,
            ).where(batches.c.status == "running")
        ).all()
    gone = [
        b.id
        for b in running
        if abandoned(
            b.owner_host,
            b.owner_pid,
            b.owner_started,
            b.heartbeat_at or b.started_at,
            now,
            here,
            lease,
        )
    ]
    if gone:
        with write_transaction(engine) as conn:
            for batch_id in gone:
                done = conn.execute(
                    update(batches)
                    .where(batches.c.id == batch_id, batches.c.status == "running")
                    .values(status="failed", finished_at=now, counts=_counts(conn, batch_id))
                )
                if done.rowcount:
                    result.failed.append(batch_id)
            audit_log.record_many(conn, "ingest_batch", result.failed)
    with engine.connect() as conn:
        failed = set(
            conn.execute(select(batches.c.id).where(batches.c.status == "failed")).scalars()
        )
        recorded: dict[str, set[tuple[str, str]]] = {b: set() for b in failed}
        if failed:
            for batch_id, table, part in conn.execute(
                select(files.c.batch_id, files.c.table_name, files.c.part).where(
                    files.c.batch_id.in_(failed)
                )
            ):
                if part is not None:
                    recorded[batch_id].add((table, part))
    for batch_id, parts in recorded.items():
        _settle_lake(settings.lake_dir, batch_id, parts, result)
        _settle(
            settings.quarantine_dir / batch_id,
            {p for _, p in parts},
            ".jsonl",
            result,
        )
    return result


def _counts(conn: Connection, batch_id: str) -> dict[str, dict[str, int]]:
    """Per-table counts of the files a batch committed (what its report would have shown)."""
    files = table_of(IngestFile)
    totals: dict[str, Counter[str]] = {}
    names = ("rows_read", "accepted", "updated", "duplicates", "quarantined")
    for row in conn.execute(
        select(files.c.table_name, *(files.c[n] for n in names)).where(files.c.batch_id == batch_id)
    ):
        totals.setdefault(row.table_name, Counter()).update(
            {n: int(getattr(row, n)) for n in names}
        )
    return {t: dict(c) for t, c in totals.items()}


def _settle_lake(
    lake_dir: Path, batch_id: str, parts: set[tuple[str, str]], result: Recovery
) -> None:
    for folder in lake_dir.glob(f"*/batch={batch_id}"):
        table = folder.parent.name
        _settle(folder, {p for t, p in parts if t == table}, ".parquet", result)


def _settle(folder: Path, recorded: set[str], suffix: str, result: Recovery) -> None:
    """In one failed batch's folder: publish recorded staged files, remove unrecorded ones."""
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.endswith(suffix + STAGED):
            stem = name[: -len(suffix + STAGED)]
            final = path.with_name(stem + suffix)
            if stem in recorded and not final.exists():
                try:
                    path.replace(final)
                except FileNotFoundError:
                    continue  # another recovery published it first
                result.published.append(final)
                continue
        elif name.endswith(suffix) and name[: -len(suffix)] in recorded:
            continue
        elif not name.endswith(suffix):
            continue  # not ours: leave it
        path.unlink(missing_ok=True)
        result.removed.append(path)
    if not any(folder.iterdir()):
        folder.rmdir()


class Heartbeat:
    """Keeps a running batch's ``heartbeat_at`` fresh, so other hosts see its process alive.

    Needed on PostgreSQL only: a SQLite database is used from one host, where the process id
    says whether the owner lives (and a second writer would contend for SQLite's one lock).
    """

    def __init__(self, engine: Engine, batch_id: str, every: timedelta) -> None:
        self._engine = engine
        self._batch_id = batch_id
        self._every = every.total_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="ingest-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self._engine.dialect.name != "sqlite":
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        batches = table_of(IngestBatch)
        while not self._stop.wait(self._every):
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        update(batches)
                        .where(batches.c.id == self._batch_id)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is retried; the lease allows several
                continue
