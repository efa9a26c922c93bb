"""``creditgraph monitor ...``: risk monitoring's alerts from the command line.

``alerts`` lists them (a table, or a JSON array with ``--json``), ``acknowledge`` and ``resolve``
move one through its lifecycle with who and a note, ``lift`` lifts a person's limit controls.
Thin: the work is ``monitoring.alerts``; a problem is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

T = TypeVar("T")

console = Console()
err = Console(stderr=True)
monitor_app = typer.Typer(
    help="Risk monitoring: alerts from the event stream, their lifecycle and limit controls.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")


@monitor_app.callback()
def _monitor() -> None:
    """Risk monitoring: alerts, their lifecycle and limit controls."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _run(action: Callable[[Any], T]) -> T:
    """``action(engine)`` on the migrated database; an alert error becomes one line, exit 2."""
    from creditgraph.monitoring.alerts import AlertError
    from creditgraph.store.db import migrated_engine

    try:
        with migrated_engine(get_settings().database_url) as engine:
            return action(engine)
    except AlertError as exc:
        raise _fail(str(exc)) from None


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@monitor_app.command("alerts")
def alerts_cmd(
    status: str | None = typer.Option(None, "--status", help="open, acknowledged or resolved."),
    type_: str | None = typer.Option(
        None,
        "--type",
        help="contagion, activity_collapse, fraud_ring, multi_lending or repayment_stress.",
    ),
    person: str | None = typer.Option(
        None, "--person", help="Only the alerts of this person (a pseudonym)."
    ),
    limit: int = typer.Option(100, "--limit", help="At most this many, newest first (1-1000)."),
    cursor: str | None = typer.Option(None, "--cursor", help="The next page after this id."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of the alerts."),
) -> None:
    """List alerts newest first, each with its type (the detector that raised it)."""
    from creditgraph.monitoring.alerts import list_alerts

    page = _run(
        lambda engine: list_alerts(
            engine, status=status, type=type_, person_id=person, limit=limit, cursor=cursor
        )
    )
    if as_json:
        _echo_json(page.alerts)
        return
    table = Table(title="alerts 风险预警", caption=_caption(len(page.alerts), page.next_cursor))
    table.add_column("id", no_wrap=True)
    table.add_column("type", no_wrap=True)
    for name in ("rule", "severity", "person", "status", "occurred"):
        table.add_column(name)
    table.add_column("repeats", justify="right")
    table.add_column("actions")
    for alert in page.alerts:
        table.add_row(
            alert["id"],
            alert["type"],
            alert["rule"],
            alert["severity"],
            alert["person_id"],
            alert["status"],
            alert["occurred_at"],
            str(alert["repeat_count"]),
            ", ".join(f"{a['action']}:{a['outcome']}" for a in alert["actions"]) or "-",
        )
    console.print(table)


def _caption(shown: int, next_cursor: str | None) -> str:
    more = f"; more with --cursor {next_cursor}" if next_cursor else ""
    return f"{shown} alert(s){more}"


def _print_alert(alert: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo_json(alert)
        return
    who = alert["resolved_by"] if alert["status"] == "resolved" else alert["acknowledged_by"]
    console.print(
        f"alert {alert['id']} ({alert['type']}, {alert['severity']}) is {alert['status']}, "
        f"by {who}",
        highlight=False,
    )


@monitor_app.command("acknowledge")
def acknowledge_cmd(
    alert_id: str = typer.Argument(..., help="The id of the alert."),
    by: str = typer.Option(..., "--by", help="Who acknowledges it."),
    note: str | None = typer.Option(None, "--note", help="What is being done."),
    as_json: bool = typer.Option(False, "--json", help="Print the alert as JSON."),
) -> None:
    """Acknowledge an open alert: someone is looking at it."""
    from creditgraph.monitoring.alerts import acknowledge

    _print_alert(_run(lambda engine: acknowledge(engine, alert_id, by=by, note=note)), as_json)


@monitor_app.command("resolve")
def resolve_cmd(
    alert_id: str = typer.Argument(..., help="The id of the alert."),
    by: str = typer.Option(..., "--by", help="Who resolves it."),
    note: str = typer.Option(..., "--note", help="How it was resolved (required)."),
    as_json: bool = typer.Option(False, "--json", help="Print the alert as JSON."),
) -> None:
    """Resolve an open or acknowledged alert; the next finding with its key opens a new one."""
    from creditgraph.monitoring.alerts import resolve

    _print_alert(_run(lambda engine: resolve(engine, alert_id, by=by, note=note)), as_json)


@monitor_app.command("lift")
def lift_cmd(
    person: str = typer.Argument(..., help="The person (a pseudonym)."),
    by: str = typer.Option(..., "--by", help="Who lifts the controls."),
    note: str = typer.Option(..., "--note", help="Why (required)."),
    as_json: bool = typer.Option(False, "--json", help="Print the lifted controls as JSON."),
) -> None:
    """Lift every active limit control (freeze or lower limit) of a person."""
    from creditgraph.monitoring.alerts import lift_control

    lifted = _run(lambda engine: lift_control(engine, person, by=by, note=note))
    if as_json:
        _echo_json(lifted)
        return
    kinds = ", ".join(f"{c['kind']} (alert {c['alert_id']})" for c in lifted)
    console.print(f"lifted {len(lifted)} control(s): {kinds}", highlight=False)
