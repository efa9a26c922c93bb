"""``creditgraph lake``: maintenance of the Parquet lake (compaction after erasure and revocation)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from creditgraph.privacy.compaction import CompactionReport

lake_app = typer.Typer(help="The Parquet lake: compaction.", no_args_is_help=True)


@lake_app.command("compact")
def lake_compact(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would be removed; write nothing."
    ),
) -> None:
    """Rewrite lake parts without erased people's rows and revoked sources' rows.

    删除已注销者与已撤回同意来源的湖中数据行（逐个文件原子重写）。
    """
    from creditgraph.console.progress import RowProgress
    from creditgraph.privacy.compaction import compact
    from creditgraph.store.db import migrated_engine
    from creditgraph.store.lake import LakeBusy

    console = Console()  # its width read now: the terminal's (or COLUMNS) at this run
    settings = get_settings()
    try:
        with migrated_engine(settings.database_url) as engine, RowProgress(console) as bar:
            report = compact(
                engine,
                settings.lake_dir,
                dry_run=dry_run,
                timezone=settings.timezone,
                lease=timedelta(seconds=settings.ingest_lease_seconds),
                progress=lambda table, done, total: bar.update(table, done, total),
            )
    except LakeBusy as exc:
        typer.echo(f"error: {exc} / 湖正在被写入，请稍后再试", err=True)
        raise typer.Exit(1) from None
    print_report(report, console)


def print_report(report: CompactionReport, console: Console) -> None:
    title = "Lake compaction 湖压缩" + (
        " (dry run 试运行: nothing written 未写入)" if report.dry_run else ""
    )
    table = Table(title=title)
    for header in (
        "table 表",
        "parts 文件",
        "rewritten 重写",
        "rows before 原行数",
        "erased 注销",
        "revoked 撤回",
        "expired 过期",
        "bytes before 原字节",
        "bytes after 现字节",
    ):
        table.add_column(header, justify="left" if header.startswith("table") else "right")
    for name, t in report.tables.items():
        table.add_row(
            name,
            f"{t.parts:,}",
            f"{t.parts_rewritten:,}",
            f"{t.rows_before:,}",
            f"{t.rows_erased:,}",
            f"{t.rows_revoked:,}",
            f"{t.rows_expired:,}",
            f"{t.bytes_before:,}",
            f"{t.bytes_after:,}",
        )
    console.print(table)
    verb = "would remove 将删除" if report.dry_run else "removed 已删除"
    console.print(
        f"{verb} {report.rows_removed:,} rows 行 "
        f"({report.erased_people:,} erased people 注销者, "
        f"{report.revoked_pairs:,} revoked person-source pairs 撤回的人-来源) "
        f"in 用时 {report.seconds:.1f} s; "
        f"purge jobs done 完成清除任务 {len(report.jobs_done)}"
        + (
            f"; unfinished rewrites removed 清理中断的重写 {report.stale_removed}"
            if report.stale_removed
            else ""
        )
    )


def register(app: typer.Typer) -> None:
    app.add_typer(lake_app, name="lake")
