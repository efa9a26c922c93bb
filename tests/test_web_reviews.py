"""The review queue page: filters, take, approve, decline, bulk actions and who may do what."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from creditgraph.decision.review import ReviewWorkflow
from creditgraph.store.models import DecisionEvent, ReviewRequest, WorkspaceAction, table_of
from creditgraph.web import actions
from tests.web_world import Workspace, csrf_of, login

REVIEWS = table_of(ReviewRequest)
ACTIONS = table_of(WorkspaceAction)
EVENTS = table_of(DecisionEvent)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-request="([^"]+)"', html)


def _open_ids(ws: Workspace, kind: str = "referral") -> list[str]:
    with ws.engine.connect() as conn:
        return list(
            conn.execute(
                select(REVIEWS.c.id)
                .where(REVIEWS.c.kind == kind, REVIEWS.c.status == "open")
                .order_by(REVIEWS.c.created_at, REVIEWS.c.id)
            ).scalars()
        )


def _review(ws: Workspace, request_id: str) -> dict[str, Any]:
    with ws.engine.connect() as conn:
        row = conn.execute(select(REVIEWS).where(REVIEWS.c.id == request_id)).mappings().one()
    return dict(row)


def _actions(ws: Workspace, target: str) -> list[dict[str, Any]]:
    with ws.engine.connect() as conn:
        rows = conn.execute(select(ACTIONS).where(ACTIONS.c.target == target)).mappings()
        return [dict(r) for r in rows]


def test_analysts_may_not_see_the_queue_and_strangers_log_in_first(workspace: Workspace) -> None:
    assert workspace.client("analyst").get("/reviews").status_code == 403
    answer = workspace.client().get("/reviews", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_queue_shows_each_request_with_its_decision_reasons_and_sla(
    workspace: Workspace,
) -> None:
    html = workspace.client("officer").get("/reviews?kind=referral").text
    assert 'id="review-queue"' in html
    rows = _rows(html)
    assert len(rows) == 50  # a page
    first = _open_ids(workspace)[0]
    assert rows[0] == first
    assert "转人工" in html and "违约概率" in html and "等级" in html
    assert "信用评分处于人工审核区间" in html or "可用于评估的数据较少" in html
    # the demo's referrals are months old: past their two-business-day SLA, said in words
    assert 'data-sla="overdue"' in html and "已超时" in html
    assert 'data-action="approve"' in html
    english = workspace.client("officer")
    csrf = csrf_of(english, "/reviews")
    english.post("/lang", data={"csrf_token": csrf, "lang": "en", "next": "/reviews"})
    assert "Overdue: was due by" in english.get("/reviews?kind=referral").text


def test_every_filter_narrows_the_queue(workspace: Workspace) -> None:
    client = workspace.client("officer")
    referrals, monitoring = _open_ids(workspace), _open_ids(workspace, "monitoring")
    assert monitoring, "the demo raises monitoring referrals"
    kind = _rows(client.get("/reviews?kind=monitoring").text)
    assert sorted(kind) == sorted(monitoring)
    # monitoring referrals were opened today: neither old nor overdue
    assert _rows(client.get("/reviews?kind=monitoring&older_than=30").text) == []
    assert _rows(client.get("/reviews?kind=monitoring&overdue=1").text) == []
    old = client.get("/reviews?older_than=30&status=all").text
    assert set(_rows(old)) <= set(referrals) and _rows(old)
    assert _rows(client.get("/reviews?kind=referral&overdue=1").text)[0] == referrals[0]

    mine = referrals[-1]
    ReviewWorkflow(workspace.engine, _now).take(mine, f"web:{workspace.users['officer']}")
    theirs = referrals[-2]
    ReviewWorkflow(workspace.engine, _now).take(theirs, "web:someone-else")
    assert _rows(client.get("/reviews?assignee=me").text) == [mine]
    assert _rows(client.get("/reviews?assignee=someone-else").text) == [theirs]
    assert _rows(client.get("/reviews?status=taken").text) == sorted(
        [mine, theirs], key=referrals.index
    )
    unassigned = _rows(client.get("/reviews?assignee=unassigned&kind=monitoring").text)
    assert sorted(unassigned) == sorted(monitoring)
    assert mine not in _rows(client.get("/reviews?status=open&page=4").text)
    assert _rows(client.get("/reviews?status=resolved&kind=objection").text) == []


def test_a_bad_filter_gets_a_clear_message_not_a_stack_trace(workspace: Workspace) -> None:
    client = workspace.client("officer")
    for query in ("kind=bogus", "older_than=abc", "status=lost", "older_than=-3"):
        answer = client.get(f"/reviews?{query}")
        assert answer.status_code == 400, query
        assert "输入有误" in answer.text
    assert client.get("/reviews?page=x").status_code == 200  # reset to the first page


def test_take_assigns_the_request_and_records_the_action(workspace: Workspace) -> None:
    client = workspace.client("officer")
    request_id = _open_ids(workspace)[3]
    csrf = csrf_of(client, "/reviews")
    answer = client.post(
        f"/reviews/{request_id}/take",
        data={"csrf_token": csrf, "back": "kind=referral"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/reviews?kind=referral&batch=")
    row = _review(workspace, request_id)
    assert row["status"] == "taken" and row["taken_by"] == f"web:{workspace.users['officer']}"
    [action] = _actions(workspace, request_id)
    assert action["action"] == "review.take" and action["outcome"] == "done"
    shown = client.get(answer.headers["location"]).text
    assert 'data-outcome="done"' in shown and "已分配给您" in shown


def test_approve_with_a_note_resolves_through_the_workflow(workspace: Workspace) -> None:
    client = workspace.client("officer")
    request_id = _open_ids(workspace)[4]
    csrf = csrf_of(client, "/reviews")
    answer = client.post(
        f"/reviews/{request_id}/resolve",
        data={"csrf_token": csrf, "decision": "approve", "note": "income verified by phone"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    row = _review(workspace, request_id)
    assert row["status"] == "approved"
    assert row["resolution_note"] == "income verified by phone"
    assert row["resolved_by"] == f"web:{workspace.users['officer']}"
    [action] = _actions(workspace, request_id)
    assert action["action"] == "review.approve" and action["outcome"] == "done"
    assert action["detail"]["note_sha256"] and "income" not in str(action["detail"])
    with workspace.engine.connect() as conn:
        events = conn.execute(
            select(EVENTS.c.event).where(EVENTS.c.review_id == request_id)
        ).scalars()
        assert "review_approved" in set(events)


def test_decline_needs_a_note_and_without_one_changes_nothing(workspace: Workspace) -> None:
    client = workspace.client("officer")
    request_id = _open_ids(workspace)[5]
    csrf = csrf_of(client, "/reviews")
    refused = client.post(
        f"/reviews/{request_id}/resolve",
        data={"csrf_token": csrf, "decision": "decline", "note": "   "},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "必须填写备注" in refused.text and "未做任何更改" in refused.text
    assert _review(workspace, request_id)["status"] == "open"
    assert _actions(workspace, request_id) == []
    declined = client.post(
        f"/reviews/{request_id}/resolve",
        data={"csrf_token": csrf, "decision": "decline", "note": "documents do not match"},
        follow_redirects=False,
    )
    assert declined.status_code == 303
    assert _review(workspace, request_id)["status"] == "declined"
    assert [a["action"] for a in _actions(workspace, request_id)] == ["review.decline"]


def test_bulk_approve_reports_each_item_and_shows_partial_failures(
    workspace: Workspace,
) -> None:
    client = workspace.client("officer")
    free_one, free_two, taken = _open_ids(workspace)[6:9]
    ReviewWorkflow(workspace.engine, _now).take(taken, "web:another-officer")
    csrf = csrf_of(client, "/reviews")
    answer = client.post(
        "/reviews/bulk",
        data={
            "csrf_token": csrf,
            "step": "approve",
            "note": "batch checked against bank statements",
            "id": [free_one, taken, free_two, "rv_does_not_exist"],
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert _review(workspace, free_one)["status"] == "approved"
    assert _review(workspace, free_two)["status"] == "approved"
    assert _review(workspace, taken)["status"] == "taken"
    assert [a["outcome"] for a in _actions(workspace, taken)] == ["refused"]
    report = client.get(answer.headers["location"]).text
    outcomes = re.findall(r'<li data-outcome="(\w+)" data-request="([^"]+)"', report)
    assert outcomes == [
        ("done", free_one),
        ("refused", taken),
        ("done", free_two),
        ("refused", "rv_does_not_exist"),
    ]
    assert "其他信贷员" in report and "没有该审核请求" in report
    assert "成功 2 条，未执行 2 条" in report


def test_bulk_assign_and_a_bulk_decline_without_a_note(workspace: Workspace) -> None:
    client = workspace.client("officer")
    ids = _open_ids(workspace)[9:12]
    csrf = csrf_of(client, "/reviews")
    refused = client.post("/reviews/bulk", data={"csrf_token": csrf, "step": "decline", "id": ids})
    assert refused.status_code == 400
    assert all(_review(workspace, i)["status"] == "open" for i in ids)
    answer = client.post(
        "/reviews/bulk",
        data={"csrf_token": csrf, "step": "take", "id": ids},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text and 'id="review-queue"' in answer.text
    assert answer.text.count('data-outcome="done"') == 3
    me = f"web:{workspace.users['officer']}"
    assert all(_review(workspace, i)["taken_by"] == me for i in ids)
    assert all(_actions(workspace, i)[0]["action"] == "review.take" for i in ids)
    empty = client.post("/reviews/bulk", data={"csrf_token": csrf, "step": "take"})
    assert empty.status_code == 400 and "至少一条" in empty.text


def test_auditors_read_the_queue_without_any_action_form(workspace: Workspace) -> None:
    auditor = workspace.client("auditor")
    html = auditor.get("/reviews?status=all").text
    assert 'id="review-queue"' in html and _rows(html)
    assert "data-action" not in html
    assert 'action="/reviews/' not in html and 'name="id"' not in html
    assert 'name="note"' not in html
    request_id = _open_ids(workspace)[12]
    csrf = csrf_of(auditor, "/reviews")
    answer = auditor.post(
        f"/reviews/{request_id}/resolve",
        data={"csrf_token": csrf, "decision": "approve", "note": "x"},
    )
    assert answer.status_code == 403
    assert _review(workspace, request_id)["status"] == "open"


def test_a_write_without_the_csrf_token_is_refused(workspace: Workspace) -> None:
    client = workspace.client("officer")
    request_id = _open_ids(workspace)[13]
    answer = client.post(f"/reviews/{request_id}/take", data={})
    assert answer.status_code == 403
    assert _review(workspace, request_id)["status"] == "open"


def test_a_take_whose_record_fails_is_not_committed(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The take and its workspace record share one transaction: no take without its record."""
    request_id = _open_ids(workspace)[14]
    client = TestClient(workspace.app, base_url="http://testserver", raise_server_exceptions=False)
    login(client, workspace.users["officer"])
    csrf = csrf_of(client, "/reviews")
    real = actions.record

    def written_then_lost(conn: Connection, *args: Any, **kw: Any) -> str:
        real(conn, *args, **kw)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(actions, "record", written_then_lost)
    answer = client.post(
        f"/reviews/{request_id}/take", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 500
    monkeypatch.undo()
    row = _review(workspace, request_id)
    assert row["status"] == "open" and row["taken_by"] is None
    assert _actions(workspace, request_id) == []
    with workspace.engine.connect() as conn:
        events = conn.execute(
            select(EVENTS.c.event).where(EVENTS.c.review_id == request_id)
        ).scalars()
        assert "review_taken" not in set(events)
