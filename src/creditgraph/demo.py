"""The end-to-end demo: each stage of the money flow runs in turn on one synthetic world.

A stage is a function ``run(ctx)`` listed in ``STAGES``; later parts of the platform (features,
scoring, decisions, servicing, monitoring, audit) add theirs without touching the others.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from creditgraph.console.progress import RowProgress
from creditgraph.demo_decisions import decisions_stage
from creditgraph.demo_servicing import servicing_stage
from creditgraph.settings import Settings


@dataclass
class DemoContext:
    settings: Settings
    people: int
    seed: int
    console: Console
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def input_dir(self) -> Path:
        return self.settings.home_dir / "demo-input" / f"people-{self.people}-seed-{self.seed}"


Stage = Callable[[DemoContext], None]


def simulate_stage(ctx: DemoContext) -> None:
    from creditgraph.simulate import SimulationConfig, simulate

    ctx.console.rule("1. Simulate a population 模拟人群")
    config = SimulationConfig(people=ctx.people, seed=ctx.seed)
    with RowProgress(ctx.console) as progress:
        result = simulate(config, ctx.input_dir, progress=progress.update)
    ctx.results["simulation"] = result
    ctx.results["simulation_config"] = config
    table = Table(title=f"synthetic world in {result.out_dir} ({result.seconds:.1f} s)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    ctx.console.print(table)


def demo_key(seed: int) -> bytes:
    """The pseudonym key a fresh demo home gets: a function of the seed, not a secret."""
    return hashlib.sha256(f"creditgraph demo pseudonym key/{seed}".encode()).digest()


def ingest_stage(ctx: DemoContext) -> None:
    from creditgraph.console.batches import batch_table
    from creditgraph.ingest.service import ingest
    from creditgraph.privacy.pseudonym import load_or_create_key

    ctx.console.rule("2. Ingest with the consent gate 采集与授权校验")
    # Pseudonyms order the people everywhere downstream: label folds (a hash of the pseudonym),
    # community detection, the training split and the applicants drawn. A random key per home
    # would make each home a different world, so a fresh demo home's key follows from the seed.
    # A home that already has a key keeps it; a demo home is for synthetic data only.
    if not ctx.settings.key_file.exists():
        load_or_create_key(ctx.settings.key_file, new_key=demo_key(ctx.seed))
        ctx.console.print(
            f"pseudonym key 假名密钥: {ctx.settings.key_file}, derived from the seed "
            "(a demo home: not for real data)",
            soft_wrap=True,
        )
    files = sorted(ctx.results["simulation"].files.values())
    with RowProgress(ctx.console) as progress:
        report = ingest(files, ctx.settings, batch_name="demo", progress=progress.update)
    ctx.results["ingest"] = report
    ctx.console.print(batch_table(report))
    reasons = report.reasons()
    if reasons:
        ctx.console.print(
            "quarantined by rule 按规则隔离: "
            + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common())
        )
    lake_bytes = sum(p.stat().st_size for p in ctx.settings.lake_dir.rglob("*.parquet"))
    ctx.console.print(
        f"lake 数据湖: {ctx.settings.lake_dir} ({lake_bytes / 1e6:.1f} MB, pseudonymised)  "
        f"database 数据库: {ctx.settings.database_url.split('://', 1)[0]}  "
        f"quarantine 隔离区: {ctx.settings.quarantine_dir / report.batch_id}"
    )


def features_stage(ctx: DemoContext) -> None:
    from creditgraph.features.catalogue import all_features
    from creditgraph.features.service import build_and_store

    as_of = ctx.results["simulation_config"].end_date
    ctx.console.rule(f"3. Credit graph and features as of {as_of} 信用图谱与特征")
    with ctx.console.status("building the credit graph and features…"):
        result = build_and_store(ctx.settings, as_of)
    ctx.results["features"] = result
    build = result.build
    ctx.console.print(
        f"{build.features.num_rows:,} people x {len(all_features())} features; graph of "
        f"{build.graph_nodes:,} nodes and {build.edges.num_rows:,} weighted edges; "
        f"built in {result.seconds:.1f} s; snapshot {result.snapshot.id if result.snapshot else '-'}"
    )
    table = Table(title="feature table (selected columns) 特征表")
    for name in ("feature", "family", "mean", "p50", "p90", "non-zero"):
        table.add_column(name, justify="left" if name in ("feature", "family") else "right")
    families = {f.name: f.family for f in all_features()}
    shown = (
        "degree",
        "partners_90d",
        "reciprocity_90d",
        "tie_strength_mean",
        "mutual_friends_mean",
        "clustering",
        "reach_2hop",
        "pagerank",
        "default_exposure_ratio",
        "defaulted_contacts",
        "community_default_rate",
        "device_sharers",
        "ext_open_loans",
        "active_days_90d",
    )
    for name in shown:
        values = build.features[name].to_numpy(zero_copy_only=False).astype(float)
        table.add_row(
            name,
            families[name],
            f"{values.mean():.3g}",
            f"{np.quantile(values, 0.5):.3g}",
            f"{np.quantile(values, 0.9):.3g}",
            f"{(values != 0).mean():.0%}",
        )
    ctx.console.print(table)
    ctx.console.print(
        f"online table 在线特征: {result.online_rows:,} people — try "
        "`creditgraph features get <person_id>`"
    )


def scoring_stage(ctx: DemoContext) -> None:
    from creditgraph.console.training import no_social_table, training_table
    from creditgraph.scoring import registry
    from creditgraph.scoring.service import score_all, train_models
    from creditgraph.store.db import migrated_engine

    as_of = ctx.results["simulation_config"].end_date
    ctx.console.rule("4. Scoring models 信用评分模型")
    with ctx.console.status("training…") as status:
        trained = train_models(
            ctx.settings, as_of, actor="demo-analyst", progress=lambda m: status.update(m)
        )
    ctx.results["training"] = trained
    ctx.console.print(
        "samples 样本: " + ", ".join(f"{name} {rows:,}" for name, rows in trained.rows.items())
    )
    ctx.console.print(training_table(trained.metrics, {f: f for f in trained.records}))
    for family, record in trained.records.items():
        ctx.console.print(f"{family}: registered as {record.id}", soft_wrap=True)

    ctx.console.print(no_social_table(trained.no_social_metrics, {f: f for f in trained.no_social}))

    def held_out_auc(metrics: dict[str, Any]) -> float:
        for sample in ("out_of_time", "test"):
            if metrics.get(sample, {}).get("auc") is not None:
                return float(metrics[sample]["auc"])
        return 0.0

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


STAGES: list[tuple[str, Stage]] = [
    ("simulate", simulate_stage),
    ("ingest", ingest_stage),
    ("features", features_stage),
    ("scoring", scoring_stage),
    ("decisions", decisions_stage),
    ("servicing", servicing_stage),
]


def run_demo(settings: Settings, people: int, seed: int, console: Console) -> DemoContext:
    ctx = DemoContext(settings=settings, people=people, seed=seed, console=console)
    started = time.perf_counter()
    for _name, stage in STAGES:
        stage(ctx)
    console.rule(f"demo finished in {time.perf_counter() - started:.1f} s 演示完成")
    return ctx
