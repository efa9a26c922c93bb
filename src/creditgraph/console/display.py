"""How amounts and rates read on screen: one place, so every command writes money alike.

Money arrives as exact decimal strings or Decimals and is never turned into a float: thousands
separators for reading, the fen kept. Rates are fractions shown as percentages. Tables, JSON
and files for programs to read come out of here too, so every command writes them alike.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pyarrow as pa


def yuan(amount: Decimal | str) -> str:
    """``1234567.5`` -> ``1,234,567.50``."""
    return f"{Decimal(amount):,.2f}"


def percent(rate: Decimal | str | None, places: int = 2) -> str:
    """A fraction as a percentage: ``0.100408`` -> ``10.04%``; ``-`` when there is none."""
    if rate is None:
        return "-"
    return f"{Decimal(rate) * 100:.{places}f}%"


# --- output that programs read ---------------------------------------------------------------

WIDE = 10_000  # columns a table may take when stdout is not a terminal: never wrap


def print_table(console: Console, table: Table) -> None:
    """A table at its natural width: on a terminal at least the terminal's width, and when
    stdout is a file or a pipe never squeezed, wrapped or cut to 80 columns."""
    if not console.is_terminal and isinstance(table.title, str):
        title = Text.from_markup(table.title).cell_len + 4  # the title is not wrapped either
        table.min_width = max(table.min_width or 0, title)
    natural = console.measure(table, options=console.options.update(max_width=WIDE)).maximum
    if natural > console.width or not console.is_terminal:
        Console(width=max(natural, 20), file=console.file, color_system=None).print(table)
    else:
        console.print(table)


def json_text(document: Any) -> str:
    """One JSON document: NaN and infinities become null, dates ISO text, Decimals strings."""
    return json.dumps(_plain(document), ensure_ascii=False, indent=2, allow_nan=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _plain(value.item())  # numpy scalars
    return value


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` as CSV or Parquet, chosen by the file name; OSError/ValueError on failure."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    name = path.name.lower()
    if not name.endswith((".csv", ".parquet", ".pq")):
        raise ValueError(f"{path}: unknown output type; use .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
