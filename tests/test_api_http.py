"""The HTTP layer against a fake decision service: auth, roles, isolation, idempotency, errors.

The fake stands in for the service layer only; ``test_api_server.py`` runs the real service.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select

from creditgraph.api import keys
from creditgraph.api.app import create_app
from creditgraph.api.keys import create_key, revoke_key
from creditgraph.contracts.schema import Namespace
from creditgraph.decision.errors import DecisionInputError
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings
from creditgraph.store.db import write_transaction
from creditgraph.store.models import IdempotencyKey, OnlineFeatures

Within = Callable[[Connection, dict[str, Any]], None]

APPLICATION = {
    "person_id": "p-1",
    "product_code": "CONSUMER_GENERAL",
    "amount": "20000.00",
    "term": 12,
    "purpose": "general",
}


def _pseudonym(settings: Settings, external_id: str) -> str:
    key = load_or_create_key(settings.key_file)
    return Pseudonymiser(key).one(Namespace.PERSON, external_id)


class UnknownPersonError(LookupError):
    pass


class NotFoundError(LookupError):
    pass


class FakeDecisionService:
    """Same methods as ``DecisionService``; one product, two known people."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        # The API maps the lender's ids at the door: the service sees pseudonyms only.
        self.engine = engine
        self.known = {_pseudonym(settings, "p-1"), _pseudonym(settings, "p-2")}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.reviews: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.before_storing: Callable[[], None] = lambda: None

    def _store(self, answer: dict[str, Any], within: Within | None) -> None:
        """As the real service does: ``within`` runs in the storing transaction, and an
        exception from it means nothing was stored."""
        self.before_storing()
        with write_transaction(self.engine) as conn:
            if within is not None:
                within(conn, answer)

    def decide_for(
        self,
        person_id: str,
        product_code: str,
        amount: Decimal,
        term: int,
        purpose: str,
        schedule_type: str | None = None,
        applicant_ref: str | None = None,
        *,
        within: Within | None = None,
        pseudonym_of: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        assert isinstance(amount, Decimal)
        if pseudonym_of is not None and person_id not in self.known:
            person_id = pseudonym_of(person_id)  # as the real lookup resolves a submitted id
        if product_code != "CONSUMER_GENERAL":
            raise DecisionInputError("product_code", f"unknown product {product_code!r}")
        if not Decimal("1000") <= amount <= Decimal("50000"):
            raise DecisionInputError("amount", "amount must be within 1000.00 to 50000.00")
        if term not in (6, 12, 24):
            raise DecisionInputError("term", "term must be one of 6, 12, 24")
        if person_id not in self.known:
            raise UnknownPersonError(f"unknown person {person_id!r}")
        decision_id = f"d-{next(self._ids)}"
        record = {
            "id": decision_id,
            "person_id": person_id,
            "applicant_ref": applicant_ref,
            "outcome": "approve",
            "limit": Decimal("20000.00"),
            "offers": [{"amount": amount, "term_months": term, "apr": Decimal("0.1800")}],
        }
        self._store(record, within)
        self.decisions[decision_id] = record
        return record

    def get(self, decision_id: str) -> dict[str, Any]:
        if decision_id not in self.decisions:
            raise NotFoundError(f"no decision {decision_id!r}")
        return self.decisions[decision_id]

    def request_review(
        self,
        decision_id: str,
        requested_by: str,
        note: str | None = None,
        *,
        within: Within | None = None,
    ) -> Any:
        self.get(decision_id)
        review = {"id": f"r-{len(self.reviews) + 1}", "decision_id": decision_id, "note": note}
        review |= {"requested_by": requested_by, "status": "open"}
        self._store(review, within)
        self.reviews.append(review)
        return review

    def review_queue(self, status: str | None = "open") -> list[dict[str, Any]]:
        return [r for r in self.reviews if status is None or r["status"] == status]


class Api:
    """A TestClient, the fake service behind it and a key per role."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fake: FakeDecisionService | None = None

        def factory(engine: Engine, s: Settings) -> FakeDecisionService:
            self.fake = FakeDecisionService(engine, s)
            return self.fake

        self.app = create_app(settings, service_factory=factory)
        self.engine: Engine = self.app.state.ctx.engine
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        for name, role in [
            ("app-a", "applicant-app"),
            ("app-b", "applicant-app"),
            ("officer", "officer"),
            ("analyst", "analyst"),
            ("admin", "admin"),
        ]:
            created = create_key(self.engine, name, role, "test")
            self.tokens[name] = created.token
            self.ids[name] = created.info.id

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def stored(self) -> int:
        return len(self.fake.decisions) if self.fake else 0

    def idempotency_rows(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one())


@pytest.fixture
def api(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    # Cheap argon2 parameters: these tests are about HTTP, test_api_keys.py about hashing.
    monkeypatch.setattr(keys, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
    api = Api(sqlite_settings)
    with api.client:
        yield api


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert "Traceback" not in response.text
    return dict(body["error"])


# ---- auth ---------------------------------------------------------------------------------


def test_health_needs_no_key(api: Api) -> None:
    r = api.client.get("/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer cg_000000000000_wrongsecret"},
        {"X-API-Key": "cg_"},
    ],
)
def test_missing_or_invalid_key_is_401(api: Api, headers: dict[str, str]) -> None:
    r = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    assert r.status_code == 401
    assert _error(r)["code"] in {"missing_api_key", "invalid_api_key"}
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert api.stored() == 0


def test_right_prefix_wrong_secret_is_401(api: Api) -> None:
    token = api.tokens["app-a"]
    forged = token[: token.rindex("_") + 1] + "x" * 43
    r = api.client.get("/v1/decisions/d-1", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_revoked_key_is_401_on_next_request(api: Api) -> None:
    assert api.client.get("/v1/review-queue", headers=api.h("officer")).status_code == 200
    revoke_key(api.engine, api.ids["officer"])
    r = api.client.get("/v1/review-queue", headers=api.h("officer"))
    assert r.status_code == 401
    assert _error(r)["code"] == "invalid_api_key"


def test_x_api_key_header_works(api: Api) -> None:
    r = api.client.get("/v1/review-queue", headers={"X-API-Key": api.tokens["admin"]})
    assert r.status_code == 200
    assert r.json() == {"items": []}


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("app-a", "GET", "/v1/review-queue"),
        ("analyst", "GET", "/v1/review-queue"),
        ("analyst", "POST", "/v1/applications"),
        ("analyst", "POST", "/v1/decisions/d-1/review-requests"),
    ],
)
def test_wrong_role_is_403(api: Api, who: str, method: str, path: str) -> None:
    r = api.client.request(method, path, json=APPLICATION, headers=api.h(who))
    assert r.status_code == 403
    assert _error(r)["code"] == "forbidden"
    assert api.stored() == 0


def test_auth_is_checked_before_the_body(api: Api) -> None:
    r = api.client.post("/v1/applications", content=b"{not json")
    assert r.status_code == 401


# ---- decisions and isolation ----------------------------------------------------------------


def test_application_returns_decision_with_exact_money(api: Api) -> None:
    r = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a"))
    assert r.status_code == 201
    body = r.json()
    assert body["outcome"] == "approve"
    assert body["applicant_ref"] == str(api.ids["app-a"])
    assert body["limit"] == "20000.00"
    assert body["offers"][0] == {"amount": "20000.00", "term_months": 12, "apr": "0.1800"}


def test_applicant_app_sees_only_its_own_decisions(api: Api) -> None:
    mine = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a")).json()
    other = api.client.get(f"/v1/decisions/{mine['id']}", headers=api.h("app-b"))
    missing = api.client.get("/v1/decisions/d-999", headers=api.h("app-b"))
    assert other.status_code == missing.status_code == 404
    assert _error(other)["code"] == _error(missing)["code"] == "not_found"
    assert api.client.get(f"/v1/decisions/{mine['id']}", headers=api.h("app-a")).json() == mine
    for staff in ("officer", "analyst", "admin"):
        r = api.client.get(f"/v1/decisions/{mine['id']}", headers=api.h(staff))
        assert r.status_code == 200
    review = api.client.post(
        f"/v1/decisions/{mine['id']}/review-requests", json={"note": "x"}, headers=api.h("app-b")
    )
    assert review.status_code == 404
    assert api.fake is not None and api.fake.reviews == []


def test_review_request_then_queue(api: Api) -> None:
    d = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a")).json()
    r = api.client.post(
        f"/v1/decisions/{d['id']}/review-requests",
        json={"note": "please have a person look"},
        headers=api.h("app-a"),
    )
    assert r.status_code == 201
    assert r.json()["requested_by"] == f"api-key:{api.ids['app-a']}"
    queue = api.client.get("/v1/review-queue", headers=api.h("officer")).json()["items"]
    assert [q["decision_id"] for q in queue] == [d["id"]]
    empty_body = api.client.post(f"/v1/decisions/{d['id']}/review-requests", headers=api.h("admin"))
    assert empty_body.status_code == 201


# ---- idempotency --------------------------------------------------------------------------


def test_same_key_same_body_replays_the_first_answer(api: Api) -> None:
    headers = api.h("app-a", **{"Idempotency-Key": "order-42"})
    first = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    # Same body with other key order and whitespace is the same request.
    reordered = dict(reversed(list(APPLICATION.items())))
    second = api.client.post("/v1/applications", json=reordered, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert api.stored() == 1


def test_same_key_different_body_is_409(api: Api) -> None:
    headers = api.h("app-a", **{"Idempotency-Key": "order-43"})
    assert api.client.post("/v1/applications", json=APPLICATION, headers=headers).status_code == 201
    changed = APPLICATION | {"amount": "30000.00"}
    r = api.client.post("/v1/applications", json=changed, headers=headers)
    assert r.status_code == 409
    error = _error(r)
    assert error["code"] == "idempotency_key_reused"
    assert "different request" in error["message"]
    assert error["field"] == "Idempotency-Key"
    assert api.stored() == 1


def test_idempotency_keys_are_per_api_key(api: Api) -> None:
    for who in ("app-a", "app-b"):
        r = api.client.post(
            "/v1/applications",
            json=APPLICATION,
            headers=api.h(who, **{"Idempotency-Key": "shared"}),
        )
        assert r.status_code == 201
        assert r.json()["applicant_ref"] == str(api.ids[who])
    assert api.stored() == 2


def test_failed_request_does_not_burn_the_key(api: Api) -> None:
    headers = api.h("app-a", **{"Idempotency-Key": "retry-me"})
    bad = api.client.post("/v1/applications", json=APPLICATION | {"term": 7}, headers=headers)
    assert bad.status_code == 422
    assert api.idempotency_rows() == 0
    good = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    assert good.status_code == 201


@pytest.fixture
def api_on(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The API on a SQLite file and (marked postgres) on PostgreSQL."""
    monkeypatch.setattr(keys, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
    api = Api(settings)
    with api.client:
        yield api


def test_two_racing_requests_with_one_key_store_one_decision_and_answer_alike(
    api_on: Api,
) -> None:
    api = api_on
    assert api.client.get("/v1/review-queue", headers=api.h("officer")).status_code == 200
    assert api.fake is not None
    # Both requests have found the key unused before either stores its decision.
    both_read = threading.Barrier(2, timeout=20)
    api.fake.before_storing = both_read.wait
    headers = api.h("app-a", **{"Idempotency-Key": "tapped-twice"})
    answers: list[Any] = []

    def post() -> None:
        answers.append(api.client.post("/v1/applications", json=APPLICATION, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert api.stored() == 1
    assert api.idempotency_rows() == 1


def test_the_key_commits_with_the_decision_or_not_at_all(api: Api) -> None:
    assert api.client.get("/v1/review-queue", headers=api.h("officer")).status_code == 200
    assert api.fake is not None
    store = api.fake._store

    def store_then_fail(answer: dict[str, Any], within: Within | None) -> None:
        with write_transaction(api.engine) as conn:
            assert within is not None
            within(conn, answer)
            raise RuntimeError("the decision's own write failed")

    api.fake._store = store_then_fail  # type: ignore[method-assign]
    headers = api.h("app-a", **{"Idempotency-Key": "all-or-nothing"})
    failed = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    assert failed.status_code == 500
    assert api.idempotency_rows() == 0 and api.stored() == 0
    api.fake._store = store  # type: ignore[method-assign]
    retried = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert api.idempotency_rows() == 1 and api.stored() == 1


def test_a_review_request_replays_and_a_key_used_elsewhere_is_409(api: Api) -> None:
    d = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a")).json()
    headers = api.h("app-a", **{"Idempotency-Key": "review-once"})
    path = f"/v1/decisions/{d['id']}/review-requests"
    first = api.client.post(path, json={"note": "look again"}, headers=headers)
    again = api.client.post(path, json={"note": "look again"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert api.fake is not None and len(api.fake.reviews) == 1
    elsewhere = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    assert elsewhere.status_code == 409
    assert _error(elsewhere)["code"] == "idempotency_key_reused"


def test_bad_idempotency_key_is_400(api: Api) -> None:
    headers = api.h("app-a", **{"Idempotency-Key": "x" * 201})
    r = api.client.post("/v1/applications", json=APPLICATION, headers=headers)
    assert r.status_code == 400
    assert _error(r)["field"] == "Idempotency-Key"


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"product_code": "NOPE"}, 422, "invalid_application", "product_code"),
        ({"amount": "999999.00"}, 422, "invalid_application", "amount"),
        ({"term": 7}, 422, "invalid_application", "term"),
        ({"person_id": "p-unknown"}, 422, "unknown_person", "person_id"),
        ({"amount": 20000}, 422, "validation_error", "amount"),
        ({"amount": "20,000"}, 422, "validation_error", "amount"),
        ({"amount": "1.005"}, 422, "validation_error", "amount"),
        ({"term": "twelve"}, 422, "validation_error", "term"),
        ({"colour": "red"}, 422, "validation_error", "colour"),
    ],
)
def test_bad_applications_are_4xx_and_store_nothing(
    api: Api, change: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    r = api.client.post("/v1/applications", json=APPLICATION | change, headers=api.h("app-a"))
    assert r.status_code == status, r.text
    error = _error(r)
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    assert api.stored() == 0


def test_missing_field_is_named(api: Api) -> None:
    body = {k: v for k, v in APPLICATION.items() if k != "term"}
    r = api.client.post("/v1/applications", json=body, headers=api.h("app-a"))
    assert r.status_code == 422
    assert _error(r)["field"] == "term"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b'{"person_id": "\\ud800", "product_code": "CONSUMER_GENERAL"}',
        b'{"term": NaN}',
    ],
)
def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    headers = api.h("app-a", **{"Content-Type": "application/json"})
    r = api.client.post("/v1/applications", content=raw, headers=headers)
    assert r.status_code == 400
    assert _error(r)["code"] == "malformed_json"
    assert api.stored() == 0


def test_unknown_route_and_method_use_the_error_shape(api: Api) -> None:
    assert _error(api.client.get("/v1/nothing"))["code"] == "not_found"
    r = api.client.delete("/v1/applications", headers=api.h("admin"))
    assert r.status_code == 405
    assert _error(r)["code"] == "method_not_allowed"


def test_service_crash_is_a_bare_500(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    api.client.get("/v1/health")
    assert api.client.get("/v1/review-queue", headers=api.h("admin")).status_code == 200
    assert api.fake is not None

    def boom(**_: Any) -> dict[str, Any]:
        raise RuntimeError("secret detail about p-1")

    api.fake.decide_for = boom  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.INFO):
        r = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a"))
    assert r.status_code == 500
    assert _error(r)["code"] == "internal"
    assert "secret detail" not in r.text
    assert "secret detail" not in caplog.text


def test_logs_carry_no_ids_or_bodies(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="creditgraph.api.access"):
        d = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a")).json()
        api.client.get(f"/v1/decisions/{d['id']}?person=p-1", headers=api.h("app-a"))
    access = [r.getMessage() for r in caplog.records if r.name == "creditgraph.api.access"]
    assert any("GET /v1/decisions/{decision_id} 200" in line for line in access)
    assert not any(d["id"] in line or "p-1" in line for line in access)


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert {"/v1/applications", "/v1/decisions/{decision_id}", "/v1/review-queue"} <= set(
        spec["paths"]
    )
    post = spec["paths"]["/v1/applications"]["post"]
    assert "amount" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert api.client.get("/docs").status_code == 200


# ---- person ids -----------------------------------------------------------------------------


def test_the_lenders_own_id_is_mapped_to_its_pseudonym_at_the_door(api: Api) -> None:
    r = api.client.post("/v1/applications", json=APPLICATION, headers=api.h("app-a"))
    assert r.status_code == 201, r.text
    assert r.json()["person_id"] == _pseudonym(api.settings, "p-1")
    assert "p-1" not in r.text


def test_a_known_pseudonym_is_taken_as_it_is(api: Api) -> None:
    pseudonym = _pseudonym(api.settings, "p-2")
    with api.engine.begin() as conn:
        conn.execute(
            OnlineFeatures.__table__.insert().values(
                person_id=pseudonym,
                feature_set_version="v1",
                as_of=date(2026, 6, 30),
                snapshot_id="s",
                values={},
                updated_at=datetime(2026, 6, 30),
            )
        )
    body = APPLICATION | {"person_id": pseudonym}
    r = api.client.post("/v1/applications", json=body, headers=api.h("app-a"))
    assert r.status_code == 201, r.text
    assert r.json()["person_id"] == pseudonym


def test_an_unknown_person_is_422_without_echoing_the_id(api: Api) -> None:
    body = APPLICATION | {"person_id": "lender-id-8812"}
    r = api.client.post("/v1/applications", json=body, headers=api.h("app-a"))
    error = _error(r)
    assert (r.status_code, error["code"], error["field"]) == (422, "unknown_person", "person_id")
    assert "8812" not in r.text
    assert _pseudonym(api.settings, "lender-id-8812") not in r.text


def test_a_missing_decision_is_404_without_echoing_the_id(api: Api) -> None:
    r = api.client.get("/v1/decisions/d-secret-77", headers=api.h("officer"))
    assert r.status_code == 404
    assert "secret-77" not in r.text


# ---- the schema and the server agree ----------------------------------------------------------


def test_every_review_status_the_schema_lists_is_answered(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    (param,) = spec["paths"]["/v1/review-queue"]["get"]["parameters"]
    statuses = param["schema"].get("enum") or spec["components"]["schemas"]["ReviewStatus"]["enum"]
    assert "resolved" in statuses
    for status in statuses:
        r = api.client.get(f"/v1/review-queue?status={status}", headers=api.h("officer"))
        assert r.status_code == 200, (status, r.text)
    bad = api.client.get("/v1/review-queue?status=closed", headers=api.h("officer"))
    assert (bad.status_code, _error(bad)["field"]) == (422, "status")


def test_resolved_lists_approved_and_declined_requests(api: Api) -> None:
    api.client.get("/v1/review-queue", headers=api.h("officer"))
    assert api.fake is not None
    for status in ("open", "approved", "declined", "taken"):
        api.fake.reviews.append({"id": f"r-{status}", "decision_id": "d", "status": status})
    r = api.client.get("/v1/review-queue?status=resolved", headers=api.h("officer"))
    assert [i["id"] for i in r.json()["items"]] == ["r-approved", "r-declined"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"person_id": {"id": "p-1"}}, "person_id"),
        ({"person_id": 12}, "person_id"),
        ({"term": "12"}, "term"),
        ({"term": True}, "term"),
        ({"term": 12.0}, "term"),
        ({"purpose": ["general"]}, "purpose"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_converted(
    api: Api, change: dict[str, Any], field: str
) -> None:
    r = api.client.post("/v1/applications", json=APPLICATION | change, headers=api.h("app-a"))
    assert r.status_code == 422, r.text
    assert _error(r)["field"] == field
    assert api.stored() == 0


def test_the_idempotency_key_rules_are_in_the_schema_and_enforced(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    params = spec["paths"]["/v1/applications"]["post"]["parameters"]
    (header,) = [p for p in params if p["name"] == "Idempotency-Key"]
    schema = header["schema"].get("anyOf", [header["schema"]])[0]
    assert (schema["minLength"], schema["maxLength"]) == (1, 200)
    assert "pattern" in schema
    for bad in ("x" * 201, "a\tb"):
        r = api.client.post(
            "/v1/applications",
            json=APPLICATION,
            headers=api.h("app-a", **{"Idempotency-Key": bad}),
        )
        assert r.status_code == 400, r.text
        assert _error(r)["code"] == "invalid_idempotency_key"


BYTE_EXACT = {"text/plain", "application/octet-stream"}


def test_every_success_answer_has_a_typed_schema(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                content = response.get("content", {})
                if "application/json" not in content and set(content) <= BYTE_EXACT:
                    continue  # the audit log's C2SP checkpoint and tiles: bytes, not JSON
                schema = content.get("application/json", {}).get("schema")
                if not schema or "$ref" not in schema:
                    untyped.append(f"{method.upper()} {path} {status}")
    assert not untyped, untyped
