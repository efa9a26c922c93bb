"""Demo stage 7: real-time monitoring, three months of the world's events replayed.

The simulator writes the world's events for the three months up to a year before it ends, when
the last applicants' loans run and some fall behind (``simulate --events``), with what it planted.
They come in through the door like a partner's file (validation, pseudonyms, the consent gate),
go onto the outbox, and a monitor in a consumer group of its own replays them from the first
one's offset (the books' own servicing events, published by the servicing stage, stay for the
live group). Alerts are stored with their evidence and act through the decision and servicing
services (frozen limits, review referrals, the collections list). Then the same stream, with the
world's own loan book, is scored against the planted truth: rings found against planted, and
how many days ahead each detector warned compared with no monitoring.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table
from sqlalchemy import func, select

from creditgraph.console.display import print_table
from creditgraph.console.progress import RowProgress
from creditgraph.demo.context import DemoContext
from creditgraph.servicing.calendar import add_months

GROUP = "demo-monitor"
MONTHS = 3
YEARS_BACK = 1


def monitoring_stage(ctx: DemoContext) -> None:
    from creditgraph.monitoring.action_policy_file import load_action_policy
    from creditgraph.monitoring.config_file import load_monitoring_config
    from creditgraph.monitoring.door import Door
    from creditgraph.monitoring.evaluate import evaluate
    from creditgraph.monitoring.event_file import ingest_event_file
    from creditgraph.monitoring.outbox import OutboxBus
    from creditgraph.monitoring.runner import MonitorService
    from creditgraph.simulate.events import write_events_of
    from creditgraph.store.db import migrated_engine
    from creditgraph.store.models import Alert, AlertAction, table_of

    config = ctx.results["simulation_config"]
    end = add_months(config.end_date, -12 * YEARS_BACK)
    folder = ctx.input_dir / "monitoring"
    ctx.console.rule(f"7. Real-time monitoring: {MONTHS} months of events to {end} 实时监控")
    with ctx.console.status("writing the world's event stream…"):
        stream = write_events_of(config, folder, months=MONTHS, end=end)
    monitoring = load_monitoring_config()
    with migrated_engine(ctx.settings.database_url) as db:
        bus = OutboxBus(db)
        total = sum(1 for _ in stream.events_path.open("rb"))
        with RowProgress(ctx.console) as bars:
            done = 0

            def progress(rows: int) -> None:
                nonlocal done
                done += rows
                bars.update("events in through the door", done, total)

            first_offset = _next_offset(db)
            intake = ingest_event_file(
                db, Door.from_settings(ctx.settings), stream.events_path, progress=progress
            )
        bus.replay(GROUP, from_position=str(first_offset))
        service = MonitorService(
            db, bus, config=monitoring, policy=load_action_policy(), group=GROUP, batch=2000
        )
        with ctx.console.status("monitoring: state, graph, detectors, alerts…") as status:
            service.start()

            def stop() -> bool:
                status.update(
                    f"monitoring: {service.summary.loop.applied:,} events, "
                    f"{service.summary.alerts:,} alerts"
                )
                return False

            summary = service.run(until_idle=True, stop=stop)
        alerts, actions = table_of(Alert), table_of(AlertAction)
        with db.connect() as conn:
            by_type = conn.execute(
                select(
                    alerts.c.type, func.count(), func.count(func.distinct(alerts.c.person_id))
                ).group_by(alerts.c.type)
            ).all()
            taken: Counter[str] = Counter()
            for action, count in conn.execute(
                select(actions.c.action, func.count()).group_by(actions.c.action)
            ):
                taken[str(action)] = int(count)
            shown = _examples(conn, alerts)
    refused = sum(intake.refused.values())
    ctx.console.print(
        f"events 事件: {intake.lines:,} read, {intake.accepted:,} accepted, {refused:,} refused "
        f"({', '.join(f'{k} {v:,}' for k, v in intake.refused.most_common()) or 'none'}); "
        f"monitor applied {summary.loop.applied:,}, findings {summary.findings:,}",
        soft_wrap=True,
    )
    table = Table(title="alerts by type 按类型预警")
    table.add_column("type")
    table.add_column("alerts", justify="right")
    table.add_column("people", justify="right")
    for kind, count, people in sorted(by_type):
        table.add_row(kind, f"{count:,}", f"{people:,}")
    print_table(ctx.console, table)
    ctx.console.print(
        "actions 处置: "
        + (", ".join(f"{k} {v:,}" for k, v in taken.most_common()) or "none")
        + " (no money moved: limits, reviews and the collections list only)",
        soft_wrap=True,
    )
    with ctx.console.status("scoring the detectors against the planted truth…"):
        scored = evaluate(folder, monitoring)
    ctx.results["monitoring"] = {"summary": summary, "evaluation": scored}
    _print_evaluation(ctx, scored)
    for alert in shown:
        _print_alert(ctx, alert)


def _next_offset(db: Any) -> int:
    from creditgraph.monitoring.outbox import OUTBOX

    with db.connect() as conn:
        return int(conn.execute(select(func.max(OUTBOX.c.offset))).scalar() or 0) + 1


def _examples(conn: Any, alerts: Any) -> list[dict[str, Any]]:
    """One alert of each of three types, the highest severity first."""
    rows = conn.execute(
        select(
            alerts.c.id,
            alerts.c.type,
            alerts.c.rule,
            alerts.c.severity,
            alerts.c.person_id,
            alerts.c.occurred_at,
            alerts.c.repeat_count,
            alerts.c.evidence,
            alerts.c.actions,
        ).order_by(alerts.c.severity, alerts.c.occurred_at)
    ).all()
    order = {"high": 0, "medium": 1, "low": 2}
    chosen: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (order.get(r.severity, 3), r.occurred_at)):
        if row.type not in chosen:
            chosen[row.type] = dict(row._mapping)
        if len(chosen) == 3:
            break
    return list(chosen.values())


def _print_evaluation(ctx: DemoContext, scored: Any) -> None:
    table = Table(
        title=f"against the planted truth 对照真实情况: {scored.distressed:,} people fell behind "
        "in the window; no monitoring learns at the first missed instalment (0 days ahead)"
    )
    table.add_column("detector")
    table.add_column("alerted", justify="right")
    table.add_column("precision@K", justify="right")
    table.add_column("recall@K", justify="right")
    table.add_column("K", justify="right")
    table.add_column("warned ahead / after", justify="right")
    table.add_column("median days ahead", justify="right")
    for s in scored.scores:
        table.add_row(
            s.type,
            f"{s.alerted:,}",
            f"{s.precision_at_k:.2f}",
            f"{s.recall_at_k:.2f}",
            f"{s.k:,}",
            f"{s.early:,} / {s.late:,}",
            "—" if s.median_lead_days is None else f"{s.median_lead_days:.1f}",
        )
    print_table(ctx.console, table)
    rings = next(s for s in scored.scores if s.type == "fraud_ring").extra
    leads = [s.median_lead_days for s in scored.scores if s.median_lead_days is not None]
    ctx.console.print(
        f"rings found vs planted 发现/植入团伙: {rings['rings_found']} of {rings['rings_planted']}; "
        f"median lead time 中位提前天数: "
        + (f"{sorted(leads)[len(leads) // 2]:.1f} days" if leads else "no early warning")
    )


def _print_alert(ctx: DemoContext, alert: dict[str, Any]) -> None:
    evidence = dict(alert["evidence"] or {})
    events = evidence.pop("events", [])
    evidence.pop("last", None)
    shown = ", ".join(f"{k}={_short(v)}" for k, v in evidence.items())
    actions = ", ".join(a.get("action", "?") for a in alert["actions"] or []) or "none"
    ctx.console.print(
        f"alert 预警 {alert['id']} [{alert['severity']}] {alert['type']}/{alert['rule']} "
        f"person {alert['person_id'][:12]}… at {alert['occurred_at']:%Y-%m-%d %H:%M}, "
        f"{alert['repeat_count']} repeats; evidence: {shown}; events {len(events)}; "
        f"actions: {actions}",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )


def _short(value: Any) -> str:
    if isinstance(value, list):
        head = ", ".join(_short(v) for v in value[:3])
        return f"[{head}{', …' if len(value) > 3 else ''}] ({len(value)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in list(value.items())[:4]) + "}"
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text[:14] + "…" if len(text) > 16 else text
