"""Streaming readers: each yields chunks of raw rows with their row numbers, never a whole file.

Row numbers count data rows from 1 (a CSV header is row 0; in JSONL, the line number), so a
quarantine entry points at the exact record a person has to fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from creditgraph.contracts.validate import ROW
from creditgraph.ingest.errors import IngestInputError

# Python's csv module refuses fields over 131,072 characters by default. No contract column comes
# near that (the longest declared text is 200 characters), but a huge field must be quarantined by
# its column's max_length rule, not crash the reader; fields beyond this bound are quarantined whole.
FIELD_LIMIT = 16 << 20


@dataclass
class MalformedRow:
    """A record that could not even be split into fields."""

    row: int
    rule: str
    message: str
    raw: str


@dataclass
class Chunk:
    rows: pa.Table  # contract columns present in the file, plus _row
    malformed: list[MalformedRow] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.rows.num_rows) + len(self.malformed)


class NeedsExactRowNumbers(Exception):
    """The fast CSV reader met a malformed line; the file is re-read with exact numbering."""


def open_text(path: Path) -> IO[str]:
    """UTF-8 text, plain or gzip; a byte-order mark at the start is dropped (``utf-8-sig``)."""
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
    return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")


@contextmanager
def readable(path: Path) -> Iterator[None]:
    """A file that breaks while being read (a truncated or corrupt gzip) is one line, not a trace."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestInputError(f"{path}: cannot be read: {reason}") from None


def allow_large_fields() -> None:
    """Raise the csv module's field limit to ``FIELD_LIMIT`` (it is process-wide, never lowered)."""
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)


def _with_row_numbers(table: pa.Table, first_row: int) -> pa.Table:
    numbers = pa.array(range(first_row, first_row + table.num_rows), type=pa.int64())
    return table.append_column(ROW, numbers)


def read_parquet(path: Path, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    parquet = pq.ParquetFile(path)
    next_row = 1
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        table = pa.Table.from_batches([batch])
        yield Chunk(_with_row_numbers(table, next_row))
        next_row += table.num_rows


def read_csv_fast(path: Path, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    """pyarrow's streaming reader; every value read as text so that validation sees it as written.

    It cannot say which row a ragged line was, so on the first one the file is handed to
    ``read_csv_exact`` (the caller discards what this pass staged).
    """
    options = {
        "read_options": pacsv.ReadOptions(block_size=8 << 20),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()),
            include_columns=columns,
            strings_can_be_null=False,
        ),
    }
    next_row = 1
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    try:
        for batch in pacsv.open_csv(path, **options):
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield Chunk(_with_row_numbers(table, next_row))
                next_row += table.num_rows
                pending, pending_rows = [], 0
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError):
        # a ragged line, a header pyarrow reads differently (names padded with spaces), or a
        # gzip its codec refuses (zero padding after the last member): Python's readers cope
        raise NeedsExactRowNumbers(str(path)) from None
    if pending:
        yield Chunk(_with_row_numbers(pa.Table.from_batches(pending), next_row))


def read_csv_exact(path: Path, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    """The careful reader: malformed lines and undecodable bytes are quarantined one by one."""
    allow_large_fields()
    with readable(path), open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        positions = [[h.strip() for h in header].index(c) for c in columns]
        width = len(header)
        values: list[list[str | None]] = [[] for _ in columns]
        numbers: list[int] = []
        malformed: list[MalformedRow] = []
        for number, record in enumerate(_records(reader), start=1):
            if isinstance(record, csv.Error):
                malformed.append(MalformedRow(number, "malformed_row", _csv_error_text(record), ""))
            elif len(record) != width:
                if not record:
                    continue
                malformed.append(
                    MalformedRow(
                        number,
                        "malformed_row",
                        f"expected {width} fields, found {len(record)}",
                        _safe(",".join(record)),
                    )
                )
            elif not _is_utf8(record):
                malformed.append(
                    MalformedRow(number, "encoding", "not valid UTF-8", _safe(",".join(record)))
                )
            else:
                numbers.append(number)
                for out, pos in zip(values, positions, strict=True):
                    out.append(record[pos])
            if len(numbers) + len(malformed) >= chunk_rows:
                yield _chunk_from_lists(columns, values, numbers, malformed)
                values, numbers, malformed = [[] for _ in columns], [], []
        if numbers or malformed:
            yield _chunk_from_lists(columns, values, numbers, malformed)


def _records(reader: Any) -> Iterator[list[str] | csv.Error]:
    """The reader's records, with a record the csv module refuses (a field over the limit) passed
    on as its error: the reader resumes at the next line, so the rest of the file is still read."""
    while True:
        try:
            record: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc
        else:
            yield record


def _csv_error_text(error: csv.Error) -> str:
    text = str(error)
    if "field larger than field limit" in text:
        return f"a field is longer than {FIELD_LIMIT:,} characters"
    return text.splitlines()[0] if text else "cannot be split into fields"


def read_jsonl(path: Path, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    """One JSON object per line; a line that is not an object is quarantined, not fatal."""
    with readable(path), open_text(path) as handle:
        values: list[list[str | None]] = [[] for _ in columns]
        numbers: list[int] = []
        malformed: list[MalformedRow] = []
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeEncodeError, RecursionError) as exc:
                message = json_error_text(exc)
                malformed.append(MalformedRow(number, "malformed_json", message, _safe(line)))
            else:
                if not isinstance(record, dict):
                    malformed.append(
                        MalformedRow(
                            number, "malformed_json", "record is not an object", _safe(line)
                        )
                    )
                elif not _is_utf8(record.values()):
                    malformed.append(
                        MalformedRow(number, "encoding", "not valid UTF-8", _safe(line))
                    )
                else:
                    numbers.append(number)
                    for out, name in zip(values, columns, strict=True):
                        out.append(_as_text(record.get(name)))
            if len(numbers) + len(malformed) >= chunk_rows:
                yield _chunk_from_lists(columns, values, numbers, malformed)
                values, numbers, malformed = [[] for _ in columns], [], []
        if numbers or malformed:
            yield _chunk_from_lists(columns, values, numbers, malformed)


def json_error_text(exc: Exception) -> str:
    """Why a line is not a JSON record, in words (json.loads raises three kinds of error)."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "not valid UTF-8"


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False)


def _is_utf8(values: Any) -> bool:
    try:
        for value in values:
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _safe(text: str) -> str:
    return text.encode("utf-8", errors="replace").decode("utf-8").rstrip("\r\n")


def _chunk_from_lists(
    columns: list[str],
    values: list[list[str | None]],
    numbers: list[int],
    malformed: list[MalformedRow],
) -> Chunk:
    arrays = [pa.array(v, type=pa.string()) for v in values]
    table = pa.Table.from_arrays([*arrays, pa.array(numbers, type=pa.int64())], [*columns, ROW])
    return Chunk(table, malformed)


def read_chunks(
    path: Path, file_format: str, columns: list[str], chunk_rows: int, exact: bool = False
) -> Iterator[Chunk]:
    if file_format == "parquet":
        return read_parquet(path, columns, chunk_rows)
    if file_format == "jsonl":
        return read_jsonl(path, columns, chunk_rows)
    if exact:
        return read_csv_exact(path, columns, chunk_rows)
    return read_csv_fast(path, columns, chunk_rows)
