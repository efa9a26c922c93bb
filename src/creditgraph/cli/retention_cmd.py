"""``creditgraph retention run``: remove what has outlived its retention period, and say what."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from creditgraph.privacy.retention import RetentionReport

retention_app = typer.Typer(help="Retention of personal data (PIPL Art. 19).", no_args_is_help=True)

CLASS_NAMES = {
    "social": "社交数据 social rows (lake)",
    "features": "特征 features (offline, online)",
    "scores": "评分 batch scores",
    "decisions": "决策 decisions",
    "loans": "贷款 loans (whole)",
    "access_log": "访问日志 access log",
    "subject_requests": "主体请求 subject requests",
    "api_answers": "接口重试应答 stored API answers",
}


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"--as-of: must be a date YYYY-MM-DD, got {value!r} / 日期格式应为 YYYY-MM-DD"
        ) from None


@retention_app.command("run")
def retention_run(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Apply the policy as of this date (YYYY-MM-DD; default today)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; remove nothing."),
    policy_file: Path | None = typer.Option(
        None, "--policy", help="A retention policy TOML (default: the packaged one)."
    ),
) -> None:
    """Apply the retention policy and the due purges; print what was removed and kept.

    按保留期限删除过期数据并执行待办清除任务；打印删除与保留情况。
    """
    from creditgraph.console.progress import RowProgress
    from creditgraph.privacy.retention import RetentionPolicyError, load_policy, run
    from creditgraph.store.db import migrated_engine
    from creditgraph.store.lake import LakeBusy

    console = Console()  # its width read now: the terminal's (or COLUMNS) at this run
    day = _as_of(as_of)
    try:
        policy = load_policy(policy_file)
    except RetentionPolicyError as exc:
        raise _fail(f"retention policy: {exc}") from None
    settings = get_settings()
    try:
        with migrated_engine(settings.database_url) as engine, RowProgress(console) as bar:
            report = run(
                engine,
                settings.lake_dir,
                day,
                dry_run,
                policy=policy,
                timezone=settings.timezone,
                lease=timedelta(seconds=settings.ingest_lease_seconds),
                progress=lambda table, done, total: bar.update(table, done, total),
            )
    except LakeBusy as exc:
        raise _fail(f"{exc} / 湖正在被写入，请稍后再试") from None
    print_report(report, console)


def print_report(report: RetentionReport, console: Console) -> None:
    mode = " — dry run 试运行: nothing removed 未删除" if report.dry_run else ""
    table = Table(
        title=f"Retention 保留期限 as of 截至 {report.as_of} "
        f"(policy 策略 {report.policy_version}){mode}"
    )
    for header in (
        "class 类别",
        "kept 保留 (months 月)",
        "cutoff 截止",
        "removed 删除",
        "kept: hold 法定保留",
        "kept: books 账簿",
        "kept: loan 有贷款",
        "oldest kept 最早保留",
    ):
        table.add_column(header, justify="left" if header.startswith("class") else "right")
    for name, c in report.classes.items():
        table.add_row(
            CLASS_NAMES.get(name, name),
            str(c.months),
            c.cutoff.isoformat(),
            f"{c.removed:,}",
            f"{c.kept_by_hold:,}",
            f"{c.kept_by_books:,}",
            f"{c.kept_with_loan:,}",
            c.oldest_kept or "—",
        )
    console.print(table)
    lake = report.lake
    console.print(
        f"lake 湖: erased 注销 {sum(t.rows_erased for t in lake.tables.values()):,}, "
        f"revoked 撤回 {sum(t.rows_revoked for t in lake.tables.values()):,}, "
        f"expired 过期 {sum(t.rows_expired for t in lake.tables.values()):,} rows 行; "
        f"purge jobs done 完成清除任务 {len(lake.jobs_done)}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
