"""Which files make up a batch, which table each is, and whether each can be read at all.

Everything here runs before the first write, so a batch that cannot be read leaves no trace.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from creditgraph.contracts.schema import INGEST_ORDER, TABLES, TableSpec, table_spec
from creditgraph.ingest.errors import IngestInputError

FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    path: Path
    spec: TableSpec
    file_format: str
    sha256: str
    columns: tuple[str, ...]
    size_bytes: int


def detect_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    known = ", ".join(sorted(FORMATS))
    raise IngestInputError(f"{path}: unknown file format (expected one of {known})")


def table_from_name(path: Path) -> TableSpec:
    """``ties.csv``, ``ties-2026-06.parquet`` and ``ties.part1.jsonl`` are all the ties table."""
    stem = path.name.split(".")[0].lower()
    for table in sorted(TABLES, key=len, reverse=True):
        if stem == table or stem.startswith(table + "-"):
            return TABLES[table]
    known = ", ".join(TABLES)
    raise IngestInputError(
        f"{path}: cannot tell the table from the file name; name it after one of {known} "
        "or pass --table"
    )


def file_sha256(path: Path) -> str:
    """The file's hash; a gzip file is also decompressed on the way, to prove it is whole.

    A truncated or corrupt gzip would otherwise fail half-way through the batch; found here, it
    stops the batch before anything is written (``IngestInputError``, one line).
    """
    digest = hashlib.sha256()
    check = _GzipCheck(path) if path.name.lower().endswith(".gz") else None
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            if check is not None:
                check.feed(block)
    if check is not None:
        check.finish()
    return digest.hexdigest()


class _GzipCheck:
    """Decompress a gzip stream (any number of members) without keeping the output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self.in_member = False

    def feed(self, data: bytes) -> None:
        while data:
            if not self.in_member:
                data = data.lstrip(b"\0")  # padding after the last member, as gzip allows
                if not data:
                    return
                self.in_member = True
            try:
                # bounded output per call, so a small block that inflates hugely costs no memory
                self.inflater.decompress(data, _HASH_BLOCK)
                while self.inflater.unconsumed_tail and not self.inflater.eof:
                    self.inflater.decompress(self.inflater.unconsumed_tail, _HASH_BLOCK)
            except zlib.error as exc:
                raise self._error(str(exc)) from None
            data = b""
            if self.inflater.eof:  # what follows the member (its bytes, not unconsumed_tail)
                data = self.inflater.unused_data
                self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                self.in_member = False

    def finish(self) -> None:
        if self.in_member:
            try:  # output held back by the bounded calls may still complete the member
                self.inflater.flush()
            except zlib.error as exc:
                raise self._error(str(exc)) from None
            if not self.inflater.eof or self.inflater.unused_data.strip(b"\0"):
                raise self._error("the compressed data ends early (truncated file)")

    def _error(self, reason: str) -> IngestInputError:
        return IngestInputError(f"{self.path}: cannot be read as gzip: {reason}")


def read_header(path: Path, file_format: str) -> tuple[str, ...]:
    """Column names, read cheaply; raises ``IngestInputError`` if the file is unreadable."""
    try:
        if file_format == "parquet":
            return tuple(pq.read_schema(path).names)
        if file_format == "csv":
            return _csv_header(path)
        return _jsonl_header(path)
    except IngestInputError:
        raise
    except (
        OSError,
        EOFError,
        zlib.error,
        ValueError,
        csv.Error,
    ) as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError; gzip EOFError or zlib.error
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestInputError(f"{path}: cannot be read as {file_format}: {reason}") from None


def _csv_header(path: Path) -> tuple[str, ...]:
    from creditgraph.ingest.readers import open_text

    with open_text(path) as handle:
        header = next(csv.reader(handle), [])
    names = tuple(h.strip() for h in header)
    if any(not n for n in names) or len(set(names)) != len(names):
        raise IngestInputError(f"{path}: cannot be read as csv: header has empty or repeated names")
    try:
        "".join(names).encode("utf-8")
    except UnicodeEncodeError:
        raise IngestInputError(f"{path}: cannot be read as csv: header is not UTF-8") from None
    return names


def _jsonl_header(path: Path) -> tuple[str, ...]:
    from creditgraph.ingest.readers import json_error_text, open_text

    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeEncodeError, RecursionError) as exc:
                    raise IngestInputError(
                        f"{path}: cannot be read as jsonl: first record is not JSON "
                        f"({json_error_text(exc)})"
                    ) from None
                if not isinstance(record, dict):
                    raise IngestInputError(
                        f"{path}: cannot be read as jsonl: records must be objects"
                    )
                return tuple(record)
    return ()


def _table_spec(name: str) -> TableSpec:
    try:
        return table_spec(name)
    except KeyError as exc:
        raise IngestInputError(str(exc.args[0])) from None


def resolve(paths: list[Path], table: str | None = None) -> list[SourceFile]:
    """Check every input up front and return them in the order the batch applies them."""
    if not paths:
        raise IngestInputError("no input files given")
    files: list[SourceFile] = []
    for path in _expand(paths):
        if not path.exists():
            raise IngestInputError(f"{path}: no such file")
        if not path.is_file():
            raise IngestInputError(f"{path}: not a file")
        spec = _table_spec(table) if table else table_from_name(path)
        file_format = detect_format(path)
        try:
            size = path.stat().st_size
            sha = file_sha256(path)
        except OSError as exc:
            raise IngestInputError(f"{path}: cannot be read: {exc.strerror}") from None
        columns = read_header(path, file_format)
        if not columns:
            raise IngestInputError(f"{path}: the file is empty (no header or records)")
        missing = [c for c in spec.required_columns if c not in columns]
        if missing:
            raise IngestInputError(
                f"{path}: missing required column(s) {', '.join(missing)} for table {spec.name}"
            )
        files.append(SourceFile(path, spec, file_format, sha, columns, size))
    order = {name: i for i, name in enumerate(INGEST_ORDER)}
    return sorted(files, key=lambda f: (order[f.spec.name], str(f.path)))


def _expand(paths: list[Path]) -> list[Path]:
    """A directory stands for the contract files directly inside it; other entries are skipped."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and _is_contract_file(child):
                    expanded.append(child)
        else:
            expanded.append(path)
    return expanded


def _is_contract_file(path: Path) -> bool:
    try:
        table_from_name(path)
        detect_format(path)
    except IngestInputError:
        return False
    return True
