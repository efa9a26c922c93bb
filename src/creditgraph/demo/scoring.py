"""Demo stage 4: train the model families, promote the champions and score everyone."""

from __future__ import annotations

from typing import Any

from creditgraph.console.training import no_social_table, training_table
from creditgraph.demo.context import DemoContext


def held_out_auc(metrics: dict[str, Any]) -> float:
    """The AUC a champion is chosen by: out of time if there is one, else the test sample."""
    for sample in ("out_of_time", "test"):
        if metrics.get(sample, {}).get("auc") is not None:
            return float(metrics[sample]["auc"])
    return 0.0


def scoring_stage(ctx: DemoContext) -> None:
    from creditgraph.compliance.pack_files import load_pack
    from creditgraph.scoring import registry
    from creditgraph.scoring.service import score_all, train_models
    from creditgraph.store.db import migrated_engine

    as_of = ctx.results["simulation_config"].end_date
    ctx.console.rule("4. Scoring models 信用评分模型")
    with ctx.console.status("training…") as status:
        trained = train_models(
            ctx.settings,
            as_of,
            actor="demo-analyst",
            progress=lambda m: status.update(m),
            impact_assessments=load_pack().impact_assessments,
        )
    ctx.results["training"] = trained
    ctx.console.print(
        "samples 样本: " + ", ".join(f"{name} {rows:,}" for name, rows in trained.rows.items())
    )
    ctx.console.print(training_table(trained.metrics, {f: f for f in trained.records}))
    for family, record in trained.records.items():
        ctx.console.print(f"{family}: registered as {record.id}", soft_wrap=True)

    ctx.console.print(no_social_table(trained.no_social_metrics, {f: f for f in trained.no_social}))

    best = max(trained.records, key=lambda f: held_out_auc(trained.metrics[f]))
    best_private = max(trained.no_social, key=lambda f: held_out_auc(trained.no_social_metrics[f]))
    with migrated_engine(ctx.settings.database_url) as db:
        champion = registry.promote(
            db, trained.records[best].id, "demo-risk-head", note="best held-out AUC"
        )
        private = registry.promote(
            db, trained.no_social[best_private].id, "demo-risk-head", note="best held-out AUC"
        )
    ctx.console.print(f"champion 冠军模型: {champion.id} (the better held-out AUC)")
    ctx.console.print(
        f"champion without social data 无社交数据冠军模型: {private.id}", soft_wrap=True
    )
    features = ctx.results["features"].build.features
    with ctx.console.status("scoring everyone…"):
        scored = score_all(ctx.settings, as_of, features=features)
    ctx.results["scores"] = scored
    mix = ", ".join(
        f"{g} {n:,} ({100 * n / max(scored.rows, 1):.0f}%)" for g, n in scored.grades.items()
    )
    ctx.console.print(f"{scored.rows:,} people scored 已评分; grades 等级: {mix}")
    ctx.console.print(f"validation report 验证报告: {trained.reports[best]}", soft_wrap=True)
