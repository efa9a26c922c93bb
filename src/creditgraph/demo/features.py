"""Demo stage 3: build the credit graph and the features as of the world's end, and show a few."""

from __future__ import annotations

import numpy as np
from rich.table import Table

from creditgraph.demo.context import DemoContext

SHOWN = (
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
"""The feature table's rows: a few features of each family, not all of them."""


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
    for name in SHOWN:
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
