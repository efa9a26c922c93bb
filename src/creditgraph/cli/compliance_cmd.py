"""``creditgraph compliance``: the compliance pack checked against the configuration in force,
and fairness monitoring over the decisions made.

``check`` exits 1 when any requirement FAILs (a value in force breaches the pack, or a group is
below the four-fifths line), 2 on bad input, 0 otherwise (MISSING, CITED and NOT ASSESSED rows
are reported, not fatal). ``fairness`` assesses a month's decisions and, with ``--raise-alerts``, stores one
``fairness_disparity`` alert per (attribute, group, month).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from creditgraph.settings import get_settings

compliance_app = typer.Typer(
    help="Compliance pack check (zh/en) and fairness monitoring.", no_args_is_help=True
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@compliance_app.command("check")
def compliance_check_cmd(
    pack: str = typer.Option("cn", "--pack", help="Packaged compliance pack (jurisdiction)."),
    pack_file: Path | None = typer.Option(
        None, "--pack-file", help="A pack TOML file instead of a packaged one."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Decision config TOML to check; default the one in force."
    ),
    fairness: bool = typer.Option(
        False,
        "--fairness",
        "--database",
        help="Read the database: champions' impact assessments, encryption and erasure facts, "
        "fairness.",
    ),
    period: str | None = typer.Option(
        None, "--period", help="Month of decisions for fairness, YYYY-MM; default this month."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Every requirement: the rule, the pack's value, the value in force, the code that
    enforces it and the test that shows it (both verified to exist), and a status: PASS or FAIL
    where a value in force was compared with the pack, MISSING, CITED (citations only) or NOT
    ASSESSED."""
    from creditgraph.compliance.check import report_json
    from creditgraph.compliance.fairness_store import FairnessInputError, period_bounds
    from creditgraph.compliance.pack import PackError
    from creditgraph.compliance.render import render_text
    from creditgraph.compliance.service import compliance_check
    from creditgraph.decision.errors import PolicyError
    from creditgraph.store.db import migrated_engine

    try:
        if period is not None:
            period_bounds(period)
        url = get_settings().database_url
        if fairness:
            with migrated_engine(url) as engine:
                report = compliance_check(
                    pack_name=pack,
                    pack_path=pack_file,
                    config_path=config,
                    engine=engine,
                    period=period,
                    database_url=url,
                )
        else:
            report = compliance_check(
                pack_name=pack, pack_path=pack_file, config_path=config, database_url=url
            )
    except (PackError, PolicyError, FairnessInputError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _echo_json(report_json(report))
    else:
        typer.echo(render_text(report))
    if report.failed:
        raise typer.Exit(1)


@compliance_app.command("fairness")
def compliance_fairness_cmd(
    pack: str = typer.Option("cn", "--pack", help="Packaged compliance pack (thresholds)."),
    pack_file: Path | None = typer.Option(None, "--pack-file", help="A pack TOML file."),
    period: str | None = typer.Option(
        None, "--period", help="Month of decisions, YYYY-MM; default this month."
    ),
    raise_alerts: bool = typer.Option(
        False, "--raise-alerts", help="Store a fairness_disparity alert per group below 4/5."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the assessment as JSON."),
) -> None:
    """Approval-rate ratios (four-fifths rule) and equal opportunity by gender, age band, region
    tier and segment over a month's decisions."""
    from creditgraph.compliance.check import fairness_json
    from creditgraph.compliance.fairness_store import (
        FairnessInputError,
        current_period,
        monitor_fairness,
    )
    from creditgraph.compliance.pack import PackError
    from creditgraph.compliance.pack_files import load_pack
    from creditgraph.compliance.render import render_fairness
    from creditgraph.store.db import migrated_engine

    try:
        rules = load_pack(pack, pack_file).fairness
        with migrated_engine(get_settings().database_url) as engine:
            chosen = period or current_period()
            report, raised = monitor_fairness(
                engine, rules, period=chosen, raise_alert=raise_alerts
            )
    except (PackError, FairnessInputError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        alerts = [{"alert_id": a.alert_id, "dedup_key": a.dedup_key, "new": a.new} for a in raised]
        _echo_json({"period": chosen, **fairness_json(report), "alerts": alerts})
        return
    typer.echo("\n".join(render_fairness(report, chosen)))
    if raise_alerts:
        new = sum(1 for a in raised if a.new)
        typer.echo(
            f"预警 alerts: {new} 新建 new, {len(raised) - new} 已存在并累计 folded into open ones"
        )
    elif report.failing:
        typer.echo(
            f"{len(report.failing)} 个群体低于五分之四 group(s) below four fifths; "
            "add --raise-alerts to raise them"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(compliance_app, name="compliance")
