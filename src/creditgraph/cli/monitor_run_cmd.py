"""``creditgraph monitor run``: the real-time monitor, consuming the event bus.

Adds ``run`` to the ``monitor`` group (``cli.monitor_cmd``). Thin: ``monitoring.runner`` rebuilds
the monitor's state from the events its group already applied, then consumes; alerts commit with
the consumer's progress. Stops on Ctrl-C or SIGTERM after the batch in hand, or, with
``--until-idle``, when the bus has nothing more. Several processes split the partitions with
``--consumers N --index I`` (each its own ``--name``).
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.cli.monitor_cmd import monitor_app
from creditgraph.console.display import print_table
from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Nothing to add to the root: ``run`` joins the ``monitor`` group when this module loads."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


@monitor_app.command("run")
def run_cmd(
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Stop when the bus has no more events (batch jobs, tests)."
    ),
    group: str = typer.Option("monitor", "--group", help="Consumer group: its own progress."),
    name: str = typer.Option("monitor-1", "--name", help="This consumer's name in the group."),
    consumers: int = typer.Option(1, "--consumers", help="Processes splitting the partitions."),
    index: int = typer.Option(0, "--index", help="This process's share, 0..consumers-1."),
    batch: int = typer.Option(500, "--batch", help="Events per transaction."),
    config: Path | None = typer.Option(
        None, "--config", help="Detector thresholds (TOML); default the setting or the package's."
    ),
    actions: Path | None = typer.Option(
        None, "--actions", help="Action policy (TOML); default the setting or the package's."
    ),
) -> None:
    """Consume monitoring events: state, graph and detectors, alerts and their actions."""
    from creditgraph.monitoring.action_policy import ActionPolicyError
    from creditgraph.monitoring.action_policy_file import load_action_policy
    from creditgraph.monitoring.bus import split_partitions
    from creditgraph.monitoring.bus_factory import BusConfigError, bus_for
    from creditgraph.monitoring.config import MonitoringConfigError
    from creditgraph.monitoring.config_file import load_monitoring_config
    from creditgraph.monitoring.runner import MonitorService
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    if batch < 1:
        raise _fail("--batch must be at least 1")
    try:
        partitions = split_partitions(consumers, index)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        monitoring = load_monitoring_config(config or settings.monitoring_config)
        policy = load_action_policy(actions or settings.monitoring_actions_file)
    except (MonitoringConfigError, ActionPolicyError) as exc:
        raise _fail(str(exc)) from None
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with migrated_engine(settings.database_url) as engine:
            try:
                bus = bus_for(settings, engine, partitions)
            except BusConfigError as exc:
                raise _fail(str(exc)) from None
            service = MonitorService(
                engine, bus, config=monitoring, policy=policy, group=group, name=name, batch=batch
            )
            with err.status("monitor: rebuilding state from the applied events") as status:
                replayed = service.start()
                status.update(f"monitor: {replayed:,} events replayed; consuming")

                def stopped() -> bool:
                    loop = service.summary.loop
                    status.update(
                        f"monitor: {loop.applied:,} events applied, "
                        f"{service.summary.alerts:,} alerts raised"
                    )
                    return stopping

                try:
                    summary = service.run(until_idle=until_idle, stop=stopped)
                except KeyboardInterrupt:
                    summary = service.summary
    finally:
        signal.signal(signal.SIGTERM, previous)
    table = Table(title=f"monitor run: group {group}")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("replayed at start", f"{summary.replayed:,}")
    table.add_row("events applied", f"{summary.loop.applied:,}")
    table.add_row("duplicates skipped", f"{summary.loop.duplicates:,}")
    table.add_row("dead letters", f"{summary.loop.dead:,}")
    table.add_row("findings", f"{summary.findings:,}")
    table.add_row("new alerts", f"{summary.alerts:,}")
    for kind, count in sorted(summary.by_type.items()):
        table.add_row(f"  findings: {kind}", f"{count:,}")
    print_table(console, table)


@monitor_app.command("evaluate")
def evaluate_cmd(
    folder: Path = typer.Argument(
        ..., help="A folder written by 'creditgraph simulate --events' (its _events and _truth)."
    ),
    k: int | None = typer.Option(
        None, "--k", help="K of precision and recall at K (default: the number of positives)."
    ),
    config: Path | None = typer.Option(None, "--config", help="Detector thresholds (TOML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    markdown_out: bool = typer.Option(False, "--markdown", help="Print a Markdown table."),
) -> None:
    """Score every detector on a simulated stream: precision and recall at K, lead time, rings
    found, beside no monitoring."""
    import orjson

    from creditgraph.monitoring.config import MonitoringConfigError
    from creditgraph.monitoring.config_file import load_monitoring_config
    from creditgraph.monitoring.evaluate import EvaluationError, evaluate, markdown

    try:
        monitoring = load_monitoring_config(config or get_settings().monitoring_config)
        with err.status("replaying the stream through the monitor"):
            result = evaluate(folder, monitoring, k)
    except (MonitoringConfigError, EvaluationError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        console.print_json(orjson.dumps(result.as_dict()).decode())
        return
    if markdown_out:
        typer.echo(markdown(result))
        return
    table = Table(
        title=f"detectors on {result.events:,} events, {result.people:,} people, "
        f"{result.distressed:,} distressed, {result.window[0][:10]} to {result.window[1][:10]}"
    )
    for column in ("detector", "alerted", "positives", "K", "P@K", "R@K", "no monitoring P"):
        table.add_column(column, justify="left" if column == "detector" else "right")
    table.add_column("median lead (days)", justify="right")
    for s in result.scores:
        name = s.type
        if s.extra:
            name += f" ({s.extra['rings_found']}/{s.extra['rings_planted']} rings)"
        table.add_row(
            name,
            f"{s.alerted:,}",
            f"{s.positives:,}",
            f"{s.k:,}",
            f"{s.precision_at_k:.3f}",
            f"{s.recall_at_k:.3f}",
            f"{s.baseline_precision:.3f}",
            "—" if s.median_lead_days is None else f"{s.median_lead_days:.1f} (vs 0)",
        )
    print_table(console, table)
