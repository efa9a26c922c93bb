"""Demo stage 5: decide a stream of simulated applications and show what borrowers would get.

Needs the features stage (the online table) and the scoring stage (a promoted champion). Each
applicant asks for a product of their segment, with an amount, term and method the product
offers; the stage prints outcome rates, limit and all-in rate distributions by segment, and one
approved, one referred and one declined decision with its reasons in Chinese and English.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from rich.table import Table
from sqlalchemy import Engine, select

from creditgraph.console.decisions import print_decision

if TYPE_CHECKING:
    from creditgraph.decision.products import Catalogue, Product
    from creditgraph.demo.context import DemoContext

APPLICATIONS = 1_000
OUTCOMES = ("approve", "refer", "decline")


def applicants(db: Engine, count: int, seed: int) -> list[tuple[str, str, int]]:
    """(pseudonym, segment, monthly income in fen) of ``count`` people drawn at random."""
    from creditgraph.store.models import OnlineFeatures

    with db.connect() as conn:
        rows = conn.execute(
            select(OnlineFeatures.person_id, OnlineFeatures.values).order_by(
                OnlineFeatures.person_id
            )
        ).all()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    out = []
    for i in sorted(int(p) for p in picks):
        person, values = rows[i]
        income = values.get("income_monthly_fen") or 0
        out.append((str(person), str(values.get("segment") or "other"), int(income)))
    return out


def decision_time(end_date: date, timezone: str) -> datetime:
    """When the demo's applications are decided: the first instant after the world ends.

    Midnight of the day after ``end_date`` in the business time zone, as the database's naive
    UTC. The servicing stage disburses on that day.
    """
    local = datetime.combine(end_date + timedelta(days=1), clock_time(), ZoneInfo(timezone))
    return local.astimezone(UTC).replace(tzinfo=None)


def _amount(product: Product, income_fen: int, rng: np.random.Generator) -> Decimal:
    """A plausible request: between the product's minimum and about six months of income."""
    low = int(product.amount.min)
    high = max(low, min(int(product.amount.max), income_fen * 6 // 100))
    value = int(rng.integers(low, high + 1))
    return Decimal(max(low, min(high, value // 100 * 100)))


def applications(
    people: list[tuple[str, str, int]], catalogue: Catalogue, seed: int
) -> list[dict[str, Any]]:
    """One application per person for a product suited to the segment, inside its terms."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for person, segment, income in people:
        suited = [p for p in catalogue.products if segment in p.segments]
        if not suited:
            continue
        product = suited[int(rng.integers(len(suited)))]
        rows.append(
            {
                "person": person,
                "product": product.code,
                "amount": str(_amount(product, income, rng)),
                "term": int(rng.choice(product.terms)),
                "purpose": str(rng.choice(product.purposes)),
                "schedule_type": str(rng.choice([m.value for m in product.schedule_types])),
                "applicant_ref": "demo",
            }
        )
    return rows


def _quantiles(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    p10, p50, p90 = np.quantile(np.asarray(values, dtype=np.float64), [0.1, 0.5, 0.9])
    return f"{fmt.format(p10)} / {fmt.format(p50)} / {fmt.format(p90)}"


def summary_table(decisions: list[dict[str, Any]], segments: dict[str, str]) -> Table:
    """Outcome rates, limit and all-in rate (p10 / median / p90) by segment."""
    table = Table(title=f"{len(decisions):,} decisions by segment 按客群的审批结果")
    for column in ("segment 客群", "n", "approve 批准", "refer 转人工", "decline 拒绝"):
        table.add_column(column, justify="right" if column != "segment 客群" else "left")
    table.add_column("limit p10/p50/p90 额度", justify="right")
    table.add_column("all-in APR p10/p50/p90 综合年化", justify="right")
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in decisions:
        groups.setdefault(segments.get(record["person_id"], "other"), []).append(record)
    for name, group in [*sorted(groups.items()), ("all 全部", decisions)]:
        n = len(group)
        share = [sum(r["outcome"] == o for r in group) / max(n, 1) for o in OUTCOMES]
        limits = [float(r["limit"]) for r in group if r["outcome"] != "decline"]
        rates = [float(r["offers"][0]["all_in_rate"]) for r in group if r["offers"]]
        table.add_row(
            name,
            f"{n:,}",
            *(f"{s:.0%}" for s in share),
            _quantiles(limits, "{:,.0f}"),
            _quantiles(rates, "{:.1%}"),
        )
    return table


def decisions_stage(ctx: DemoContext) -> None:
    """Decide ``APPLICATIONS`` simulated applications through the decision service."""
    from creditgraph.decision.service import DecisionService
    from creditgraph.store.db import migrated_engine

    ctx.console.rule("5. Decisions: policy, limit, price, offer 授信决策")
    with migrated_engine(ctx.settings.database_url) as db:
        # Decided at the world's end, not at the wall clock: consent validity and each offer's
        # schedule dates depend on the decision time, so "now" would change them from day to day.
        at = decision_time(ctx.results["simulation_config"].end_date, ctx.settings.timezone)
        service = DecisionService(db, ctx.settings, clock=lambda: at)
        people = applicants(db, APPLICATIONS, ctx.seed)
        rows = applications(people, service.products, ctx.seed)
        started = time.perf_counter()
        with ctx.console.status(f"deciding {len(rows):,} applications…"):
            result = service.decide_batch(rows, name="demo applications")
        seconds = time.perf_counter() - started
        queue = len(service.review_queue("open"))
    segments = {person: segment for person, segment, _ in people}
    decided = result.decisions
    ctx.results["decisions"] = result
    ctx.console.print(
        f"{len(decided):,} applications decided in {seconds:.1f} s "
        f"({1000 * seconds / max(len(decided), 1):.1f} ms each, stored with their reasons); "
        f"{len(result.errors)} refused as malformed; {queue} open in the review queue 人工复核队列",
        highlight=False,
    )
    ctx.console.print(summary_table(decided, segments))
    rules: dict[str, int] = {}
    for record in decided:
        for rule in record["fired_rules"]:
            if rule["outcome"] == "decline":
                rules[rule["id"]] = rules.get(rule["id"], 0) + 1
    if rules:
        top = sorted(rules.items(), key=lambda kv: -kv[1])
        ctx.console.print(
            "decline rules fired 拒绝规则: " + ", ".join(f"{k} {v:,}" for k, v in top),
            highlight=False,
        )
    for outcome in OUTCOMES:
        example = next((r for r in decided if r["outcome"] == outcome), None)
        if example is not None:
            ctx.console.print(f"[bold]example 示例 ({outcome}):[/]")
            print_decision(ctx.console, example)
