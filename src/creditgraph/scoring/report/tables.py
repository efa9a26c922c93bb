"""Tables the caller supplies as they are (IV, bins): rows read as given, one column derived.

A scorecard and a challenger describe their variables differently, so these tables are shown
with the caller's own columns rather than forced into one layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from creditgraph.scoring.report.blocks import Table
from creditgraph.scoring.report.formatting import supplied_cell
from creditgraph.scoring.report.inputs import Rows


def records(rows: Rows) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names (first-seen order) and row dicts of a supplied table."""
    if isinstance(rows, pa.Table):
        return list(rows.column_names), rows.to_pylist()
    found = [dict(r) for r in rows]
    columns: list[str] = []
    for record in found:
        columns.extend(str(k) for k in record if str(k) not in columns)
    return columns, found


def supplied_table(rows: Rows, extra: tuple[str, Callable[[Any], str]] | None = None) -> Table:
    """A table as supplied; ``extra`` adds one derived column (heading, row → text)."""
    columns, found = records(rows)
    body = [[supplied_cell(r.get(c)) for c in columns] for r in found]
    if extra is None:
        return Table(columns, body)
    heading, derive = extra
    return Table([*columns, heading], [[*b, derive(r)] for b, r in zip(body, found, strict=True)])


def find_column(columns: Sequence[str], *names: str) -> str | None:
    """The first of ``names`` among the columns, ignoring case."""
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def bin_groups(bins: Mapping[str, Rows] | Rows) -> list[tuple[str | None, Rows]]:
    """Bin tables per variable: as given, or split from one long table by its variable column
    (a table without one is shown whole, under no name)."""
    if isinstance(bins, Mapping):
        return [(str(k), v) for k, v in bins.items()]
    columns, found = records(bins)
    var = find_column(columns, "variable", "feature", "name")
    if var is None:
        return [(None, bins)]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in found:
        grouped.setdefault(str(r.get(var)), []).append({k: v for k, v in r.items() if k != var})
    return [(name, rows) for name, rows in grouped.items()]


def iv_strength(value: object) -> str:
    """Conventional reading of an information value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return ""
    for bound, text in (
        (0.02, "无预测力 / not predictive"),
        (0.1, "弱 / weak"),
        (0.3, "中 / medium"),
        (0.5, "强 / strong"),
    ):
        if value < bound:
            return text
    return "过强，检查泄漏 / suspicious, check for leakage"
