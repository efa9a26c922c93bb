"""The end-to-end demo: each stage of the money flow runs in turn on one synthetic world.

What belongs here: the demo's stages, one module each in the order the demo prints them
(world, ingest, features, scoring, decisions, servicing, monitoring, audit, privacy,
workspace), and what they share
(``context``).
A stage is a function ``run(ctx)`` listed in ``STAGES``; later parts of the platform
(monitoring, audit) add theirs without touching the others. The demo is an interface like
the CLI: it calls the services and prints through ``creditgraph.console``, never through the
CLI's command modules.
"""

from __future__ import annotations

import time

from rich.console import Console

from creditgraph.demo.audit import audit_stage
from creditgraph.demo.context import DemoContext, Stage
from creditgraph.demo.decisions import decisions_stage
from creditgraph.demo.features import features_stage
from creditgraph.demo.ingest import ingest_stage
from creditgraph.demo.monitoring import monitoring_stage
from creditgraph.demo.privacy import privacy_stage
from creditgraph.demo.scoring import scoring_stage
from creditgraph.demo.servicing import servicing_stage
from creditgraph.demo.workspace import workspace_stage
from creditgraph.demo.world import simulate_stage
from creditgraph.settings import Settings

STAGES: list[tuple[str, Stage]] = [
    ("simulate", simulate_stage),
    ("ingest", ingest_stage),
    ("features", features_stage),
    ("scoring", scoring_stage),
    ("decisions", decisions_stage),
    ("servicing", servicing_stage),
    ("monitoring", monitoring_stage),
    ("audit", audit_stage),
    ("privacy", privacy_stage),
    ("workspace", workspace_stage),
]


def run_demo(settings: Settings, people: int, seed: int, console: Console) -> DemoContext:
    ctx = DemoContext(settings=settings, people=people, seed=seed, console=console)
    started = time.perf_counter()
    for name, stage in STAGES:
        stage_started = time.perf_counter()
        stage(ctx)
        ctx.results.setdefault("stage_seconds", {})[name] = time.perf_counter() - stage_started
        console.print(f"[dim]{name}: {time.perf_counter() - stage_started:.1f} s[/dim]")
    console.rule(f"demo finished in {time.perf_counter() - started:.1f} s 演示完成")
    return ctx
