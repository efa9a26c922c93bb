"""Demo stage 1: simulate the synthetic population every later stage lives in."""

from __future__ import annotations

from rich.table import Table

from creditgraph.console.progress import RowProgress
from creditgraph.demo.context import DemoContext


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
