"""Read analysts' edge lists and seed lists; every rejection names the file, the line and the field.

Formats, by suffix:

- ``.parquet`` / ``.pq``: columns by name;
- ``.csv`` (``,``) and ``.tsv`` (tab): a header row, columns by name;
- anything else (``.txt``, SNAP files): whitespace-separated, no header, ``#`` starts a comment;
  columns by position, named ``src dst weight timestamp``.

Node ids are compared as text, exactly as written (Parquet integers as their decimal text), so
``007`` and ``7`` stay different people and a seed list always matches the edge file. Without
explicit names the source column may be called ``src``/``source``/``from``/``u`` and the target
``dst``/``target``/``to``/``v``. Timestamps are integer epoch seconds or, in Parquet, a timestamp
type; ``--as-of`` style cut-offs are compared in epoch seconds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SRC_ALIASES = ("src", "source", "from", "u")
DST_ALIASES = ("dst", "target", "to", "v")
WHITESPACE_COLUMNS = ("src", "dst", "weight", "timestamp")


class InputError(ValueError):
    """Bad input, phrased as one line for a person: file, line or row, field, what is wrong."""


@dataclass(frozen=True, eq=False)
class EdgeTable:
    """Edge columns as numpy arrays; ``lines`` maps each edge back to its line/row in the file."""

    path: Path
    src: npt.NDArray[np.str_]
    dst: npt.NDArray[np.str_]
    weight: npt.NDArray[np.float64] | None
    timestamp: npt.NDArray[np.int64] | None
    lines: npt.NDArray[np.int64]
    line_word: str  # "line" for text files, "row" for Parquet

    def where(self, i: int) -> str:
        return f"{self.path}: {self.line_word} {int(self.lines[i])}"

    def select(self, mask: npt.NDArray[np.bool_]) -> EdgeTable:
        return EdgeTable(
            self.path,
            self.src[mask],
            self.dst[mask],
            None if self.weight is None else self.weight[mask],
            None if self.timestamp is None else self.timestamp[mask],
            self.lines[mask],
            self.line_word,
        )


@dataclass(frozen=True, eq=False)
class SeedList:
    """Seed node ids (text), optional weights, and the line each came from."""

    path: Path
    nodes: npt.NDArray[np.str_]
    weights: npt.NDArray[np.float64] | None
    lines: npt.NDArray[np.int64]


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "text"


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if not path.is_file():
        raise InputError(f"{what} path is not a file: {path}")


def _pick(columns: list[str], wanted: str | None, aliases: tuple[str, ...], path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            found = ", ".join(columns) or "none"
            raise InputError(f"{path}: missing column '{wanted}' (columns: {found})")
        return wanted
    lower = {c.lower(): c for c in columns}
    for alias in aliases:
        if alias in lower:
            return lower[alias]
    found = ", ".join(columns) or "none"
    raise InputError(
        f"{path}: missing column '{aliases[0]}' (or {'/'.join(aliases[1:])}; columns: {found})"
    )


def _to_float(values: npt.NDArray[Any], table: EdgeTable, field: str) -> npt.NDArray[np.float64]:
    try:
        out = values.astype(np.float64)
    except ValueError:
        out = None
    if out is not None and np.isfinite(out).all():
        return out
    for i, v in enumerate(values):
        try:
            x = float(v)
        except ValueError:
            shown = str(v) if str(v) else "(empty)"
            raise InputError(f"{table.where(i)}: {field} '{shown}' is not a number") from None
        if not np.isfinite(x):
            raise InputError(f"{table.where(i)}: {field} '{v}' is not a finite number")
    raise AssertionError("unreachable")  # pragma: no cover


def _to_int(values: npt.NDArray[Any], table: EdgeTable, field: str) -> npt.NDArray[np.int64]:
    try:
        return values.astype(np.int64)
    except (ValueError, OverflowError):
        for i, v in enumerate(values):
            try:
                int(v)
            except (ValueError, OverflowError):
                shown = str(v) if str(v) else "(empty)"
                raise InputError(
                    f"{table.where(i)}: {field} '{shown}' is not integer epoch seconds"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _text_column(col: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.str_]:
    if pa.types.is_floating(col.type):
        raise ValueError("floating-point node ids")
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.str_)


def _read_text(path: Path) -> tuple[dict[str, npt.NDArray[np.str_]], npt.NDArray[np.int64]]:
    rows: list[list[str]] = []
    lines: list[int] = []
    with path.open(encoding="utf-8", errors="replace", newline=None) as fh:
        for lineno, raw in enumerate(fh, start=1):
            body = raw.split("#", 1)[0].split()
            if body:
                rows.append(body)
                lines.append(lineno)
    width = len(rows[0]) if rows else 2
    if width < 2 or width > len(WHITESPACE_COLUMNS):
        raise InputError(f"{path}: line {lines[0]}: expected 2 to 4 fields, found {width}")
    for body, lineno in zip(rows, lines, strict=True):
        if len(body) != width:
            raise InputError(f"{path}: line {lineno}: expected {width} fields, found {len(body)}")
    data = np.asarray(rows, dtype=np.str_).reshape(len(rows), width)
    cols = {name: data[:, i] for i, name in enumerate(WHITESPACE_COLUMNS[:width])}
    return cols, np.asarray(lines, dtype=np.int64)


def _csv_header(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), [])
    return [h.strip() for h in header]


def read_edges(
    path: Path,
    *,
    src_column: str | None = None,
    dst_column: str | None = None,
    weight_column: str | None = None,
    timestamp_column: str | None = None,
) -> EdgeTable:
    """Read an edge list; ``weight_column``/``timestamp_column`` are read only when named."""
    _check_file(path, "edges")
    kind = _kind(path)
    raw: dict[str, Any]
    if kind == "text":
        cols, lines = _read_text(path)
        names = list(cols)
        raw = dict(cols)
        word = "line"
    else:
        if kind == "parquet":
            try:
                names = list(pq.read_schema(path).names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
        else:
            names = _csv_header(path, "\t" if path.suffix.lower() == ".tsv" else ",")
        word = "row" if kind == "parquet" else "line"
    s_name = _pick(names, src_column, SRC_ALIASES, path)
    d_name = _pick(names, dst_column, DST_ALIASES, path)
    w_name = _pick(names, weight_column, (weight_column or "",), path) if weight_column else None
    t_name = (
        _pick(names, timestamp_column, (timestamp_column or "",), path)
        if timestamp_column
        else None
    )
    wanted = [c for c in (s_name, d_name, w_name, t_name) if c is not None]

    if kind != "text":
        table = _read_table(path, kind, wanted)
        raw = {}
        offset = 2 if kind == "csv" else 1
        for name in wanted:
            col = table.column(name)
            if col.null_count:
                first = int(np.flatnonzero(np.asarray(pc.is_null(col)))[0])
                raise InputError(f"{path}: {word} {first + offset}: {name} is empty")
            if name in (s_name, d_name):
                try:
                    raw[name] = _text_column(col)
                except ValueError:
                    raise InputError(
                        f"{path}: column '{name}' holds decimals; node ids must be integers or text"
                    ) from None
            elif name == t_name and pa.types.is_timestamp(col.type):
                raw[name] = np.asarray(pc.cast(col, pa.timestamp("s")).cast(pa.int64()))
            else:
                raw[name] = np.asarray(_text_column(col) if pa.types.is_string(col.type) else col)
        lines = np.arange(offset, offset + table.num_rows, dtype=np.int64)

    src = np.asarray(raw[s_name], dtype=np.str_)
    dst = np.asarray(raw[d_name], dtype=np.str_)
    edges = EdgeTable(path, src, dst, None, None, lines, word)
    for field, arr in ((s_name, src), (d_name, dst)):
        empty = np.flatnonzero(np.char.str_len(arr) == 0) if arr.size else np.zeros(0, np.int64)
        if empty.size:
            raise InputError(f"{edges.where(int(empty[0]))}: {field} is empty")
    weight = None if w_name is None else _to_float(np.asarray(raw[w_name]), edges, w_name)
    stamp = None if t_name is None else _to_int(np.asarray(raw[t_name]), edges, t_name)
    return EdgeTable(path, src, dst, weight, stamp, lines, word)


def _read_table(path: Path, kind: str, columns: list[str]) -> pa.Table:
    try:
        if kind == "parquet":
            return pq.read_table(path, columns=columns)
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot be read: {message}") from None


def read_seeds(path: Path) -> SeedList:
    """One id per line (``#`` comments, blank lines skipped), or CSV with a ``node`` column.

    A CSV may carry a ``weight`` column (for instance severity of the delinquency).
    """
    _check_file(path, "seeds")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        text = fh.read()
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if path.suffix.lower() == ".csv" or "," in first:
        reader = csv.reader(text.splitlines())
        header = [h.strip() for h in next(reader, [])]
        if "node" not in header:
            found = ", ".join(header) or "none"
            raise InputError(f"{path}: missing column 'node' (columns: {found})")
        at = header.index("node")
        w_at = header.index("weight") if "weight" in header else None
        nodes, weights, lines = [], [], []
        for lineno, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if at >= len(row) or not row[at].strip():
                raise InputError(f"{path}: line {lineno}: node is empty")
            nodes.append(row[at].strip())
            lines.append(lineno)
            if w_at is not None:
                cell = row[w_at].strip() if w_at < len(row) else ""
                try:
                    w = float(cell)
                except ValueError:
                    raise InputError(
                        f"{path}: line {lineno}: weight '{cell or '(empty)'}' is not a number"
                    ) from None
                if not np.isfinite(w) or w < 0:
                    raise InputError(f"{path}: line {lineno}: weight {cell} must be >= 0")
                weights.append(w)
        return SeedList(
            path,
            np.asarray(nodes, dtype=np.str_),
            None if w_at is None else np.asarray(weights, dtype=np.float64),
            np.asarray(lines, dtype=np.int64),
        )
    nodes, lines = [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        body = raw.split("#", 1)[0].strip()
        if body:
            nodes.append(body)
            lines.append(lineno)
    return SeedList(path, np.asarray(nodes, dtype=np.str_), None, np.asarray(lines, dtype=np.int64))


def parse_as_of(value: str) -> int:
    """Epoch seconds from an integer or an ISO 8601 date/datetime (no offset means UTC)."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--as-of '{value}' is neither epoch seconds nor an ISO 8601 date"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def write_scores(path: Path, columns: dict[str, npt.NDArray[Any]]) -> None:
    """Write the score table as CSV (header, values quoted only when needed)."""
    if not path.parent.exists():
        raise InputError(f"output directory does not exist: {path.parent}")
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    try:  # plain cells; quote only if an id holds a comma, quote or line break
        options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
        pacsv.write_csv(table, path, write_options=options)
    except pa.ArrowInvalid:
        pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
