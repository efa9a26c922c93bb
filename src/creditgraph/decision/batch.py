"""Reading a batch of applications (CSV or Parquet) into checked rows and per-row errors.

A bad row never stops a batch: it is reported with the file, its row number (1 = first data row),
the field and the rule it broke, and the good rows go on to be decided.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

# Column names a file may use for each field (the first is the canonical one).
COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("person", "person_id"),
    "product": ("product", "product_code"),
    "amount": ("amount",),
    "term": ("term", "term_months"),
    "purpose": ("purpose",),
    "schedule_type": ("schedule_type", "method"),
    "applicant_ref": ("applicant_ref",),
}
REQUIRED = ("person", "product", "amount", "term")


class BatchInputError(ValueError):
    """The file as a whole cannot be read (missing, unknown type, required column absent)."""


@dataclass(frozen=True)
class RowError:
    file: str
    row: int
    field: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True)
class ApplicationRow:
    person_id: str
    product_code: str
    amount: Decimal
    term_months: int
    purpose: str | None
    schedule_type: str | None
    applicant_ref: str | None


@dataclass
class BatchResult:
    """Stored decisions (with the input row number of each) and the rows that were refused."""

    file: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.decisions:
            counts[d["outcome"]] = counts.get(d["outcome"], 0) + 1
        return counts


def _read_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV (every cell as text, checked per row below) or of a Parquet file."""
    if not path.is_file():
        raise BatchInputError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
            except pa.ArrowInvalid as exc:
                raise BatchInputError(f"{path}: cannot read it ({exc})") from None
            return rows
        if name.endswith((".csv", ".csv.gz", ".tsv")):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
                delimiter = "\t" if name.endswith(".tsv") else ","
                return [dict(r) for r in csv.DictReader(handle, delimiter=delimiter)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BatchInputError(f"{path}: cannot read it ({exc})") from None
    raise BatchInputError(f"{path}: unknown file type; use .csv, .csv.gz, .tsv or .parquet")


def _pick(raw: Mapping[str, Any], name: str) -> Any:
    for column in COLUMNS[name]:
        if column in raw:
            value = raw[column]
            if isinstance(value, str):
                value = value.strip() or None
            return value
    return None


def _check_row(
    label: str, number: int, raw: Mapping[str, Any]
) -> tuple[ApplicationRow | None, list[RowError]]:
    errors: list[RowError] = []

    def bad(name: str, rule: str, message: str) -> None:
        errors.append(RowError(label, number, name, rule, message))

    values = {name: _pick(raw, name) for name in COLUMNS}
    for name in REQUIRED:
        if values[name] is None:
            bad(name, "required", f"{name} is empty")
    amount: Decimal | None = None
    if values["amount"] is not None:
        try:
            amount = Decimal(str(values["amount"]))
            if not amount.is_finite() or amount <= 0:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            bad("amount", "number", f"{values['amount']!r} is not a positive amount")
            amount = None
    term: int | None = None
    if values["term"] is not None:
        text = str(values["term"])
        if text.isdigit():
            term = int(text)
        elif isinstance(values["term"], float) and values["term"].is_integer():
            term = int(values["term"])
        else:
            bad("term", "integer", f"{values['term']!r} is not a whole number of months")
    if errors or amount is None or term is None:
        return None, errors
    return (
        ApplicationRow(
            person_id=str(values["person"]),
            product_code=str(values["product"]),
            amount=amount,
            term_months=term,
            purpose=None if values["purpose"] is None else str(values["purpose"]),
            schedule_type=None if values["schedule_type"] is None else str(values["schedule_type"]),
            applicant_ref=None if values["applicant_ref"] is None else str(values["applicant_ref"]),
        ),
        [],
    )


def read_applications(
    source: Path | Iterable[Mapping[str, Any]], name: str | None = None
) -> tuple[str, list[tuple[int, ApplicationRow]], list[RowError]]:
    """(label, numbered good rows, errors) from a file or from mappings already in memory."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        raw_rows = _read_file(path)
        columns = set(raw_rows[0]) if raw_rows else set()
        if raw_rows:
            missing = [n for n in REQUIRED if not columns & set(COLUMNS[n])]
            if missing:
                raise BatchInputError(
                    f"{label}: missing column(s) {', '.join(missing)}; "
                    f"expected {', '.join(COLUMNS)}"
                )
    else:
        label = name or "<rows>"
        raw_rows = [dict(r) for r in source]
    good: list[tuple[int, ApplicationRow]] = []
    errors: list[RowError] = []
    for number, raw in enumerate(raw_rows, start=1):
        row, problems = _check_row(label, number, raw)
        errors.extend(problems)
        if row is not None:
            good.append((number, row))
    return label, good, errors
