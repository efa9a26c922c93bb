"""Demo stage 2: ingest the simulated files through the consent gate into the lake.

A fresh demo home's pseudonym key follows from the seed (``demo_key``), so the same seed gives
the same pseudonyms, and so the same world downstream, in any home.
"""

from __future__ import annotations

import hashlib

from creditgraph.console.batches import batch_table
from creditgraph.console.progress import RowProgress
from creditgraph.demo.context import DemoContext


def demo_key(seed: int) -> bytes:
    """The pseudonym key a fresh demo home gets: a function of the seed, not a secret."""
    return hashlib.sha256(f"creditgraph demo pseudonym key/{seed}".encode()).digest()


def ingest_stage(ctx: DemoContext) -> None:
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
