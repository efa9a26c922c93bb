"""The alert store: dedup and suppression in event time, the per-batch fold, the lifecycle with
its refused steps, listing with filters and a cursor, the action policy file, and the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Connection, Engine, func, select
from typer.testing import CliRunner

from creditgraph.cli import monitor_cmd
from creditgraph.monitoring.action_policy import (
    Action,
    ActionPolicy,
    ActionPolicyError,
    parse_action_policy,
)
from creditgraph.monitoring.action_policy_file import load_action_policy
from creditgraph.monitoring.alerts import (
    ALERTS,
    AlertError,
    AlertNotFoundError,
    AlertStateError,
    acknowledge,
    get_alert,
    list_alerts,
    record_findings,
    resolve,
)
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.settings import get_settings
from creditgraph.store.db import make_engine, upgrade, write_transaction
from creditgraph.store.models import Alert, AlertAction, AuditRecord, WorkspaceAction, table_of
from creditgraph.web import actions as workspace_actions

T0 = datetime(2026, 7, 1, 9)
NOW = datetime(2026, 7, 2, 12)
QUIET = parse_action_policy({"version": "quiet", "suppression_hours": 24})


def finding(
    person: str = "p1",
    at: datetime = T0,
    severity: Severity = Severity.MEDIUM,
    detector: Detector = Detector.MULTI_LENDING,
    event: str = "ev1",
) -> Finding:
    return Finding(
        type=detector,
        rule="loans_30d",
        severity=severity,
        person_id=person,
        occurred_at=at,
        dedup_key=f"{detector.value}:loans_30d:{person}",
        evidence={"events": [event], "after": {"loans_30d": 3}},
    )


def record(
    engine: Engine, *findings: Finding, policy: ActionPolicy = QUIET, **kw: object
) -> list[str]:
    with write_transaction(engine) as conn:
        recorded = record_findings(conn, findings, now=NOW, policy=policy, **kw)  # type: ignore[arg-type]
    return [r.alert_id for r in recorded]


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


# -- dedup and suppression ---------------------------------------------------------------------


def test_a_repeat_inside_the_window_folds_into_the_alert(engine: Engine) -> None:
    (first,) = record(engine, finding(event="ev1"))
    (again,) = record(engine, finding(at=T0 + timedelta(hours=23), event="ev2"))
    assert again == first
    alert = get_alert(engine, first)
    assert alert["repeat_count"] == 1
    assert alert["evidence"]["events"] == ["ev1", "ev2"]
    assert alert["occurred_at"] == T0.isoformat()  # the first triggering event's time
    assert alert["type"] == "multi_lending" and alert["status"] == "open"
    assert count(engine, Alert) == 1


def test_a_repeat_outside_the_window_opens_a_new_alert(engine: Engine) -> None:
    (first,) = record(engine, finding())
    (later,) = record(engine, finding(at=T0 + timedelta(hours=25), event="ev2"))
    assert later != first
    assert get_alert(engine, first)["repeat_count"] == 0
    # the window is the caller's when given
    (wide,) = record(engine, finding(at=T0 + timedelta(hours=30)), suppression=timedelta(days=3))
    assert wide in (first, later)
    assert count(engine, Alert) == 2


def test_a_resolved_alert_does_not_absorb_repeats(engine: Engine) -> None:
    (first,) = record(engine, finding())
    resolve(engine, first, by="officer-1", note="borrower called, explained")
    (again,) = record(engine, finding(at=T0 + timedelta(hours=1)))
    assert again != first
    assert get_alert(engine, first)["repeat_count"] == 0
    # an acknowledged alert still absorbs
    acknowledge(engine, again, by="officer-1")
    (third,) = record(engine, finding(at=T0 + timedelta(hours=2)))
    assert third == again


def test_one_batch_folds_in_memory_and_raises_the_severity(engine: Engine) -> None:
    ids = record(
        engine,
        finding("p1", event="a"),
        finding("p2", event="b"),
        finding("p1", at=T0 + timedelta(hours=1), severity=Severity.HIGH, event="c"),
        finding("p1", at=T0 + timedelta(hours=2), severity=Severity.LOW, event="d"),
    )
    assert ids[0] == ids[2] == ids[3] != ids[1]
    alert = get_alert(engine, ids[0])
    assert alert["severity"] == "high"
    assert alert["repeat_count"] == 2
    assert alert["evidence"]["events"] == ["a", "c", "d"]
    assert count(engine, Alert) == 2


def test_evidence_events_are_capped_and_the_count_goes_on(engine: Engine) -> None:
    policy = parse_action_policy({"version": "cap", "max_evidence_events": 3})
    many = [finding(at=T0 + timedelta(minutes=k), event=f"e{k}") for k in range(10)]
    ids = set(record(engine, *many, policy=policy))
    (alert_id,) = ids
    alert = get_alert(engine, alert_id)
    assert alert["evidence"]["events"] == ["e0", "e1", "e2"]
    assert alert["repeat_count"] == 9


def test_a_replay_in_event_time_gives_the_same_alerts(tmp_path: Path) -> None:
    stream = [
        finding("p1", T0, event="a"),
        finding("p1", T0 + timedelta(hours=30), event="b"),
        finding("p2", T0 + timedelta(hours=1), event="c"),
        finding("p1", T0 + timedelta(hours=31), event="d"),
    ]
    shapes = []
    for run in ("one", "two"):
        engine = make_engine(f"sqlite:///{tmp_path / run}.db")
        upgrade(engine)
        for part in (stream[:2], stream[2:]):
            record(engine, *part)
        alerts = list_alerts(engine).alerts
        shapes.append(sorted((a["person_id"], a["occurred_at"], a["repeat_count"]) for a in alerts))
        engine.dispose()
    assert shapes[0] == shapes[1]
    assert len(shapes[0]) == 3


def test_ten_thousand_findings_are_recorded_in_well_under_a_second(engine: Engine) -> None:
    findings = [
        finding(f"p{k % 2500}", T0 + timedelta(seconds=k), event=f"e{k}") for k in range(10_000)
    ]
    started = time.perf_counter()
    record(engine, *findings)
    first = time.perf_counter() - started
    later = [
        finding(f"p{k % 2500}", T0 + timedelta(hours=1, seconds=k), event=f"f{k}")
        for k in range(10_000)
    ]
    started = time.perf_counter()
    record(engine, *later)
    second = time.perf_counter() - started
    print(f"10,000 findings: {first:.3f} s (2,500 new alerts), {second:.3f} s (all folded)")
    assert count(engine, Alert) == 2500
    assert first < 2.5 and second < 2.5


# -- lifecycle -----------------------------------------------------------------------------------


def test_the_lifecycle_and_its_audit(engine: Engine) -> None:
    (alert_id,) = record(engine, finding())
    acked = acknowledge(engine, alert_id, by="officer-1", note="calling the borrower")
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == "officer-1"
    assert acked["acknowledged_note"] == "calling the borrower"
    done = resolve(engine, alert_id, by="officer-2", note="income verified")
    assert done["status"] == "resolved" and done["resolved_by"] == "officer-2"
    assert get_alert(engine, alert_id)["resolved_note"] == "income verified"
    with engine.connect() as conn:
        steps = conn.execute(
            select(AlertAction.action, AlertAction.actor, AlertAction.outcome)
            .where(AlertAction.alert_id == alert_id)
            .order_by(AlertAction.id)
        ).all()
    assert [tuple(s) for s in steps] == [
        ("acknowledge", "officer-1", "acknowledged"),
        ("resolve", "officer-2", "resolved"),
    ]


def test_refused_transitions_name_the_state(engine: Engine) -> None:
    first, second = record(engine, finding("p1"), finding("p2"))
    done = resolve(
        engine, first, by="o", note="false alarm: a known wholesaler"
    )  # open -> resolved
    assert done["status"] == "resolved"
    with pytest.raises(AlertStateError, match="is resolved: cannot acknowledge") as exc:
        acknowledge(engine, first, by="o")
    assert "已解决" in str(exc.value)
    with pytest.raises(AlertStateError, match="is resolved: cannot resolve"):
        resolve(engine, first, by="o", note="again")
    acknowledge(engine, second, by="o")
    with pytest.raises(AlertStateError, match="is acknowledged: cannot acknowledge"):
        acknowledge(engine, second, by="o")
    with pytest.raises(AlertError, match="note") as note:
        resolve(engine, second, by="o", note="  ")
    assert note.value.field == "note"
    with pytest.raises(AlertError, match="by must name"):
        acknowledge(engine, second, by="")
    with pytest.raises(AlertNotFoundError, match="no such alert"):
        acknowledge(engine, "al_missing", by="o")
    assert get_alert(engine, second)["status"] == "acknowledged"


def test_listing_filters_and_pages_newest_first(engine: Engine) -> None:
    ids = record(
        engine,
        *[finding(f"p{k}", event=f"e{k}") for k in range(5)],
        finding("p9", detector=Detector.REPAYMENT_STRESS),
    )
    acknowledge(engine, ids[0], by="o")
    everything = list_alerts(engine).alerts
    assert [a["id"] for a in everything] == sorted(ids, reverse=True)
    assert [a["id"] for a in list_alerts(engine, status="acknowledged").alerts] == [ids[0]]
    assert [a["id"] for a in list_alerts(engine, type="repayment_stress").alerts] == [ids[5]]
    assert [a["id"] for a in list_alerts(engine, person_id="p3").alerts] == [ids[3]]
    pages, cursor = [], None
    while True:
        page = list_alerts(engine, limit=4, cursor=cursor)
        pages.append([a["id"] for a in page.alerts])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert [x for p in pages for x in p] == [a["id"] for a in everything]
    with pytest.raises(AlertError, match="status must be one of"):
        list_alerts(engine, status="closed")
    with pytest.raises(AlertError, match="type must be one of"):
        list_alerts(engine, type="spam")
    with pytest.raises(AlertError, match="limit must be between"):
        list_alerts(engine, limit=0)


# -- the action policy ---------------------------------------------------------------------------


def test_the_packaged_policy_loads_and_orders_actions() -> None:
    policy = load_action_policy()
    assert policy.version and len(policy.hash) == 64
    assert [p.action for p in policy.actions_for("fraud_ring", "high")] == [
        Action.FREEZE_UNDRAWN_LIMIT,
        Action.REFER_REVIEW,
    ]
    assert policy.actions_for("multi_lending", "medium") == []
    (lower, _) = policy.actions_for("multi_lending", "high")
    assert lower.action is Action.LOWER_LIMIT and lower.params() == {"factor": "0.5"}


def test_a_bad_policy_is_refused_with_its_field(tmp_path: Path) -> None:
    bad = [
        ('version = "1"\n[[rules]]\ntype = "spam"\nactions = ["refer_review"]\n', "type must be"),
        (
            'version = "1"\n[[rules]]\ntype = "contagion"\nactions = ["lower_limit"]\n',
            "lower_limit needs a factor",
        ),
        (
            'version = "1"\n[[rules]]\ntype = "contagion"\nactions = ["lower_limit"]\n'
            "factor = 0.5\n",
            "quoted decimal",
        ),
        ('version = "1"\n[[rules]]\ntype = "*"\nactions = ["pay_out"]\n', "rules.0.actions.0"),
        ('version = "1"\nsuppression_hours = -1\n', "suppression_hours"),
    ]
    for k, (text, message) in enumerate(bad):
        path = tmp_path / f"bad{k}.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ActionPolicyError, match=message):
            load_action_policy(path)
    with pytest.raises(ActionPolicyError, match="cannot read"):
        load_action_policy(tmp_path / "missing.toml")


def test_the_hash_changes_with_the_content() -> None:
    one = parse_action_policy({"version": "1", "rules": []})
    two = parse_action_policy(
        {"version": "1", "rules": [{"type": "*", "actions": ["refer_review"]}]}
    )
    assert one.hash != two.hash
    assert one.hash == parse_action_policy({"version": "1"}).hash


# -- the CLI ---------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    monitor_cmd.register(app)
    return app


@pytest.fixture
def home_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_the_monitor_commands(home_engine: Engine) -> None:
    runner = CliRunner()
    app = _app()
    ids = record(
        home_engine,
        finding("p1"),
        finding("p2", detector=Detector.FRAUD_RING, severity=Severity.HIGH),
    )
    out = runner.invoke(app, ["monitor", "alerts", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.stdout)
    assert {a["type"] for a in listed} == {"multi_lending", "fraud_ring"}
    table = runner.invoke(app, ["monitor", "alerts", "--type", "fraud_ring"])
    assert table.exit_code == 0, table.output
    assert "fraud_ring" in table.stdout and "multi_lending" not in table.stdout

    acked = runner.invoke(app, ["monitor", "acknowledge", ids[0], "--by", "amy", "--note", "on it"])
    assert acked.exit_code == 0, acked.output
    again = runner.invoke(app, ["monitor", "acknowledge", ids[0], "--by", "amy"])
    assert again.exit_code == 2
    assert "is acknowledged: cannot acknowledge" in again.output
    assert "Traceback" not in again.output
    done = runner.invoke(
        app, ["monitor", "resolve", ids[0], "--by", "amy", "--note", "ok", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "resolved"
    only_open = runner.invoke(app, ["monitor", "alerts", "--json", "--status", "open"])
    assert [a["id"] for a in json.loads(only_open.stdout)] == [ids[1]]
    bad = runner.invoke(app, ["monitor", "alerts", "--status", "closed"])
    assert bad.exit_code == 2 and "status must be one of" in bad.output
    missing = runner.invoke(app, ["monitor", "resolve", "al_nope", "--by", "amy", "--note", "x"])
    assert missing.exit_code == 2 and "no such alert" in missing.output
    nothing = runner.invoke(app, ["monitor", "lift", "p1", "--by", "amy", "--note", "x"])
    assert nothing.exit_code == 2 and "no active limit control" in nothing.output


def test_the_policy_file_comes_from_the_option_the_setting_or_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.monitoring.action_policy_file import configured_action_policy
    from creditgraph.settings import Settings

    mine = tmp_path / "actions.toml"
    mine.write_text('version = "site-7"\n', encoding="utf-8")
    option = tmp_path / "option.toml"
    option.write_text('version = "option-1"\n', encoding="utf-8")
    assert configured_action_policy(Settings(home=tmp_path)).version == load_action_policy().version
    monkeypatch.setenv("CREDITGRAPH_MONITORING_ACTIONS_FILE", str(mine))
    assert configured_action_policy(Settings(home=tmp_path)).version == "site-7"
    assert configured_action_policy(Settings(home=tmp_path), option).version == "option-1"


# -- a caller's step inside the lifecycle's transaction -----------------------------------------


class _Refused(RuntimeError):
    """Raised by a ``within`` hook to prove the step rolls back with it."""


def _workspace_records(engine: Engine, target: str) -> int:
    actions = table_of(WorkspaceAction)
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(actions).where(actions.c.target == target)
            ).scalar_one()
        )


def _audit_records(engine: Engine) -> int:
    return count(engine, AuditRecord)


def _steps(engine: Engine, alert_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(AlertAction.action)
                .where(AlertAction.alert_id == alert_id)
                .order_by(AlertAction.id)
            ).scalars()
        )


def test_the_within_hook_runs_inside_acknowledge_and_resolve(engine: Engine) -> None:
    (alert_id,) = record(engine, finding())
    seen: list[tuple[str, str, list[str]]] = []

    def sees_the_step(conn: Connection, answer: dict[str, Any]) -> None:
        status = conn.execute(select(ALERTS.c.status).where(ALERTS.c.id == alert_id)).scalar_one()
        steps = conn.execute(
            select(AlertAction.action).where(AlertAction.alert_id == alert_id)
        ).scalars()
        seen.append((answer["status"], status, list(steps)))
        workspace_actions.record(conn, "officer-1", "officer", "alert.step", alert_id)

    acked = acknowledge(engine, alert_id, by="officer-1", note="looking", within=sees_the_step)
    done = resolve(engine, alert_id, by="officer-1", note="income verified", within=sees_the_step)
    assert acked["status"] == "acknowledged" and done["status"] == "resolved"
    assert seen == [
        ("acknowledged", "acknowledged", ["acknowledge"]),
        ("resolved", "resolved", ["acknowledge", "resolve"]),
    ]
    assert _workspace_records(engine, alert_id) == 2


def test_a_failing_hook_rolls_back_acknowledge_and_resolve(engine: Engine) -> None:
    first, second = record(engine, finding("p1"), finding("p2"))
    audit_before = _audit_records(engine)

    def records_then_fails(conn: Connection, answer: dict[str, Any]) -> None:
        workspace_actions.record(conn, "officer-1", "officer", "alert.step", answer["id"])
        raise _Refused(answer["status"])

    with pytest.raises(_Refused, match="acknowledged"):
        acknowledge(engine, first, by="officer-1", within=records_then_fails)
    with pytest.raises(_Refused, match="resolved"):
        resolve(engine, first, by="officer-1", note="false alarm", within=records_then_fails)
    assert get_alert(engine, first)["status"] == "open"
    assert get_alert(engine, first)["acknowledged_by"] is None
    assert _steps(engine, first) == []
    assert _workspace_records(engine, first) == 0
    assert _audit_records(engine) == audit_before

    acknowledge(engine, second, by="officer-1")
    with pytest.raises(_Refused):
        resolve(engine, second, by="officer-2", note="paid up", within=records_then_fails)
    after = get_alert(engine, second)
    assert after["status"] == "acknowledged" and after["resolved_by"] is None
    assert _steps(engine, second) == ["acknowledge"]
    assert _workspace_records(engine, second) == 0
    # a refused step never reaches the hook
    called: list[str] = []
    with pytest.raises(AlertStateError):
        acknowledge(engine, second, by="o", within=lambda _c, a: called.append(a["id"]))
    assert called == []
