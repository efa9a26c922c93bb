"""Lake compaction: rewrite the Parquet parts that still hold rows nobody may read any more.

An erasure and a revocation take effect at once for every read (the tombstone filter, the
consent gate), but the append-only lake keeps the bytes until this rewrite. Two kinds of rows go:

- **erased**: any row naming an erased person in a person column (``src``, ``dst``,
  ``person_id``: the columns the tombstone filter reads), or named by an open ``purge_person``
  job;
- **revoked**: a row whose consent subject (the table's ``consent_subject``) withdrew their
  credit-assessment consent for the row's source — revoked and not given again since
  (``purpose.withdrawn_sources``, the very pairs the feature build stops reading) — all of the
  source's history, not only what followed the revocation. A row without a source goes with
  any source its subject withdrew, as the build reads it. A ``purge_source`` job is satisfied
  by the run (its pair is withdrawn, or was given again, and then the build reads it again).

What compaction removes is exactly what every read already leaves out, so features built before
and after it are the same. Offline feature snapshots (``features/store``) lose the erased
people's rows as well.

Each part is rewritten on its own and atomically (``lake.rewrite_part``: write beside, sync,
rename): a crash leaves every part old or new, never half. Rows keep their order, values and
``row_key``; parts with nothing to remove are not touched, so a second run changes nothing.
The whole run holds the lake's exclusive lock and refuses to start while an ingest writes (on
this host: the lock; on another host sharing the database: a running batch with a fresh
heartbeat). Open purge jobs are marked done with the run's report once every part is rewritten.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, select, update

from creditgraph.contracts.schema import SOCIAL_TABLES, TableSpec, table_spec
from creditgraph.privacy import jobs as privacy_jobs
from creditgraph.privacy.erasure import erased_ids
from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, withdrawn_sources
from creditgraph.store import lake
from creditgraph.store.models import FeatureSnapshot, IngestBatch, table_of

PERSON_COLUMNS = ("src", "dst", "person_id")
"""The lake columns that name a person (the tombstone filter's, ``features.inputs``)."""
SEPARATOR = "\x1f"  # between a subject and a source in a pair key; in neither of them
UTC_US = pa.timestamp("us", tz="UTC")

Progress = Callable[[str, int, int], None]  # (table, parts done, parts in the table)


@dataclass
class TableReport:
    """What compaction did (or, in a dry run, would do) to one lake table."""

    table: str
    parts: int = 0
    parts_rewritten: int = 0
    rows_before: int = 0
    rows_erased: int = 0
    rows_revoked: int = 0
    rows_expired: int = 0  # past the retention period (retention run)
    bytes_before: int = 0
    bytes_after: int = 0

    @property
    def rows_removed(self) -> int:
        return self.rows_erased + self.rows_revoked + self.rows_expired

    def as_dict(self) -> dict[str, int]:
        return {
            "parts": self.parts,
            "parts_rewritten": self.parts_rewritten,
            "rows_before": self.rows_before,
            "rows_removed": self.rows_removed,
            "rows_erased": self.rows_erased,
            "rows_revoked": self.rows_revoked,
            "rows_expired": self.rows_expired,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


@dataclass
class CompactionReport:
    dry_run: bool
    erased_people: int
    revoked_pairs: int
    tables: dict[str, TableReport] = field(default_factory=dict)
    jobs_done: list[int] = field(default_factory=list)
    stale_removed: int = 0  # unfinished rewrites of a crashed run, removed
    seconds: float = 0.0

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        """The report as stored with the jobs it satisfied: counts only, never a pseudonym."""
        return {
            "dry_run": self.dry_run,
            "erased_people": self.erased_people,
            "revoked_pairs": self.revoked_pairs,
            "rows_removed": self.rows_removed,
            "tables": {name: t.as_dict() for name, t in self.tables.items()},
            "stale_removed": self.stale_removed,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class PurgeSet:
    """Who and what must leave the lake, as Arrow arrays for vectorised membership tests."""

    erased: pa.Array  # pseudonyms
    revoked_pairs: pa.Array  # subject + SEPARATOR + source
    revoked_people: pa.Array  # subjects with any withdrawn pair (for rows without a source)

    @property
    def empty(self) -> bool:
        return len(self.erased) == 0 and len(self.revoked_pairs) == 0


def load_purge_set(conn: Connection, open_jobs: list[privacy_jobs.Job]) -> PurgeSet:
    """The tombstones (and open person purges) and the withdrawn (person, source) pairs."""
    erased = erased_ids(conn)
    erased.update(
        j.person_id for j in open_jobs if j.kind == privacy_jobs.PURGE_PERSON and j.person_id
    )
    revoked = [(p, s) for p, s in withdrawn_sources(conn, CREDIT_ASSESSMENT) if p not in erased]
    return PurgeSet(
        erased=pa.array(sorted(erased), pa.string()),
        revoked_pairs=pa.array(sorted(_key(p, s) for p, s in revoked), pa.string()),
        revoked_people=pa.array(sorted({p for p, _ in revoked}), pa.string()),
    )


def _key(person: str, source: str) -> str:
    return f"{person}{SEPARATOR}{source}"


EXPIRY_COLUMNS = {
    "ties": "ended_at",
    "interactions": "ts",
    "devices": "last_seen",
    "activity_daily": "date",
}
"""The time a lake row's retention period runs from: when the tie ended (a tie still in place
never expires), the interaction, the device's last sighting, the day of activity."""


@dataclass(frozen=True)
class Masks:
    """Which rows go, and why: each row counts under the first reason that applies."""

    erased: pa.Array
    revoked: pa.Array
    expired: pa.Array

    @property
    def removed(self) -> pa.Array:
        return pc.or_(pc.or_(self.erased, self.revoked), self.expired)


def removal_masks(
    rows: pa.Table,
    spec: TableSpec,
    purge: PurgeSet,
    timezone: str,
    expire_before: datetime | None = None,
) -> Masks:
    """Which rows are erased, revoked (and not erased), expired (and neither)."""
    erased = _erased(rows, purge)
    revoked = pc.and_(_revoked(rows, spec, purge), pc.invert(erased))
    expired = pa.array([False] * rows.num_rows, pa.bool_())
    column = EXPIRY_COLUMNS.get(spec.name)
    if expire_before is not None and column:
        cutoff = pa.scalar(expire_before, pa.timestamp("us")).cast(UTC_US)
        old = pc.less(_row_time(rows[column], timezone), cutoff).fill_null(False)
        expired = pc.and_(old, pc.invert(pc.or_(erased, revoked)))
    return Masks(erased, revoked, expired)


def _erased(rows: pa.Table, purge: PurgeSet) -> pa.Array:
    erased = pa.array([False] * rows.num_rows, pa.bool_())
    for column in PERSON_COLUMNS:
        if column in rows.column_names:
            hit = pc.is_in(rows[column], value_set=purge.erased).fill_null(False)
            erased = pc.or_(erased, hit)
    return erased


def _revoked(rows: pa.Table, spec: TableSpec, purge: PurgeSet) -> pa.Array:
    if not spec.consent_subject or len(purge.revoked_pairs) == 0:
        return pa.array([False] * rows.num_rows, pa.bool_())
    subject = rows[spec.consent_subject]
    source = rows["source"]
    no_source = pc.is_null(source)
    pair = pc.binary_join_element_wise(subject, source, SEPARATOR)
    by_pair = pc.is_in(pair, value_set=purge.revoked_pairs).fill_null(False)
    by_person = pc.and_(pc.is_in(subject, value_set=purge.revoked_people), no_source)
    return pc.or_(by_pair, by_person)


def _row_time(values: pa.ChunkedArray, timezone: str) -> pa.ChunkedArray:
    """A row's consent time as UTC; a date is its midnight in the business time zone (as the
    consent gate reads it)."""
    if pa.types.is_date(values.type):
        local = pc.cast(values, pa.timestamp("us"))
        return pc.assume_timezone(local, timezone=timezone).cast(UTC_US)
    return values.cast(UTC_US)


def _needed_columns(spec: TableSpec, names: list[str]) -> list[str]:
    wanted = [c for c in PERSON_COLUMNS if c in names]
    if spec.consent_subject:
        wanted += [c for c in (spec.consent_subject, "source", spec.consent_time) if c]
    if spec.name in EXPIRY_COLUMNS:
        wanted.append(EXPIRY_COLUMNS[spec.name])
    return [c for c in dict.fromkeys(wanted) if c in names]


def compact(
    engine: Engine,
    lake_dir: Path,
    *,
    dry_run: bool = False,
    timezone: str = "Asia/Shanghai",
    lease: timedelta = timedelta(seconds=300),
    now: datetime | None = None,
    progress: Progress | None = None,
    tables: tuple[str, ...] = SOCIAL_TABLES,
    expire_before: datetime | None = None,
) -> CompactionReport:
    """Rewrite every lake part that holds erased or revoked rows (see the module docstring),
    and, for a retention run, rows whose time (``EXPIRY_COLUMNS``) is before ``expire_before``
    (naive UTC).

    Raises ``lake.LakeBusy`` when an ingest or another compaction writes the lake.
    """
    started = datetime.now()
    at = now or privacy_jobs.utcnow()
    with lake.lake_lock(lake_dir, exclusive=True, wait=False):
        with engine.connect() as conn:
            _refuse_remote_ingest(conn, at, lease)
            open_jobs = privacy_jobs.open_jobs(conn)
            purge = load_purge_set(conn, open_jobs)
        report = CompactionReport(dry_run, len(purge.erased), len(purge.revoked_pairs))
        if not dry_run:
            report.stale_removed = len(lake.stale_rewrites(lake_dir))
        for name in tables:
            rule = _Rule(purge, timezone, expire_before)
            report.tables[name] = _compact_table(
                lake_dir, table_spec(name), rule, dry_run, progress
            )
        report.tables[SNAPSHOTS] = _compact_snapshots(engine, purge, dry_run)
        report.seconds = (datetime.now() - started).total_seconds()
        if not dry_run and open_jobs:
            with engine.begin() as conn:
                privacy_jobs.mark_done(conn, [j.id for j in open_jobs], report.as_dict(), at)
            report.jobs_done = [j.id for j in open_jobs]
    return report


SNAPSHOTS = "feature_snapshots"


def _compact_snapshots(engine: Engine, purge: PurgeSet, dry_run: bool) -> TableReport:
    """Offline feature snapshots lose the erased people's rows too (a row per person, keyed by
    pseudonym); their record's row count follows. A snapshot keeps its id and the hash of the
    data it was built from: what it no longer holds is what an erasure took back."""
    report = TableReport(SNAPSHOTS)
    snapshots = table_of(FeatureSnapshot)
    with engine.connect() as conn:
        paths = [Path(p) for p in conn.execute(select(snapshots.c.path)).scalars()]
    for path in paths:
        if not path.exists():
            continue
        part = pq.ParquetFile(path)
        size = path.stat().st_size
        report.parts += 1
        report.rows_before += part.metadata.num_rows
        report.bytes_before += size
        found = (
            pc.is_in(part.read(columns=["person_id"])["person_id"], value_set=purge.erased)
            if len(purge.erased) and "person_id" in part.schema_arrow.names
            else None
        )
        erased = int(pc.sum(found).as_py() or 0) if found is not None else 0
        if erased == 0 or dry_run:
            report.rows_erased += erased
            report.parts_rewritten += erased > 0
            report.bytes_after += size
            continue
        kept = (
            rows.filter(pc.invert(pc.is_in(rows["person_id"], value_set=purge.erased)))
            for rows in (part.read_row_group(i) for i in range(part.num_row_groups))
        )
        report.bytes_after += lake.rewrite_part(path, kept, part.schema_arrow)
        report.rows_erased += erased
        report.parts_rewritten += 1
        with engine.begin() as conn:
            conn.execute(
                update(snapshots)
                .where(snapshots.c.path == str(path))
                .values(rows=part.metadata.num_rows - erased)
            )
    return report


def _refuse_remote_ingest(conn: Connection, now: datetime, lease: timedelta) -> None:
    """An ingest of another host (sharing a PostgreSQL database) that beat within its lease.

    Ingests on this host hold the lake's shared lock, which the caller's exclusive lock excludes.
    """
    batches = table_of(IngestBatch)
    here = socket.gethostname()
    for host, heartbeat, started in conn.execute(
        select(batches.c.owner_host, batches.c.heartbeat_at, batches.c.started_at).where(
            batches.c.status == "running"
        )
    ):
        if host is not None and host != here and now - (heartbeat or started) <= lease:
            raise lake.LakeBusy(
                f"an ingest on host {host} is running (heartbeat within the lease); "
                "try again when it has finished"
            )


@dataclass(frozen=True)
class _Rule:
    purge: PurgeSet
    timezone: str
    expire_before: datetime | None

    @property
    def nothing_to_do(self) -> bool:
        return self.purge.empty and self.expire_before is None

    def masks(self, rows: pa.Table, spec: TableSpec) -> Masks:
        return removal_masks(rows, spec, self.purge, self.timezone, self.expire_before)


def _compact_table(
    lake_dir: Path, spec: TableSpec, rule: _Rule, dry_run: bool, progress: Progress | None
) -> TableReport:
    report = TableReport(spec.name)
    paths = lake.parts(lake_dir, spec.name)
    report.parts = len(paths)
    for done, path in enumerate(paths, start=1):
        size = path.stat().st_size
        report.bytes_before += size
        if rule.nothing_to_do:
            report.rows_before += pq.ParquetFile(path).metadata.num_rows
            report.bytes_after += size
        else:
            report.bytes_after += _compact_part(path, spec, rule, dry_run, report)
        if progress:
            progress(spec.name, done, len(paths))
    return report


def _compact_part(
    path: Path, spec: TableSpec, rule: _Rule, dry_run: bool, report: TableReport
) -> int:
    """Check one part on the columns the rule reads, rewrite it if it holds any row to remove;
    returns its size after."""
    part = pq.ParquetFile(path)
    report.rows_before += part.metadata.num_rows
    columns = _needed_columns(spec, part.schema_arrow.names)
    masks = rule.masks(part.read(columns=columns), spec)
    counts = [int(pc.sum(m).as_py() or 0) for m in (masks.erased, masks.revoked, masks.expired)]
    size = path.stat().st_size
    if sum(counts) == 0:
        return size
    report.rows_erased += counts[0]
    report.rows_revoked += counts[1]
    report.rows_expired += counts[2]
    report.parts_rewritten += 1
    if dry_run:
        return size
    return lake.rewrite_part(path, _kept_row_groups(part, spec, rule), part.schema_arrow)


def _kept_row_groups(part: pq.ParquetFile, spec: TableSpec, rule: _Rule) -> Iterator[pa.Table]:
    """Each row group of the part without its removed rows, in order, values untouched."""
    for index in range(part.num_row_groups):
        rows = part.read_row_group(index)
        yield rows.filter(pc.invert(rule.masks(rows, spec).removed))
