"""``/v1/consents`` over the real app (SQLite): grant with a receipt, a retry that records
nothing new, revoke with the purge it schedules, list by the lender's own id, roles, and bad
input refused with the field named and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from creditgraph.privacy.consent_texts import consent_texts
from creditgraph.settings import Settings
from creditgraph.store.models import Consent
from tests.consent_world import ingest_world, pseudonym
from tests.loan_world import Api, open_api

GRANT = {
    "person_id": "P3",
    "source": "douyin",
    "purpose": "credit_assessment",
    "sensitive": True,
    "granted_at": "2026-07-01T09:00:00",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    ingest_world(tmp_path / "world", Settings(home=tmp_path / "home"))
    yield from open_api(
        tmp_path / "home",
        {"officer": "officer", "analyst": "analyst", "app": "applicant-app"},
    )


def _consents(api: Api) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Consent)).scalar_one())


def test_grant_retry_revoke_and_list(api: Api, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    p3 = pseudonym(settings, "P3")
    before = _consents(api)
    granted = api.client.post("/v1/consents", json=GRANT, headers=api.as_("officer"))
    assert granted.status_code == 201, granted.text
    receipt = granted.json()
    assert receipt["person_id"] == p3 and "P3" not in granted.text.replace(p3, "")
    assert receipt["text_version"] == "2025.2"
    assert receipt["text_sha256"] == consent_texts().sha256("2025.2", "credit_assessment")
    assert receipt["status"] == "active" and receipt["recorded_via"] == "api"
    assert len(receipt["audit_commitment"]) == 64

    retry = api.client.post("/v1/consents", json=GRANT, headers=api.as_("officer"))
    assert retry.status_code == 201 and retry.json()["consent_id"] == receipt["consent_id"]
    assert _consents(api) == before + 1

    path = f"/v1/consents/{receipt['consent_id']}/revoke"
    revoked = api.client.post(path, headers=api.as_("officer"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["purge_job_id"]
    again = api.client.post(path, json={}, headers=api.as_("officer"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "consent_state"

    listed = api.client.get("/v1/consents", params={"person": "P3"}, headers=api.as_("officer"))
    assert listed.status_code == 200
    assert [c["status"] for c in listed.json()["consents"]] == ["active", "revoked"]


def test_roles_and_bad_input(api: Api) -> None:
    before = _consents(api)
    for who in ("analyst", "app"):
        denied = api.client.post("/v1/consents", json=GRANT, headers=api.as_(who))
        assert denied.status_code == 403
    assert api.client.get("/v1/consents", params={"person": "P3"}).status_code == 401
    cases = [
        ({"person_id": "P-404"}, 422, "unknown_person", "person_id"),
        ({"purpose": "marketing"}, 422, "validation_error", "purpose"),
        ({"text_version": "1999.1"}, 422, "validation_error", "text_version"),
        ({"text_version": "2022.1"}, 422, "validation_error", "text_version"),
        ({"expires_at": "2026-06-01T00:00:00"}, 422, "validation_error", "expires_at"),
        ({"granted_at": "yesterday"}, 422, "validation_error", "granted_at"),
        ({"purpose": "monitoring"}, 422, "validation_error", "sensitive"),
        ({"colour": "red"}, 422, "validation_error", "colour"),
    ]
    for change, status, code, field in cases:
        answer = api.client.post(
            "/v1/consents", json={**GRANT, **change}, headers=api.as_("officer")
        )
        assert answer.status_code == status, (change, answer.text)
        assert answer.json()["error"]["code"] == code, change
        assert answer.json()["error"]["field"] == field, change
    missing = api.client.post("/v1/consents/999999/revoke", headers=api.as_("officer"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "consent_not_found"
    early = api.client.post(
        "/v1/consents",
        json={**GRANT, "purpose": "monitoring", "sensitive": False},
        headers=api.as_("officer"),
    )
    assert early.status_code == 201
    before_grant = api.client.post(
        f"/v1/consents/{early.json()['consent_id']}/revoke",
        json={"revoked_at": "2026-06-30T00:00:00"},
        headers=api.as_("officer"),
    )
    assert before_grant.status_code == 422
    assert before_grant.json()["error"]["field"] == "revoked_at"
    assert "撤回时间早于同意时间" in before_grant.json()["error"]["message"]
    assert _consents(api) == before + 1
