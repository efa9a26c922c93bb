"""Deliberately malformed rows, derived from the contract so every declared check gets exercised.

Each bad row is a copy of a good row with exactly one defect: a missing required value, a value
outside an enum or a range, a broken cross-field rule (self-loop, amount on a message, end before
start, ...) and, in CSV only, text that does not parse (a date that does not exist, too many
decimals on money, a word where a number belongs). Parquet columns are typed, so defects that only
text can carry are drawn for CSV output alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from creditgraph.contracts.schema import MONEY_INTERACTIONS, Column, Kind, TableSpec
from creditgraph.simulate.columns import arrow_schema
from creditgraph.simulate.writer import TableWriter

Row = dict[str, Any]


@dataclass(frozen=True)
class Defect:
    """One way to break a row; ``text_only`` defects are applied to the CSV text of the row."""

    name: str
    column: str
    apply: Callable[[Row], None]
    text_only: bool = False


def _set(column: str, value: Any) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row[column] = value

    return apply


def _before(column: str, anchor: str, delta: timedelta) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row[column] = row[anchor] - delta

    return apply


def _column_defects(c: Column) -> list[Defect]:
    out: list[Defect] = []
    if c.required:
        out.append(Defect("missing_required", c.name, _set(c.name, None)))
    if c.kind == Kind.ENUM:
        out.append(Defect("bad_enum", c.name, _set(c.name, f"unknown_{c.name}")))
    if c.kind == Kind.INT:
        if c.minimum is not None:
            out.append(Defect("below_minimum", c.name, _set(c.name, c.minimum - 3)))
        if c.maximum is not None:
            out.append(Defect("above_maximum", c.name, _set(c.name, c.maximum + 1)))
        out.append(Defect("not_a_number", c.name, _set(c.name, "twelve"), text_only=True))
    if c.kind == Kind.MONEY:
        if c.minimum is not None:
            out.append(Defect("negative_money", c.name, _set(c.name, Decimal("-12.50"))))
        out.append(Defect("too_many_decimals", c.name, _set(c.name, "12.345"), text_only=True))
    if c.kind == Kind.TIMESTAMP:
        out.append(
            Defect("unparsable_timestamp", c.name, _set(c.name, "2025-13-45T25:61:00+00:00"), True)
        )
    if c.kind == Kind.DATE:
        out.append(Defect("unparsable_date", c.name, _set(c.name, "2026-02-30"), text_only=True))
    if c.kind == Kind.BOOL:
        out.append(Defect("bad_bool", c.name, _set(c.name, "maybe"), text_only=True))
    return out


def _amount_rule(row: Row) -> None:
    if row["kind"] in MONEY_INTERACTIONS:
        row["amount"] = None
    else:
        row["amount"] = Decimal("52.00")


def _self_loop(row: Row) -> None:
    row["dst"] = row["src"]


_RULE_DEFECTS: dict[str, Callable[[Row], None]] = {
    "self_loop": _self_loop,
    "ended_after_created": _before("ended_at", "created_at", timedelta(days=1)),
    "amount_only_for_transfers": _amount_rule,
    "expires_after_granted": _before("expires_at", "granted_at", timedelta(days=1)),
    "revoked_after_granted": _before("revoked_at", "granted_at", timedelta(days=1)),
    "last_after_first": _before("last_seen", "first_seen", timedelta(days=1)),
    "reported_after_opened": _before("reported_at", "opened_at", timedelta(days=30)),
    "observed_after_applied": _before("observed_at", "applied_at", timedelta(days=1)),
    "positive_amount": _set("amount", Decimal("0.00")),
    "not_in_future": _set("birth_year", 2999),
    "phone_format": _set("phone", "12-ab"),
    # a well-formed resident id number whose GB 11643 check character is wrong (X is right)
    "id_number_checksum": _set("id_number", "110105194912310021"),
}


def defects_for(spec: TableSpec, text: bool) -> list[Defect]:
    """Every defect that the table's declared columns and rules make possible."""
    out: list[Defect] = []
    for c in spec.all_columns:
        out.extend(d for d in _column_defects(c) if text or not d.text_only)
    for rule in spec.rules:
        if rule.name not in _RULE_DEFECTS:
            raise KeyError(f"{spec.name}: no defect defined for rule {rule.name!r}")
        out.append(Defect(f"rule:{rule.name}", rule.field, _RULE_DEFECTS[rule.name]))
    return out


@dataclass
class BadRowLog:
    """Where each bad row went: table, 0-based data row number in the file, column and defect."""

    table: list[str]
    row: list[int]
    column: list[str]
    defect: list[str]

    @classmethod
    def empty(cls) -> BadRowLog:
        return cls([], [], [], [])

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "table": pa.array(self.table, pa.string()),
                "row": pa.array(self.row, pa.int64()),
                "column": pa.array(self.column, pa.string()),
                "defect": pa.array(self.defect, pa.string()),
            }
        )


class Corruptor:
    """Appends about ``share`` bad copies after each chunk a writer receives."""

    def __init__(self, share: float, rng: np.random.Generator) -> None:
        self.share = share
        self.rng = rng
        self.log = BadRowLog.empty()
        self._cache: dict[tuple[str, bool], list[Defect]] = {}

    def _defects(self, spec: TableSpec, text: bool) -> list[Defect]:
        key = (spec.name, text)
        if key not in self._cache:
            self._cache[key] = defects_for(spec, text)
        return self._cache[key]

    def write(self, writer: TableWriter, chunk: pa.Table) -> int:
        """Write bad copies of some of ``chunk``'s rows (already written) to ``writer``."""
        if chunk.num_rows == 0:
            return 0
        k = int(self.rng.binomial(chunk.num_rows, self.share))
        if k == 0:
            return 0
        text = writer.fmt == "csv"
        spec = writer.spec
        defects = self._defects(spec, text)
        picks = self.rng.integers(0, chunk.num_rows, k)
        chosen = [defects[i] for i in self.rng.integers(0, len(defects), k)]
        rows = chunk.take(pa.array(picks)).to_pylist()
        for row, d in zip(rows, chosen, strict=True):
            if not d.text_only:
                d.apply(row)
        out = writer.to_output(pa.Table.from_pylist(rows, schema=arrow_schema(spec)))
        if text:
            text_rows = out.to_pylist()
            for row, d in zip(text_rows, chosen, strict=True):
                if d.text_only:
                    d.apply(row)
            out = pa.Table.from_pylist(text_rows, schema=writer.output_schema)
        first = writer.rows
        writer.write_output(out)
        for i, d in enumerate(chosen):
            self.log.table.append(spec.name)
            self.log.row.append(first + i)
            self.log.column.append(d.column)
            self.log.defect.append(d.name)
        return k
