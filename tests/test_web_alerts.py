"""The alerts page: the queue's filters, one alert's evidence, acknowledge and resolve, who may
do what, and the servicing stress signals beside the alerts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text

from creditgraph.monitoring.alerts import ALERTS
from creditgraph.store.models import AlertAction, WorkspaceAction, table_of
from creditgraph.web import actions
from creditgraph.web.data import alerts as alerts_data
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
    # monitoring refuses the step (400): an actor ("web:" and the name) longer than it takes,
    # from a user row whose 100-character name predates the 90-character rule of web.users
    name = "a" * 100
    _insert_user(workspace, name, "analyst")
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


def test_the_stress_signals_are_read_as_of_the_latest_close(workspace: Workspace) -> None:
    """Late loans and their principal are the close's (a loan late at the close and prepaid in
    the open day still counts, with what it owed then), and the 30-day collections window ends
    at the close, not at the wall clock. Last in the module: it writes."""
    from creditgraph.servicing.loans import LoanService

    def sql(query: str, **params: Any) -> list[Any]:
        with workspace.engine.begin() as conn:
            found = conn.execute(text(query), params)
            return list(found.all()) if found.returns_rows else []

    raw = sql("SELECT max(business_date) FROM eod_runs WHERE status = 'completed'")[0][0]
    as_of = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
    loan_id, person_id, principal = sql(
        "SELECT id, person_id, principal_fen FROM loans WHERE state = 'active' AND bucket = 'M0' "
        "ORDER BY id DESC"
    )[0]
    (owed,) = sql(
        "SELECT sum(debit_fen - credit_fen) FROM journal_lines WHERE loan_id = :i "
        "AND account = 'loans_receivable' AND business_date <= :d",
        i=loan_id,
        d=as_of,
    )[0]
    moved_on = as_of - timedelta(days=14)
    event_id = f"bucket:{loan_id}:{moved_on:%Y%m%d}"
    (offset,) = sql('SELECT max("offset") + 1 FROM event_outbox')[0]
    sql(
        'INSERT INTO event_outbox ("offset", partition, event_id, person_id, type, occurred_at, '
        "recorded_at, payload) VALUES (:o, 0, :e, :p, 'dpd_bucket_changed', :at, :at, :payload)",
        o=offset,
        e=event_id,
        p=person_id,
        at=str(moved_on),
        payload=f'{{"loan_id":"{loan_id}","from_bucket":"M1","to_bucket":"M2","dpd":31}}',
    )
    sql("UPDATE loans SET dpd = 45, bucket = 'M2', state = 'overdue' WHERE id = :i", i=loan_id)
    # the end of the close in Shanghai is 16:00 UTC that day; one entry in the window, one
    # after the close, one 60 days before it (both of those within 30 days of the wall clock
    # would be counted if the window were the wall clock's)
    close_utc = datetime(as_of.year, as_of.month, as_of.day, 16, 0)
    for n, at in enumerate(
        (
            close_utc - timedelta(days=5),
            close_utc + timedelta(hours=1),
            close_utc - timedelta(days=60),
        )
    ):
        sql(
            "INSERT INTO collections_list (person_id, loan_id, alert_id, reason, status, added_at, "
            "added_by) VALUES (:p, :l, NULL, 'test', 'open', :at, 'tests')",
            p=f"p{n}",
            l=loan_id,
            at=at,
        )
    before = alerts_data.stress(workspace.engine)
    assert before.as_of == as_of
    assert [(x.bucket, x.loans, x.outstanding_fen) for x in before.late] == [("M2", 1, owed)]
    assert before.collections_recent == 1
    LoanService(workspace.engine).prepay(
        loan_id, as_of + timedelta(days=1), full=True, key=f"st-{loan_id}", actor="tests"
    )
    assert sql("SELECT state FROM loans WHERE id = :i", i=loan_id)[0][0] == "closed"
    after = alerts_data.stress(workspace.engine)
    assert [(x.bucket, x.loans, x.outstanding_fen) for x in after.late] == [("M2", 1, owed)]
    assert 0 < owed <= principal
    html = workspace.client("analyst").get("/alerts").text
    assert 'id="servicing-stress"' in html and "M2" in html


def _insert_user(workspace: Workspace, name: str, role: str) -> None:
    """A user row written directly, past the name rule ``UserStore.create`` enforces."""
    from argon2 import PasswordHasher
    from sqlalchemy import insert

    from creditgraph.store.models import WebUser, table_of

    now = datetime.now(UTC).replace(tzinfo=None)
    with workspace.engine.begin() as conn:
        conn.execute(
            insert(table_of(WebUser)).values(
                name=name, role=role, password_hash=PasswordHasher().hash(PASSWORD),
                created_at=now, created_by="tests", password_changed_at=now, failed_logins=0,
            )
        )  # fmt: skip
