"""How one ingest batch reads on screen: ``creditgraph ingest`` and the demo print the same table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from creditgraph.ingest.service import BatchReport


def batch_table(report: BatchReport) -> Table:
    """Per-table counts of one ingest batch, as the CLI and the demo show them."""
    table = Table(title=f"batch {report.batch_id}  sha256 {report.content_sha256[:16]}…")
    for name in ("table", "read", "accepted", "updated", "duplicates", "quarantined"):
        table.add_column(name, justify="left" if name == "table" else "right")
    for name, counts in report.by_table().items():
        table.add_row(
            name,
            *(
                f"{counts.get(k, 0):,}"
                for k in ("rows_read", "accepted", "updated", "duplicates", "quarantined")
            ),
        )
    return table
