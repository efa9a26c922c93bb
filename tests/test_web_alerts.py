"""The alerts page: the queue's filters, one alert's evidence, acknowledge and resolve, who may
do what, and the servicing stress signals beside the alerts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from creditgraph.monitoring.alerts import ALERTS
from creditgraph.store.models import AlertAction, WorkspaceAction, table_of
from creditgraph.web import actions
from creditgraph.web.users import UserStore
from tests.web_world import PASSWORD, Workspace, csrf_of, login

ACTIONS = table_of(WorkspaceAction)
AUDIT = table_of(AlertAction)


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-alert="([^"]+)"', html)


def _alerts(ws: Workspace, **where: str) -> list[dict[str, Any]]:
    stmt = select(ALERTS).order_by(ALERTS.c.id.desc())
    for name, value in where.items():
        stmt = stmt.where(ALERTS.c[name] == value)
    with ws.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _actions(ws: Workspace, target: str) -> list[dict[str, Any]]:
    with ws.engine.connect() as conn:
        rows = conn.execute(select(ACTIONS).where(ACTIONS.c.target == target)).mappings()
        return [dict(r) for r in rows]


def test_the_queue_and_every_filter(workspace: Workspace) -> None:
    client = workspace.client("analyst")
    html = client.get("/alerts").text
    assert 'id="alert-queue"' in html
    everything = _alerts(workspace)
    assert _rows(html) == [a["id"] for a in everything][:50]
    kinds = {a["type"] for a in everything}
    assert len(kinds) > 1
    for kind in kinds:
        shown = _rows(client.get(f"/alerts?type={kind}&status=all").text)
        assert shown == [a["id"] for a in everything if a["type"] == kind][:50]
    for severity in ("low", "medium", "high"):
        shown = _rows(client.get(f"/alerts?severity={severity}&status=all").text)
        assert shown == [a["id"] for a in everything if a["severity"] == severity][:50]
    both = _rows(client.get("/alerts?type=activity_collapse&severity=high").text)
    assert both and all(
        a["type"] == "activity_collapse" and a["severity"] == "high"
        for a in everything
        if a["id"] in both
    )
    assert _rows(client.get("/alerts?status=resolved").text) == [
        a["id"] for a in everything if a["status"] == "resolved"
    ]
    fragment = client.get("/alerts?severity=low", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and 'id="alert-queue"' in fragment
    for bad in ("type=bogus", "severity=extreme", "status=gone"):
        answer = client.get(f"/alerts?{bad}")
        assert answer.status_code == 400 and "输入有误" in answer.text


def test_the_detail_shows_readable_evidence_and_the_actions_taken(workspace: Workspace) -> None:
    client = workspace.client("analyst")
    referred = next(a for a in _alerts(workspace, type="activity_collapse") if a["actions"])
    html = client.get(f"/alerts/{referred['id']}").text
    assert '<dl class="evidence">' in html
    assert "每周互动次数（基线）" in html and "触发事件" in html
    assert "转人工审核" in html and 'id="alert-trail"' in html
    stress = next(iter(_alerts(workspace, type="repayment_stress")))
    shown = client.get(f"/alerts/{stress['id']}").text
    assert "近 30 天转入金额" in shown and "¥" in shown  # fen shown as money
    assert client.get("/alerts/al_nothing_here").status_code == 404


def test_acknowledge_then_resolve_changes_the_alert_and_records_actions(
    workspace: Workspace,
) -> None:
    client = workspace.client("analyst")
    alert_id = _alerts(workspace, status="open")[0]["id"]
    csrf = csrf_of(client, f"/alerts/{alert_id}")
    answer = client.post(
        f"/alerts/{alert_id}/acknowledge",
        data={"csrf_token": csrf, "note": "looking"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    [row] = [a for a in _alerts(workspace) if a["id"] == alert_id]
    assert row["status"] == "acknowledged"
    assert row["acknowledged_by"] == f"web:{workspace.users['analyst']}"
    assert "预警已确认" in client.get(answer.headers["location"]).text
    refused = client.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf, "note": ""})
    assert refused.status_code == 400 and "必须填写处理说明" in refused.text
    assert next(a for a in _alerts(workspace) if a["id"] == alert_id)["status"] == "acknowledged"
    done = client.post(
        f"/alerts/{alert_id}/resolve",
        data={"csrf_token": csrf, "note": "borrower called: new job"},
        headers={"HX-Request": "true"},
    )
    assert done.status_code == 200 and "<html" not in done.text and "预警已解决" in done.text
    [row] = [a for a in _alerts(workspace) if a["id"] == alert_id]
    assert row["status"] == "resolved" and row["resolved_note"] == "borrower called: new job"
    assert [(a["action"], a["outcome"]) for a in _actions(workspace, alert_id)] == [
        ("alert.acknowledge", "done"),
        ("alert.resolve", "done"),
    ]
    again = client.post(
        f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert again.status_code == 409 and "不能确认" in again.text
    assert alert_id in _rows(client.get("/alerts?status=resolved").text)
    assert alert_id not in _rows(client.get("/alerts").text)


def test_auditors_see_alerts_without_forms_and_may_not_act(workspace: Workspace) -> None:
    auditor = workspace.client("auditor")
    alert_id = _alerts(workspace, status="open")[0]["id"]
    html = auditor.get(f"/alerts/{alert_id}").text
    assert "data-action" not in html and f'action="/alerts/{alert_id}' not in html
    assert 'name="note"' not in html
    assert 'id="alert-queue"' in auditor.get("/alerts").text
    csrf = csrf_of(auditor, "/alerts")
    answer = auditor.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf})
    assert answer.status_code == 403
    assert next(a for a in _alerts(workspace) if a["id"] == alert_id)["status"] == "open"
    assert _actions(workspace, alert_id) == []
    officer = workspace.client("officer").get(f"/alerts/{alert_id}").text
    assert 'data-action="acknowledge"' in officer and 'data-action="resolve"' in officer


def test_the_servicing_stress_signals_sit_beside_the_alerts(workspace: Workspace) -> None:
    html = workspace.client("officer").get("/alerts").text
    assert 'id="servicing-stress"' in html and "贷后压力信号" in html
    assert "截至最近一次日终" in html and "催收名单" in html
    assert "近 30 天核销的贷款" in html


def test_a_step_whose_record_fails_is_not_committed(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledge and resolve share one transaction with their workspace record."""
    first, second = [a["id"] for a in _alerts(workspace, status="open")[1:3]]
    client = TestClient(workspace.app, base_url="http://testserver", raise_server_exceptions=False)
    login(client, workspace.users["officer"])
    csrf = csrf_of(client, f"/alerts/{first}")
    assert client.post(f"/alerts/{second}/acknowledge", data={"csrf_token": csrf}).is_success
    real = actions.record

    def written_then_lost(conn: Connection, *args: Any, **kw: Any) -> str:
        real(conn, *args, **kw)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(actions, "record", written_then_lost)
    acked = client.post(f"/alerts/{first}/acknowledge", data={"csrf_token": csrf, "note": "x"})
    resolved = client.post(f"/alerts/{second}/resolve", data={"csrf_token": csrf, "note": "paid"})
    assert acked.status_code == 500 and resolved.status_code == 500
    monkeypatch.undo()
    [one] = [a for a in _alerts(workspace) if a["id"] == first]
    assert one["status"] == "open" and one["acknowledged_by"] is None
    [two] = [a for a in _alerts(workspace) if a["id"] == second]
    assert two["status"] == "acknowledged" and two["resolved_by"] is None
    assert _actions(workspace, first) == []
    assert [(a["action"], a["outcome"]) for a in _actions(workspace, second)] == [
        ("alert.acknowledge", "done")
    ]
    with workspace.engine.connect() as conn:
        steps = conn.execute(
            select(AUDIT.c.action).where(AUDIT.c.alert_id.in_([first, second]))
        ).scalars()
        assert sorted(steps) == ["acknowledge"]


