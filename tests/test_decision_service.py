"""The decision service on a small simulated world: decide, store, explain, review, batch.

One world (module scope) serves every test: simulate, ingest, train, promote, build the online
feature table. Each test works through ``DecisionService`` only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from creditgraph.decision.batch import BatchInputError
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.service import (
    DecisionService,
    NotFoundError,
    ReviewStateError,
    UnknownPersonError,
)
from creditgraph.features.catalogue import social_feature_names
from creditgraph.scoring import registry
from creditgraph.scoring.models import LoadedModel
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import Consent, DecisionEvent, OnlineFeatures, table_of
from tests.scored_world import scored_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return scored_world(tmp_path_factory.mktemp("decisions"), people=1500, seed=11)


@pytest.fixture(scope="module")
def engine(world: Settings) -> Iterator[Engine]:
    db = make_engine(world.database_url)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def service(engine: Engine, world: Settings) -> DecisionService:
    return DecisionService(engine, world)


def _people(engine: Engine, limit: int = 400) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(OnlineFeatures.person_id).order_by(OnlineFeatures.person_id).limit(limit)
            ).scalars()
        )


def _find(service: DecisionService, engine: Engine, outcome: str) -> dict[str, Any]:
    for person in _people(engine):
        record = service.decide_for(person, "XFD-MED", "8000", 12, purpose="medical")
        if record["outcome"] == outcome:
            return record
    pytest.fail(f"no {outcome} among the first people")


def test_a_decision_is_stored_with_everything_that_explains_it(
    service: DecisionService, engine: Engine
) -> None:
    record = _find(service, engine, "approve")
    assert record == service.get(record["id"])
    assert record["social_data_used"] is True
    assert record["model_id"].startswith("scorecard-")
    assert len(record["inputs_hash"]) == 64 and len(record["policy"]["hash"]) == 64
    assert record["catalogue"]["version"] and record["config"]["hash"]
    assert (
        record["feature_snapshot_id"].startswith("fs1-")
        and record["features_as_of"] == "2026-06-30"
    )
    assert 1 <= len(record["reasons"]) <= 4
    assert all(r["zh"] and r["en"] for r in record["reasons"])
    assert any(r["id"] == "SC-APPROVE" for r in record["fired_rules"])
    (offer,) = record["offers"]
    assert offer["schedule"]["rows"] and isinstance(offer["amount"], str)
    assert float(offer["all_in_rate"]) <= float(offer["rate_cap"])
    assert record["reviews"] == []
    events = service.events(record["id"])
    assert [e["event"] for e in events] == ["decided"]
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT amount_fen, limit_fen FROM decisions WHERE id = :i"), {"i": record["id"]}
        ).one()
    assert stored.amount_fen == 800_000 and isinstance(stored.limit_fen, int)


def test_a_decision_can_never_be_altered(service: DecisionService, engine: Engine) -> None:
    record = _find(service, engine, "decline")
    with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(
            text("UPDATE decisions SET outcome = 'approve' WHERE id = :i"), {"i": record["id"]}
        )
    assert not hasattr(service, "update") and service.get(record["id"])["outcome"] == "decline"


def test_without_consent_the_decision_uses_no_social_data(
    service: DecisionService, engine: Engine
) -> None:
    person = _people(engine)[-1]
    consents = table_of(Consent)
    with engine.begin() as conn:
        conn.execute(
            update(consents)
            .where(consents.c.person_id == person, consents.c.purpose == "credit_assessment")
            .values(revoked_at=datetime(2026, 7, 1))
        )
    record = service.decide_for(person, "XFD-MED", "5000", 12)
    assert record["social_data_used"] is False
    assert any(r["id"] == "KO-CONSENT" for r in record["fired_rules"])
    with engine.connect() as conn:
        (inputs,) = conn.execute(
            text("SELECT inputs FROM decisions WHERE id = :i"), {"i": record["id"]}
        ).one()
    inputs = inputs if isinstance(inputs, dict) else json.loads(inputs)
    assert not {"degree", "social_age_days", "consented_sources"} & set(inputs)
    assert inputs["consent_credit_assessment"] is False and inputs["score_uses_social"] is False
    assert "pagerank" in social_feature_names() and "account_age_days" not in social_feature_names()
    # scored by the champion trained without social data, which has no social input at all
    private = registry.champion(engine, registry.NO_SOCIAL)
    assert record["model_id"] == private.id != registry.champion(engine).id
    assert not set(LoadedModel(private).features) & social_feature_names()
    # with consent, the social champion scores the same kind of application
    other = _people(engine)[0]
    assert service.decide_for(other, "XFD-MED", "5000", 12)["model_id"] == (
        registry.champion(engine).id
    )


def test_without_a_no_social_champion_the_social_one_scores_masked_inputs(
    world: Settings, engine: Engine
) -> None:
    person = _people(engine)[-2]
    consents = table_of(Consent)
    private = registry.champion(engine, registry.NO_SOCIAL)
    with engine.begin() as conn:
        conn.execute(
            update(consents)
            .where(consents.c.person_id == person, consents.c.purpose == "credit_assessment")
            .values(revoked_at=datetime(2026, 7, 1))
        )
        conn.execute(
            text("UPDATE model_versions SET status = 'retired' WHERE id = :i"), {"i": private.id}
        )
    try:
        record = DecisionService(engine, world).decide_for(person, "XFD-MED", "5000", 12)
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE model_versions SET status = 'champion' WHERE id = :i"),
                {"i": private.id},
            )
    assert record["model_id"] == registry.champion(engine).id
    assert record["social_data_used"] is False


def test_a_referral_opens_a_review_that_an_officer_takes_and_approves(
    service: DecisionService, engine: Engine
) -> None:
    record = _find(service, engine, "refer")
    (review,) = record["reviews"]
    assert review["kind"] == "referral" and review["status"] == "open"
    assert review["id"] in {r["id"] for r in service.review_queue("open")}
    taken = service.take(review["id"], "officer-7")
    assert taken["status"] == "taken" and taken["taken_by"] == "officer-7"
    with pytest.raises(ReviewStateError, match="not open"):
        service.take(review["id"], "officer-8")
    with pytest.raises(ReviewStateError, match="another officer"):
        service.resolve(review["id"], "officer-8", True, "mine now")
    done = service.resolve(review["id"], "officer-7", True, "income verified by payslip")
    assert done["status"] == "approved" and done["resolution_note"] == "income verified by payslip"
    with pytest.raises(ReviewStateError, match="already approved"):
        service.resolve(review["id"], "officer-7", False, "changed my mind")
    assert review["id"] not in {r["id"] for r in service.review_queue("open")}
    events = [(e["event"], e["actor"]) for e in service.events(record["id"])]
    assert events == [
        ("decided", "decision-engine"),
        ("review_opened:referral", "decision-engine"),
        ("review_taken", "officer-7"),
        ("review_approved", "officer-7"),
    ]
    again = service.get(record["id"])
    assert again["outcome"] == "refer"  # the record as decided; the review holds the result
    assert again["reviews"][0]["status"] == "approved"


def test_a_borrower_can_ask_for_a_human_review(service: DecisionService, engine: Engine) -> None:
    record = _find(service, engine, "decline")
    asked = service.request_review(record["id"], "applicant-42", "my income is higher")
    assert asked["kind"] == "borrower_request" and asked["status"] == "open"
    with pytest.raises(ReviewStateError, match="already has a pending"):
        service.request_review(record["id"], "applicant-42")
    declined = service.resolve(asked["id"], "officer-1", False, "overdue elsewhere confirmed")
    assert declined["status"] == "declined" and declined["taken_by"] == "officer-1"
    events = [e["event"] for e in service.events(record["id"])]
    assert events[1:] == [
        "review_opened:borrower_request",
        "review_taken",
        "review_declined",
    ]
    with pytest.raises(NotFoundError, match="no decision 'dec_nope'"):
        service.request_review("dec_nope", "applicant-42")
    with pytest.raises(NotFoundError, match="no review request"):
        service.take("rv_nope", "officer-1")


def test_bad_requests_are_refused_and_nothing_is_stored(
    service: DecisionService, engine: Engine
) -> None:
    person = _people(engine)[0]
    events = table_of(DecisionEvent)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM decisions")).scalar_one()
    with pytest.raises(UnknownPersonError, match="unknown person 'nobody'"):
        service.decide_for("nobody", "XFD-MED", "5000", 12)
    with pytest.raises(DecisionInputError, match="unknown product 'NOPE'") as exc:
        service.decide_for(person, "NOPE", "5000", 12)
    assert exc.value.field == "product_code"
    with pytest.raises(DecisionInputError, match="outside XFD-MED's range"):
        service.decide_for(person, "XFD-MED", "500000", 12)
    with pytest.raises(DecisionInputError, match="not a term of XFD-MED") as exc:
        service.decide_for(person, "XFD-MED", "5000", 7)
    assert exc.value.field == "term_months"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM decisions")).scalar_one() == before
        assert conn.execute(select(events.c.id).where(events.c.decision_id == "x")).first() is None


def test_a_batch_reports_bad_rows_and_decides_the_good_ones(
    service: DecisionService, engine: Engine, tmp_path: Path
) -> None:
    a, b = _people(engine)[:2]
    path = tmp_path / "apps.csv"
    path.write_text(
        "person,product,amount,term,purpose\n"
        f"{a},XFD-MED,5000,12,medical\n"
        f"nobody,XFD-MED,5000,12,medical\n"
        f"{b},NOPE,5000,12,\n"
        f"{b},XFD-MED,lots,12,medical\n"
        f"{b},XFD-MED,5000,7,medical\n"
        f"{b},XFD-EDU,3000,6,education\n"
        f",XFD-MED,5000,12,medical\n",
        encoding="utf-8",
    )
    result = service.decide_batch(path)
    assert result.row_numbers == [1, 6]
    assert [d["person_id"] for d in result.decisions] == [a, b]
    problems = [(e.row, e.field, e.rule) for e in result.errors]
    assert problems == [
        (2, "person", "unknown_person"),
        (3, "product_code", "invalid"),
        (4, "amount", "number"),
        (5, "term_months", "invalid"),
        (7, "person", "required"),
    ]
    assert all(e.file == str(path) for e in result.errors)
    assert service.get(result.decisions[0]["id"])["product_code"] == "XFD-MED"
    parallel = service.decide_batch(path, chunk=2, workers=2, compact=True)
    assert parallel.row_numbers == result.row_numbers
    assert [(e.row, e.field, e.rule) for e in parallel.errors] == problems
    assert [d["outcome"] for d in parallel.decisions] == [d["outcome"] for d in result.decisions]
    with pytest.raises(BatchInputError, match="no such file"):
        service.decide_batch(tmp_path / "missing.csv")
    bad = tmp_path / "cols.csv"
    bad.write_text("who,what\nx,y\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="missing column"):
        service.decide_batch(bad)


def test_over_http_a_decision_is_stored_once_replayed_and_private(
    world: Settings, engine: Engine
) -> None:
    """The real service behind the real app: 201 with offers, idempotent replay, isolation."""
    from fastapi.testclient import TestClient

    from creditgraph.api.app import create_app
    from creditgraph.api.keys import create_key

    app_a = create_key(engine, "app-a", "applicant-app", "admin").token
    app_b = create_key(engine, "app-b", "applicant-app", "admin").token
    officer = create_key(engine, "officer-1", "officer", "admin").token
    person = _people(engine, 1)[0]
    body = {
        "person_id": person,
        "product_code": "XFD-MED",
        "amount": "8000",
        "term": 12,
        "purpose": "medical",
    }
    with TestClient(create_app(world)) as client:
        headers = {"Authorization": f"Bearer {app_a}", "Idempotency-Key": "order-1"}
        first = client.post("/v1/applications", json=body, headers=headers)
        assert first.status_code == 201, first.text
        decision = first.json()
        assert decision["outcome"] in ("approve", "decline", "refer")
        assert decision["model_id"] and decision["inputs_hash"]
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM decisions")).scalar_one()
        again = client.post("/v1/applications", json=body, headers=headers)
        assert again.status_code == 201 and again.json() == decision
        assert again.headers.get("Idempotent-Replayed") == "true"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM decisions")).scalar_one() == stored
        changed = client.post("/v1/applications", json={**body, "term": 6}, headers=headers)
        assert changed.status_code == 409
        own = client.get(
            f"/v1/decisions/{decision['id']}", headers={"Authorization": f"Bearer {app_a}"}
        )
        assert own.status_code == 200 and own.json()["id"] == decision["id"]
        other = client.get(
            f"/v1/decisions/{decision['id']}", headers={"Authorization": f"Bearer {app_b}"}
        )
        assert other.status_code == 404
        queue = client.get("/v1/review-queue", headers={"Authorization": f"Bearer {officer}"})
        assert queue.status_code == 200 and "items" in queue.json()
        denied = client.get("/v1/review-queue", headers={"Authorization": f"Bearer {app_a}"})
        assert denied.status_code == 403
        # the borrower asks for a person to look again; an officer takes and resolves it
        asked = client.post(
            f"/v1/decisions/{decision['id']}/review-requests",
            json={"note": "please have a person look at my application"},
            headers={"Authorization": f"Bearer {app_a}"},
        )
        assert asked.status_code == 201, asked.text
        officer_h = {"Authorization": f"Bearer {officer}"}
        queue = client.get("/v1/review-queue", headers=officer_h).json()["items"]
        request_id = next(
            r["id"]
            for r in queue
            if r["decision_id"] == decision["id"] and r["kind"] == "borrower_request"
        )
        not_yours = client.post(
            f"/v1/review-requests/{request_id}/take", headers={"Authorization": f"Bearer {app_a}"}
        )
        assert not_yours.status_code == 403
        taken = client.post(f"/v1/review-requests/{request_id}/take", headers=officer_h)
        assert taken.status_code == 200 and taken.json()["status"] == "taken", taken.text
        no_note = client.post(
            f"/v1/review-requests/{request_id}/resolve", json={"approve": True}, headers=officer_h
        )
        assert no_note.status_code == 422
        verdict = {"approve": False, "note": "income not verified"}
        resolved = client.post(
            f"/v1/review-requests/{request_id}/resolve", json=verdict, headers=officer_h
        )
        assert resolved.status_code == 200 and resolved.json()["status"] == "declined"
        twice = client.post(
            f"/v1/review-requests/{request_id}/resolve", json=verdict, headers=officer_h
        )
        assert twice.status_code == 409
        missing = client.post("/v1/review-requests/nope/take", headers=officer_h)
        assert missing.status_code == 404
    events = [e["event"] for e in DecisionService(engine, world).events(decision["id"])]
    assert any(e.startswith("review_opened:borrower_request") for e in events)
    assert any("declined" in e for e in events) and any("taken" in e for e in events)


class _Refused(RuntimeError):
    """Raised by a ``within`` callback to prove the write rolls back with it."""


def _count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_within_runs_in_the_decision_transaction_and_its_failure_stores_nothing(
    service: DecisionService, engine: Engine
) -> None:
    person = _people(engine)[3]
    seen: list[tuple[str, int]] = []

    def sees_the_record(conn: Connection, answer: dict[str, Any]) -> None:
        stored = conn.execute(
            text("SELECT count(*) FROM decisions WHERE id = :i"), {"i": answer["id"]}
        ).scalar_one()
        seen.append((answer["id"], stored))

    record = service.decide_for(person, "XFD-MED", "5000", 12, within=sees_the_record)
    assert seen == [(record["id"], 1)]
    assert service.get(record["id"])["id"] == record["id"]

    decisions = _count(engine, "SELECT count(*) FROM decisions")
    events = _count(engine, "SELECT count(*) FROM decision_events")
    reviews = _count(engine, "SELECT count(*) FROM review_requests")
    refused: list[str] = []

    def refuses(conn: Connection, answer: dict[str, Any]) -> None:
        refused.append(answer["id"])
        raise _Refused("no")

    with pytest.raises(_Refused):
        service.decide_for(person, "XFD-MED", "5000", 12, within=refuses)
    (lost,) = refused
    assert _count(engine, "SELECT count(*) FROM decisions WHERE id = :i", i=lost) == 0
    assert (
        _count(engine, "SELECT count(*) FROM decision_events WHERE decision_id = :i", i=lost) == 0
    )
    assert _count(engine, "SELECT count(*) FROM decisions") == decisions
    assert _count(engine, "SELECT count(*) FROM decision_events") == events
    assert _count(engine, "SELECT count(*) FROM review_requests") == reviews
    with pytest.raises(NotFoundError):
        service.get(lost)


def test_within_rolls_back_a_review_request_and_a_resolution(
    service: DecisionService, engine: Engine
) -> None:
    record = _find(service, engine, "decline")
    pending = "SELECT count(*) FROM review_requests WHERE decision_id = :i"

    def refuses(conn: Connection, answer: dict[str, Any]) -> None:
        raise _Refused(answer["id"])

    with pytest.raises(_Refused):
        service.request_review(record["id"], "applicant-9", "look again", within=refuses)
    assert _count(engine, pending, i=record["id"]) == 0
    assert [e["event"] for e in service.events(record["id"])] == ["decided"]

    answers: list[dict[str, Any]] = []
    asked = service.request_review(
        record["id"], "applicant-9", "look again", within=lambda _c, a: answers.append(a)
    )
    assert answers == [asked] and asked["status"] == "open"

    with pytest.raises(_Refused):
        service.resolve(asked["id"], "officer-3", True, "verified", within=refuses)
    assert service.get(record["id"])["reviews"][0]["status"] == "open"
    assert [e["event"] for e in service.events(record["id"])] == [
        "decided",
        "review_opened:borrower_request",
    ]

    done = service.resolve(
        asked["id"], "officer-3", True, "verified", within=lambda _c, a: answers.append(a)
    )
    assert answers[-1] == done and done["status"] == "approved"


def test_a_submitted_id_is_resolved_in_the_lookup_read_as_the_api_resolves_it(
    service: DecisionService, engine: Engine
) -> None:
    """``pseudonym_of``: a known pseudonym as it is, else the keyed pseudonym of the lender's
    id (stored only encrypted, so never looked up by its text)."""
    from creditgraph.features.store import resolve_person
    from tests.identities import identity

    person = _people(engine)[5]
    external = identity(engine, person).external_id
    asked: list[str] = []

    def pseudonym_of(submitted: str) -> str:
        asked.append(submitted)
        return person if submitted in (external, "lender-alias") else f"p-{submitted}"

    for submitted in (person, external, "lender-alias"):
        assert resolve_person(engine, submitted, pseudonym_of) == person
        record = service.decide_for(submitted, "XFD-MED", "5000", 12, pseudonym_of=pseudonym_of)
        assert record["person_id"] == person
        assert service.get(record["id"])["person_id"] == person
    assert person not in asked  # a known pseudonym is taken as it is
    assert asked == [external, external, "lender-alias", "lender-alias"]

    plain = service.decide_for(person, "XFD-MED", "5000", 12)
    by_lender_id = service.decide_for(external, "XFD-MED", "5000", 12, pseudonym_of=pseudonym_of)
    assert by_lender_id["inputs_hash"] == plain["inputs_hash"]
    assert by_lender_id["outcome"] == plain["outcome"]
    with pytest.raises(UnknownPersonError, match="unknown person 'p-nobody'"):
        service.decide_for("nobody", "XFD-MED", "5000", 12, pseudonym_of=pseudonym_of)
    with pytest.raises(UnknownPersonError, match="unknown person 'nobody'"):
        service.decide_for("nobody", "XFD-MED", "5000", 12)
