"""Column types of an analyst's table, inferred so one odd cell cannot change a column's kind.

A CSV reader types a column by its worst cell: one ``x`` (or a header line pasted twice into the
file) turns a column of numbers into text, and a scorecard then bins every number as its own
category and fits noise. Here a text column whose present cells are mostly numbers
(``min_numeric_share``) is read as numeric; the cells that are not numbers become missing and
are reported, with their count and the first row numbers and values, so the analyst sees what
was set aside. Rows that repeat the header (most cells equal their column's name) are removed
and reported. Row numbers count data rows from 1, as ``score-table`` does.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Cells that mean "no value" in a numeric column, beside the reader's own null markers.
MISSING_TEXT = frozenset({"", "?", ".", "-", "na", "n/a", "nan", "null", "none", "#n/a"})
MIN_NUMERIC_SHARE = 0.95
EXAMPLES = 3


@dataclass(frozen=True)
class OddCells:
    """Cells of a numeric column that are not numbers: read as missing."""

    column: str
    count: int
    present: int  # cells with a value (numbers and odd cells)
    rows: tuple[int, ...]  # the first few, data rows counted from 1
    values: tuple[str, ...]

    def describe(self) -> str:
        shown = ", ".join(f"row {r}: {v!r}" for r, v in zip(self.rows, self.values, strict=True))
        more = " ..." if self.count > len(self.rows) else ""
        return (
            f"column {self.column!r}: {self.count:,} of {self.present:,} cells are not numbers; "
            f"read as numeric, those cells as missing ({shown}{more})"
        )


@dataclass(frozen=True)
class TypedTable:
    """The table with inferred types, and what was changed to get there."""

    table: pa.Table
    header_rows: tuple[int, ...]  # rows that repeated the header, removed
    odd: tuple[OddCells, ...]
    row_numbers: np.ndarray  # original data row number of every remaining row


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def header_repeats(table: pa.Table) -> np.ndarray:
    """Rows where most text cells equal their column's name (at least two, or the only column)."""
    hits = np.zeros(table.num_rows, dtype=np.int64)
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            same = pc.equal(pc.utf8_trim_whitespace(column), name.strip())
            hits += np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)
    needed = max(2, (table.num_columns + 1) // 2) if table.num_columns > 1 else 1
    return hits >= needed


def infer_types(
    table: pa.Table,
    *,
    skip: Collection[str] = (),
    min_numeric_share: float = MIN_NUMERIC_SHARE,
) -> TypedTable:
    """Drop repeated header rows, then read mostly-numeric text columns as numbers.

    ``skip`` names columns left as they are (the target). A text column becomes float64 when at
    least ``min_numeric_share`` of its present cells are numbers (missing markers such as ``?``
    and ``N/A`` do not count as present); the other cells become missing and are reported.
    """
    repeats = header_repeats(table)
    row_numbers = np.arange(1, table.num_rows + 1, dtype=np.int64)
    header_rows = tuple(int(r) for r in row_numbers[repeats])
    if repeats.any():
        keep = ~repeats
        table = table.filter(pa.array(keep))
        row_numbers = row_numbers[keep]
    odd: list[OddCells] = []
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if name in skip or not (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            columns.append(column)
            continue
        numeric, found = _as_numeric(name, column, row_numbers, min_numeric_share)
        columns.append(column if numeric is None else numeric)
        if found is not None:
            odd.append(found)
    table = pa.table(dict(zip(table.column_names, columns, strict=True)))
    return TypedTable(table, header_rows, tuple(odd), row_numbers)


def _as_numeric(
    name: str, column: pa.ChunkedArray, row_numbers: np.ndarray, min_share: float
) -> tuple[pa.Array | None, OddCells | None]:
    encoded = pc.dictionary_encode(column).combine_chunks()
    words = encoded.dictionary.to_pylist()
    parsed = [_number(w.strip()) if w is not None else None for w in words]
    missing = [w is None or w.strip().lower() in MISSING_TEXT for w in words]
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    valid = np.asarray(encoded.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not words:
        return None, None
    safe = np.where(valid, codes, 0).astype(np.intp)
    is_number = valid & np.array([p is not None for p in parsed])[safe]
    is_missing = ~valid | np.array(missing)[safe]
    is_odd = ~is_number & ~is_missing
    present = int(is_number.sum() + is_odd.sum())
    if present == 0 or is_number.sum() < min_share * present or is_number.sum() == 0:
        return None, None
    values = np.array([np.nan if p is None else p for p in parsed], dtype=np.float64)[safe]
    values[~is_number] = np.nan
    array = pa.array(values, mask=~is_number, type=pa.float64())
    if not is_odd.any():
        return array, None
    where = np.flatnonzero(is_odd)
    first = where[:EXAMPLES]
    report = OddCells(
        column=name,
        count=int(is_odd.sum()),
        present=present,
        rows=tuple(int(row_numbers[i]) for i in first),
        values=tuple(str(words[safe[i]]) for i in first),
    )
    return array, report