def test_refused_steps_are_recorded_with_their_reason(workspace: Workspace) -> None:
    alert_id = _alerts(workspace, status="open")[3]["id"]
    # a name of 100 characters makes an actor ("web:" and the name) longer than monitoring takes
    name = "a" * 100
    UserStore(workspace.engine).create(name, "analyst", PASSWORD, "admin")
    client = workspace.client()
    login(client, name)
    csrf = csrf_of(client, f"/alerts/{alert_id}")
    refused = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "操作人" in refused.text
    assert next(a for a in _alerts(workspace) if a["id"] == alert_id)["status"] == "open"
    [record] = _actions(workspace, alert_id)
    assert (record["action"], record["outcome"]) == ("alert.acknowledge", "refused")
    assert record["detail"]["reason"] == "bad_input" and record["detail"]["field"] == "by"
    assert "by must name who acts" in record["detail"]["why"]

    officer = workspace.client("officer")
    csrf = csrf_of(officer, f"/alerts/{alert_id}")
    done = {"csrf_token": csrf, "note": "cleared"}
    assert officer.post(f"/alerts/{alert_id}/resolve", data=done).status_code == 200
    again = officer.post(f"/alerts/{alert_id}/resolve", data=done, follow_redirects=False)
    assert again.status_code == 409
    mine = f"web:{workspace.users['officer']}"
    last = sorted(
        (a for a in _actions(workspace, alert_id) if a["actor"] == mine), key=lambda a: a["at"]
    )
    assert [(a["action"], a["outcome"]) for a in last] == [
        ("alert.resolve", "done"),
        ("alert.resolve", "refused"),
    ]
    assert last[1]["detail"]["reason"] == "state" and last[1]["detail"]["field"] == "status"
