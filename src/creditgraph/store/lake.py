"""The lake: append-only Parquet per table, partitioned by ingest batch (``batch=<id>``).

Only pseudonyms and typed values are written here. Each row carries ``row_key``, a 64-bit
content hash of its natural key, which makes re-ingesting the same rows a no-op.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from creditgraph.contracts.schema import Column, Kind, TableSpec
from creditgraph.contracts.validate import stored_name
from creditgraph.duck import arrow_table
from creditgraph.store.files import private_dir, private_file, sync_dir
from creditgraph.store.pause_points import reached

ROW_KEY = "row_key"
LOCK_FILE = ".lock"
REWRITING = ".rewriting"  # a part being rewritten in place (compaction), never read
_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.STRING: pa.string(),
    Kind.ENUM: pa.string(),
    Kind.INT: pa.int64(),
    Kind.MONEY: pa.int64(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.BOOL: pa.bool_(),
}


def lake_schema(spec: TableSpec) -> pa.Schema:
    fields = [
        pa.field(stored_name(c), _ARROW_TYPES[c.kind], nullable=not c.required)
        for c in _stored(spec)
    ]
    return pa.schema([*fields, pa.field(ROW_KEY, pa.uint64(), nullable=False)])


def _stored(spec: TableSpec) -> list[Column]:
    return [c for c in spec.all_columns if not c.personal]


def table_dir(lake_dir: Path, table: str) -> Path:
    return lake_dir / table


def parquet_glob(lake_dir: Path, table: str) -> str:
    return str(table_dir(lake_dir, table) / "batch=*" / "*.parquet")


def has_data(lake_dir: Path, table: str) -> bool:
    return any(table_dir(lake_dir, table).glob("batch=*/*.parquet"))


def existing_keys(
    con: duckdb.DuckDBPyConnection, lake_dir: Path, table: str
) -> npt.NDArray[np.uint64]:
    """Sorted row keys already in the lake for ``table`` (8 bytes a row)."""
    if not has_data(lake_dir, table):
        return np.empty(0, dtype=np.uint64)
    keys = arrow_table(
        con, f"SELECT {ROW_KEY} FROM read_parquet('{parquet_glob(lake_dir, table)}') ORDER BY 1"
    )
    return np.asarray(keys[ROW_KEY].to_numpy(), dtype=np.uint64)


def count_rows(con: duckdb.DuckDBPyConnection, lake_dir: Path, table: str) -> int:
    if not has_data(lake_dir, table):
        return 0
    result = con.execute(f"SELECT count(*) FROM read_parquet('{parquet_glob(lake_dir, table)}')")
    row = result.fetchone()
    return int(row[0]) if row else 0


class KeySet:
    """Membership of 64-bit keys in a sorted array, grown in place chunk by chunk."""

    def __init__(self, initial: npt.NDArray[np.uint64]) -> None:
        self._keys = initial

    def __len__(self) -> int:
        return int(self._keys.size)

    def add_new(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Mark which of ``keys`` are new (first occurrence, not seen before) and remember them."""
        _, first = np.unique(keys, return_index=True)
        is_first = np.zeros(keys.size, dtype=bool)
        is_first[first] = True
        if self._keys.size:
            pos = np.searchsorted(self._keys, keys)
            hit = self._keys[np.minimum(pos, self._keys.size - 1)] == keys
            new = is_first & ~hit
        else:
            new = is_first
        fresh = np.sort(keys[new])
        if fresh.size:
            self._keys = np.insert(self._keys, np.searchsorted(self._keys, fresh), fresh)
        return np.asarray(new, dtype=bool)


class LakeWriter:
    """Writes one input file's accepted rows as one Parquet part, staged until published.

    ``seal`` finishes the staged part (``*.parquet.part``, synced to disk) before the file's
    database record commits; ``publish`` renames it into place after. Readers see ``*.parquet``
    only, so they never see rows whose record did not commit.
    """

    def __init__(self, lake_dir: Path, spec: TableSpec, batch_id: str, part: str) -> None:
        self.schema = lake_schema(spec)
        self.final = table_dir(lake_dir, spec.name) / f"batch={batch_id}" / f"{part}.parquet"
        self.staging = self.final.with_name(self.final.name + ".part")
        self._writer: pq.ParquetWriter | None = None
        self._sealed = False
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            private_file(self.staging)  # 0600 in 0700 folders, whatever the caller's umask
            self._writer = pq.ParquetWriter(self.staging, self.schema, compression="zstd")
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))
        self.rows += table.num_rows

    def seal(self) -> None:
        """Finish the staged part and sync it, so a crash after the record commits loses nothing."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        sync_file(self.staging)
        self._sealed = True

    def publish(self) -> Path | None:
        """Rename the sealed part into place (once its record committed)."""
        if not self._sealed:
            return None
        self.staging.replace(self.final)
        self._sealed = False
        return self.final

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.staging.unlink(missing_ok=True)
        self._sealed = False
        self.rows = 0


def sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parts(lake_dir: Path, table: str) -> list[Path]:
    """The published Parquet parts of ``table``, in batch and part order."""
    return sorted(table_dir(lake_dir, table).glob("batch=*/*.parquet"))


class LakeBusy(RuntimeError):
    """Another process writes the lake in a way that excludes this one (ingest vs compaction)."""


@contextmanager
def lake_lock(lake_dir: Path, *, exclusive: bool, wait: bool = True) -> Iterator[None]:
    """An advisory lock on the whole lake: ingests share it, a rewrite (compaction) holds it alone.

    Ingest only adds parts, so ingests run side by side; a compaction rewrites parts and must not
    run while an ingest reads the lake's keys or publishes a part, nor two compactions at once.
    The lock is the operating system's (``flock``), so a killed holder releases it at once.
    """
    private_dir(lake_dir)
    fd = os.open(lake_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LakeBusy(
                "the lake is being written by another process (an ingest or a compaction); "
                "try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def rewrite_part(path: Path, tables: Iterator[pa.Table], schema: pa.Schema) -> int:
    """Replace the part at ``path`` by the rows of ``tables``, atomically; returns its new size.

    The new part is written beside the old one (``<name>.rewriting``), synced, then renamed over
    it and the folder synced: a crash at any moment leaves the old part or the new one, whole.
    A leftover ``.rewriting`` file is a rewrite that never finished (see ``stale_rewrites``).
    """
    staging = path.with_name(path.name + REWRITING)
    staging.unlink(missing_ok=True)
    private_file(staging)
    try:
        with pq.ParquetWriter(staging, schema, compression="zstd") as writer:
            for table in tables:
                if table.num_rows:
                    writer.write_table(table.cast(schema), row_group_size=table.num_rows)
        sync_file(staging)
        reached("rewrite_staged")
        staging.replace(path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    sync_dir(path.parent)
    reached("rewrite_replaced")
    return path.stat().st_size


def stale_rewrites(lake_dir: Path) -> list[Path]:
    """Rewrites a crash interrupted: the old part is intact beside each, so they are removed."""
    found = sorted(lake_dir.glob(f"*/batch=*/*.parquet{REWRITING}"))
    for path in found:
        path.unlink(missing_ok=True)
    return found
