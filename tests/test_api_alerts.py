"""``/v1/alerts`` over the real app (SQLite): roles, filters and the cursor, acknowledge and
resolve with who acted taken from the key, 404 and 409 with their codes, bad input refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from creditgraph.monitoring.action_policy import parse_action_policy
from creditgraph.monitoring.alerts import record_findings
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.store.db import write_transaction
from creditgraph.store.models import DecisionRecord
from tests.loan_world import Api, insert_decision, open_api

T0 = datetime(2026, 7, 1, 9)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(
        tmp_path / "home",
        {"officer": "officer", "analyst": "analyst", "admin": "admin", "app": "applicant-app"},
    )


def raise_alerts(api: Api, *people: str, detector: Detector = Detector.MULTI_LENDING) -> list[str]:
    policy = parse_action_policy({"version": "t"})
    findings = [
        Finding(
            type=detector,
            rule="loans_30d",
            severity=Severity.HIGH,
            person_id=person,
            occurred_at=T0 + timedelta(minutes=k),
            dedup_key=f"{detector.value}:loans_30d:{person}",
            evidence={"events": [f"ev-{k}"], "after": {"loans_30d": 4}},
        )
        for k, person in enumerate(people)
    ]
    with write_transaction(api.engine) as conn:
        recorded = record_findings(conn, findings, now=T0 + timedelta(hours=1), policy=policy)
    return [r.alert_id for r in recorded]


def test_listing_and_reading_alerts(api: Api) -> None:
    ids = raise_alerts(api, "p1", "p2", "p3")
    ring = raise_alerts(api, "p4", detector=Detector.FRAUD_RING)
    got = api.client.get("/v1/alerts", headers=api.as_("analyst"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert [a["id"] for a in body["alerts"]] == [*ring, *reversed(ids)]
    assert body["next_cursor"] is None
    assert {a["type"] for a in body["alerts"]} == {"multi_lending", "fraud_ring"}

    page = api.client.get("/v1/alerts?limit=2", headers=api.as_("officer")).json()
    assert len(page["alerts"]) == 2 and page["next_cursor"] == page["alerts"][-1]["id"]
    rest = api.client.get(
        f"/v1/alerts?limit=2&cursor={page['next_cursor']}", headers=api.as_("officer")
    ).json()
    assert [a["id"] for a in page["alerts"] + rest["alerts"]] == [a["id"] for a in body["alerts"]]

    typed = api.client.get("/v1/alerts?type=fraud_ring", headers=api.as_("admin")).json()
    assert [a["id"] for a in typed["alerts"]] == ring
    person = api.client.get("/v1/alerts?person_id=p2", headers=api.as_("admin")).json()
    assert [a["id"] for a in person["alerts"]] == [ids[1]]

    one = api.client.get(f"/v1/alerts/{ids[0]}", headers=api.as_("analyst"))
    assert one.status_code == 200
    assert one.json()["evidence"]["events"] == ["ev-0"]
    assert one.json()["occurred_at"] == T0.isoformat()


def test_acknowledge_and_resolve_record_who_acted(api: Api) -> None:
    (alert_id,) = raise_alerts(api, "p1")
    acked = api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"note": "calling the borrower"},
        headers=api.as_("officer"),
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == f"officer (key {api.ids['officer']})"
    again = api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={}, headers=api.as_("officer")
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "alert_state"
    assert "is acknowledged" in again.json()["error"]["message"]

    no_note = api.client.post(f"/v1/alerts/{alert_id}/resolve", json={}, headers=api.as_("admin"))
    assert no_note.status_code == 422
    assert no_note.json()["error"]["field"] == "note"
    done = api.client.post(
        f"/v1/alerts/{alert_id}/resolve",
        json={"note": "income verified"},
        headers=api.as_("admin"),
    )
    assert done.status_code == 200, done.text
    assert done.json()["resolved_by"] == f"admin (key {api.ids['admin']})"
    assert done.json()["resolved_note"] == "income verified"
    closed = api.client.post(
        f"/v1/alerts/{alert_id}/resolve", json={"note": "x"}, headers=api.as_("admin")
    )
    assert closed.status_code == 409 and "已解决" in closed.json()["error"]["message"]
    listed = api.client.get("/v1/alerts?status=resolved", headers=api.as_("analyst")).json()
    assert [a["id"] for a in listed["alerts"]] == [alert_id]


def test_unknown_alerts_roles_and_bad_input(api: Api) -> None:
    (alert_id,) = raise_alerts(api, "p1")
    missing = api.client.get("/v1/alerts/al_nothing", headers=api.as_("officer"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "alert_not_found"
    post_missing = api.client.post(
        "/v1/alerts/al_nothing/acknowledge", json={}, headers=api.as_("officer")
    )
    assert post_missing.status_code == 404
    assert api.client.get("/v1/alerts", headers=api.as_("app")).status_code == 403
    assert api.client.get("/v1/alerts").status_code == 401
    forbidden = api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={}, headers=api.as_("app")
    )
    assert forbidden.status_code == 403
    assert api.client.get("/v1/alerts?status=closed", headers=api.as_("officer")).status_code == 422
    assert api.client.get("/v1/alerts?limit=0", headers=api.as_("officer")).status_code == 422
    extra = api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={"by": "me"}, headers=api.as_("officer")
    )
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "by"
    bad_json = api.client.post(
        f"/v1/alerts/{alert_id}/resolve", content=b"{", headers=api.as_("officer")
    )
    assert bad_json.status_code == 400


def test_a_frozen_limit_refuses_an_offer_over_http(api: Api) -> None:
    decision_id = insert_decision(api.engine)
    with api.engine.connect() as conn:
        person = conn.execute(
            select(DecisionRecord.person_id).where(DecisionRecord.id == decision_id)
        ).scalar_one()
    policy = parse_action_policy(
        {"version": "t", "rules": [{"type": "*", "actions": ["freeze_undrawn_limit"]}]}
    )
    finding = Finding(
        Detector.FRAUD_RING, "ring", Severity.HIGH, person, T0, f"fraud_ring:ring:{person}"
    )
    with write_transaction(api.engine) as conn:
        record_findings(conn, [finding], now=T0, policy=policy)
    refused = api.client.post(
        "/v1/loans", json={"decision_id": decision_id}, headers=api.as_("officer")
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "limit_controlled"
    assert "冻结" in refused.json()["error"]["message"]
