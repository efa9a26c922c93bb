"""The quarantine: every rejected row, with file, row number, field and rule, so it can be fixed.

Files are written beside the batch under ``<home>/quarantine/<batch>/`` in a folder only the
owner can read. The quarantine holds no more about a person than the lake or the database would:
identifiers are written as the pseudonyms the door would give them (the columns the contract
pseudonymises, with the pseudonym key), so an erasure can find and forget them
(``privacy.quarantine``); personal fields (name, phone, id number, note) and money (a declared
income, an amount) are redacted; a row about a person already erased keeps no record at all. A
line that could not even be split into fields is kept only as its SHA-256 and length. The row
number names the row in the lender's own file, where they fix it. A value over 1,000 characters is cut to its first 200 plus a marker
with its length and SHA-256. Optional values nulled in stored rows are noted here too
(``"stored": true``, ``nulled``), but are not quarantined rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.contracts.schema import Kind, TableSpec
from creditgraph.contracts.validate import ROW
from creditgraph.duck import arrow_table
from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.store.files import private_dir

REDACTED = "[redacted]"
ERASED_RULE = "erased_person"
"""The rule of a row about a person erased on request: its line keeps no record."""
# A value longer than this is kept as its first HEAD characters plus its length and SHA-256, so
# a refused 9 MB cell cannot make the quarantine a way to fill the disk.
LONGEST_VALUE = 1_000
HEAD = 200


def _bounded(value: str) -> str:
    """SQL keeping a short value as is and a long one as its head and a marker naming the whole."""
    text = f"CAST({value} AS VARCHAR)"
    return (
        f"CASE WHEN length({text}) > {LONGEST_VALUE} THEN left({text}, {HEAD}) || "
        f"'…[truncated: ' || length({text}) || ' characters, sha256 ' || sha256({text}) || ']' "
        f"ELSE {value} END"
    )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def problems_json(problems: list[Problem]) -> str:
    return json.dumps([p.__dict__ for p in problems], ensure_ascii=False)


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str


@dataclass
class QuarantineWriter:
    """Staged per input file (``*.jsonl.part``): ``seal`` before the file's record commits,
    ``publish`` after; ``discard`` leaves nothing behind."""

    path: Path
    spec: TableSpec
    source_file: Path
    pseudonymiser: Pseudonymiser
    counts: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    nulled: Counter[str] = field(
        default_factory=Counter
    )  # rule of each value nulled in a stored row
    _handle: IO[str] | None = None
    _sealed: bool = False

    @property
    def _staging(self) -> Path:
        return self.path.with_name(self.path.name + ".part")

    def _open(self) -> IO[str]:
        if self._handle is None:
            private_dir(self.path.parent)
            os.chmod(self.path.parent.parent, 0o700)
            fd = os.open(self._staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._handle = os.fdopen(fd, "w", encoding="utf-8")
        return self._handle

    def add_malformed(self, row: int, problems: list[Problem], line: str) -> None:
        """Quarantine a line that could not be split into fields: its hash and length, not its text.

        Such a line cannot be split reliably, so its personal fields cannot be told apart and
        redacted; the row number finds it in the source file, the SHA-256 (of the line as read,
        UTF-8) proves which line it was.
        """
        handle = self._open()
        self.rows += 1
        for problem in problems:
            self.counts[problem.rule] += 1
        data = line.encode("utf-8", errors="surrogateescape")
        entry = {
            "file": str(self.source_file),
            "table": self.spec.name,
            "row": row,
            "errors": [p.__dict__ for p in problems],
            "line": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            if data
            else None,  # the reader could not even delimit the line
        }
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def add_rows(self, con: duckdb.DuckDBPyConnection, raw: pa.Table, errors: pa.Array) -> None:
        """Quarantine many rows at once: ``raw`` as read (with ``_row``), ``errors`` as JSON text.

        The lines are built by DuckDB, so a million refused rows cost a second, not a minute.
        """
        if raw.num_rows == 0:
            return
        self._write(self._lines(con, raw, errors, "errors"))
        self.rows += raw.num_rows

    def add_notes(self, con: duckdb.DuckDBPyConnection, raw: pa.Table, notes: pa.Array) -> None:
        """Record optional values nulled in rows that were stored: not quarantined rows.

        Each line has ``"stored": true`` and ``nulled`` (field, rule, message) instead of
        ``errors``, and the record as read (personal fields redacted), so the value can be fixed.
        """
        if raw.num_rows == 0:
            return
        self._write(self._lines(con, raw, notes, "nulled"))

    def _write(self, lines: list[str]) -> None:
        handle = self._open()
        handle.write("\n".join(lines) + "\n")

    def _lines(
        self, con: duckdb.DuckDBPyConnection, raw: pa.Table, problems: pa.Array, key: str
    ) -> list[str]:
        personal = {c.name for c in self.spec.all_columns if c.personal or c.kind is Kind.MONEY}
        raw = self._pseudonymised(raw)
        fields = []
        for name in raw.column_names:
            if name == ROW:
                continue
            value = _q(name)
            if name in personal:
                value = f"CASE WHEN coalesce(CAST({value} AS VARCHAR), '') = '' THEN CAST({value} AS VARCHAR) ELSE '{REDACTED}' END"
            elif pa.types.is_string(raw.schema.field(name).type) or pa.types.is_large_string(
                raw.schema.field(name).type
            ):  # typed Parquet columns (times, numbers) are short by nature
                value = _bounded(value)
            fields.append(f"'{name}', {value}")
        stored = "'stored', true, " if key == "nulled" else ""
        record = (
            f"CASE WHEN contains(e.problems, '\"{ERASED_RULE}\"') THEN NULL "
            f"ELSE json_object({', '.join(fields)}) END"
        )
        sql = (
            f"SELECT json_object('file', $file, 'table', $table, 'row', r._row, {stored}"
            f"'{key}', json(e.problems), 'record', {record}) AS line "
            "FROM quarantine_raw r POSITIONAL JOIN quarantine_problems e"
        )
        con.register("quarantine_raw", raw)
        con.register("quarantine_problems", pa.table({"problems": problems}))
        try:
            return list(
                arrow_table(con, sql, {"file": str(self.source_file), "table": self.spec.name})[
                    "line"
                ].to_pylist()
            )
        finally:
            con.unregister("quarantine_raw")
            con.unregister("quarantine_problems")

    def _pseudonymised(self, raw: pa.Table) -> pa.Table:
        """The identifiers the contract pseudonymises (not the personal ones, redacted anyway)
        as the door would store them: trimmed as validation trims, then keyed pseudonyms. A
        column that cannot be read as text (a binary Parquet column) is redacted whole."""
        for column in self.spec.all_columns:
            if (
                column.pseudonymise is None
                or column.personal
                or column.name not in raw.column_names
            ):
                continue
            index = raw.schema.get_field_index(column.name)
            try:
                values = pc.cast(raw[column.name], pa.string())
                trimmed = pc.utf8_trim(values, characters=" ")
                trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
                mapped = self.pseudonymiser.column(column.pseudonymise, trimmed)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
                mapped = pa.array([REDACTED] * raw.num_rows, type=pa.string())
            raw = raw.set_column(index, column.name, mapped)
        return raw

    def seal(self) -> None:
        """Finish the staged file and sync it, before the input file's record commits."""
        if self._handle is None:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        self._sealed = True

    def publish(self) -> Path | None:
        """Rename the sealed file into place (once the input file's record committed)."""
        if not self._sealed:
            return None
        self._staging.replace(self.path)
        self._sealed = False
        return self.path

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._staging.unlink(missing_ok=True)
        self._sealed = False
        self.counts.clear()
        self.nulled.clear()
        self.rows = 0
