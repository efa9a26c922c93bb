"""Streaming writers: one file per contract table, written chunk by chunk.

Parquet keeps the contract's storage types (UTC timestamps, decimal(18, 2) money, dates); CSV holds
text exactly as a lender would send it (ISO 8601 with offset, decimal money, ISO dates), so both
readers of the ingest path get exercised.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from creditgraph.contracts.schema import Kind, TableSpec
from creditgraph.simulate.columns import arrow_schema
from creditgraph.simulate.config import TableFormat

DAY = 86_400


@lru_cache(maxsize=1)
def _clock_faces() -> pa.Array:
    """``HH:MM:SS+00:00`` for every second of a day, so timestamps format by lookup."""
    sec = np.arange(DAY)
    faces = [
        f"{h:02d}:{m:02d}:{s:02d}+00:00"
        for h, m, s in zip(sec // 3600, sec // 60 % 60, sec % 60, strict=True)
    ]
    return pa.array(faces, type=pa.string())


def timestamp_text(arr: pa.Array) -> pa.Array:
    """ISO 8601 with an explicit UTC offset, e.g. ``2026-01-05T08:30:00+00:00``.

    Formats distinct days once and the time of day by table lookup: several times faster than
    ``strftime`` on tens of millions of values.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    seconds = pc.divide(arr.cast(pa.int64()), 1_000_000)
    filled = np.asarray(pc.fill_null(seconds, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    days = np.floor_divide(filled, DAY)
    unique_days, inverse = np.unique(days, return_inverse=True)
    day_text = pa.array(unique_days.astype(np.int32), type=pa.date32()).cast(pa.string())
    mask = None if arr.null_count == 0 else np.asarray(arr.is_null().to_numpy(zero_copy_only=False))
    day_part = day_text.take(pa.array(inverse.ravel(), type=pa.int64(), mask=mask))
    time_part = _clock_faces().take(pa.array(filled - days * DAY, type=pa.int64()))
    return pc.binary_join_element_wise(day_part, time_part, "T")


def to_text(table: pa.Table, spec: TableSpec) -> pa.Table:
    """A typed contract table as the all-text table a CSV file holds."""
    arrays = []
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        kind = spec.column(name).kind
        if kind == Kind.TIMESTAMP:
            arrays.append(timestamp_text(col))
        elif col.type == pa.string():
            arrays.append(col)
        else:
            arrays.append(col.cast(pa.string()))
    return pa.Table.from_arrays(arrays, names=table.column_names)


def text_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, pa.string()) for c in spec.all_columns])


class TableWriter:
    """Appends chunks of one table to ``<out_dir>/<table>.<fmt>``; counts the rows it wrote."""

    def __init__(self, spec: TableSpec, out_dir: Path, fmt: TableFormat) -> None:
        self.spec = spec
        self.fmt = fmt
        self.path = out_dir / f"{spec.name}.{fmt}"
        self.rows = 0
        self._typed = arrow_schema(spec)
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(self.path, self._typed, compression="zstd")
        else:
            self._csv = pacsv.CSVWriter(
                self.path,
                text_schema(spec),
                write_options=pacsv.WriteOptions(include_header=True, quoting_style="needed"),
            )

    @property
    def output_schema(self) -> pa.Schema:
        """Schema of rows as they land in the file (typed for Parquet, text for CSV)."""
        return self._typed if self.fmt == "parquet" else text_schema(self.spec)

    def to_output(self, table: pa.Table) -> pa.Table:
        """A typed chunk in the file's representation."""
        return table if self.fmt == "parquet" else to_text(table, self.spec)

    def write(self, table: pa.Table) -> None:
        """Write a typed chunk (converted to text for CSV)."""
        self.write_output(self.to_output(table))

    def write_output(self, table: pa.Table) -> None:
        """Write a chunk already in the file's representation (used for deliberately bad rows)."""
        if table.num_rows == 0:
            return
        if self._parquet is not None:
            self._parquet.write_table(table.cast(self._typed))
        elif self._csv is not None:
            self._csv.write_table(table.cast(text_schema(self.spec)))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
