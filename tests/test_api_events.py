"""``POST /v1/events`` over HTTP: partner and ingest keys send, others may not; each event is
answered on its own and only the good ones reach the bus."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from creditgraph.store.event_outbox import OUTBOX
from tests.loan_world import Api, open_api
from tests.monitor_world import Events, MonitorWorld, monitor_world

AT = datetime.now(UTC) - timedelta(days=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> MonitorWorld:
    return monitor_world(tmp_path_factory.mktemp("api-events"), people=50, seed=4)


@pytest.fixture
def api(world: MonitorWorld) -> Iterator[Api]:
    yield from open_api(
        world.settings.home,
        {"partner": "partner", "feeds": "ingest", "officer": "officer", "app": "applicant-app"},
    )


def outbox_size(api: Api) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OUTBOX)).scalar() or 0)


def test_a_partner_batch_is_answered_event_by_event(world: MonitorWorld, api: Api) -> None:
    ev = Events("api")
    person, source = world.consented(AT)[0]
    before = outbox_size(api)
    batch = [
        ev.activity(person, AT, source),
        ev.activity("NOBODY", AT, source),
        ev.activity(person, AT + timedelta(days=30), source),
        {"event_id": "bad", "type": "no_such_type"},
    ]
    response = api.client.post("/v1/events", json={"events": batch}, headers=api.as_("partner"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] == 4 and body["accepted"] == 1 and body["refused"] == 3
    assert body["refused_by_reason"] == {"invalid": 2, "unknown_person": 1}
    assert {(e["index"], e["rule"]) for e in body["errors"]} >= {
        (1, "unknown_person"),
        (2, "future"),
    }
    assert any(e["index"] == 3 for e in body["errors"])
    assert outbox_size(api) == before + 1
    assert "NOBODY" not in response.text or body["errors"][0]["message"].find("NOBODY") < 0


def test_every_event_refused_is_still_a_handled_batch(world: MonitorWorld, api: Api) -> None:
    ev = Events("api-none")
    response = api.client.post(
        "/v1/events",
        json={"events": [ev.activity("NOBODY", AT, "app")]},
        headers=api.as_("feeds"),
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 0


@pytest.mark.parametrize("who", ["officer", "app"])
def test_only_partner_ingest_and_admin_keys_send_events(api: Api, who: str) -> None:
    response = api.client.post("/v1/events", json={"events": [{}]}, headers=api.as_(who))
    assert response.status_code == 403


def test_a_body_that_is_not_a_batch_is_a_422(api: Api) -> None:
    for body in ({}, {"events": []}, {"events": "x"}):
        response = api.client.post("/v1/events", json=body, headers=api.as_("partner"))
        assert response.status_code == 422, (body, response.text)
    response = api.client.post("/v1/events", json=[1, 2], headers=api.as_("partner"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
    assert api.client.post("/v1/events", json={"events": [{}]}).status_code == 401
