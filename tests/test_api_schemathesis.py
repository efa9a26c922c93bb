"""schemathesis against ``/openapi.json``: every operation, with a key of every role, on the
real app (real decision and loan services on a small scored world). No server error and no
response that the schema does not describe (status, content type, headers, body).

Each operation runs, for every role, with valid data and random ids (mostly 404), with invalid
data (negative mode), and with valid data on ids seeded to exist (a decision with a review
request, its loan disbursed, a repayment intent). Bounded: a few derandomised examples per pass,
no shrinking, so the run stays within a couple of minutes on two cores and repeats exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from creditgraph.api.app import create_app
from creditgraph.api.keys import Role, create_key
from creditgraph.audit import keyfile
from tests.loan_world import insert_decision
from tests.scored_world import scored_world

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings_ = scored_world(tmp_path_factory.mktemp("schemathesis"), people=600, seed=5)
    keyfile.load_or_create(settings_.keys_dir)  # the operator makes the audit log's key
    app = create_app(settings_)
    engine = app.state.ctx.engine
    keys = {role.value: create_key(engine, role.value, role.value, "test") for role in Role}
    tokens = {role: created.token for role, created in keys.items()}
    with TestClient(app) as client:  # the lifespan runs: the models are loaded once
        ids = _seed(client, engine, tokens, keys["applicant-app"].info.id)
        yield World(app, tokens, ids)


@dataclass
class World:
    app: Any
    tokens: dict[str, str]
    ids: dict[str, str]  # path parameter -> an id that exists


def _seed(client: TestClient, engine: Any, tokens: dict[str, str], app_key: int) -> dict[str, str]:
    """A decision of the applicant app with a review request, its loan disbursed, an intent."""

    def as_(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    decision = insert_decision(engine, applicant_ref=str(app_key))
    review = client.post(f"/v1/decisions/{decision}/review-requests", headers=as_("applicant-app"))
    assert review.status_code == 201, review.text
    loan = client.post("/v1/loans", json={"decision_id": decision}, headers=as_("applicant-app"))
    assert loan.status_code == 201, loan.text
    loan_id = loan.json()["loan_id"]
    paid_out = client.post(
        f"/v1/loans/{loan_id}/disbursements",
        json={"business_date": "2026-07-01"},
        headers=as_("officer"),
    )
    assert paid_out.status_code == 201, paid_out.text
    intent = client.post(
        f"/v1/loans/{loan_id}/repayment-intents",
        json={"amount": "100.00", "method": "bank_card"},
        headers=as_("applicant-app"),
    )
    assert intent.status_code == 201, intent.text
    return {
        "decision_id": decision,
        "request_id": str(review.json()["id"]),
        "loan_id": loan_id,
        "transaction_id": str(paid_out.json()["transaction_id"]),
        "intent_id": str(intent.json()["intent_id"]),
    }


def _run(operation: Any, token: str, mode: Any, path: dict[str, str] | None) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # only a negative case may be impossible (nothing to make invalid)


def _passes(operation: Any, ids: dict[str, str]) -> list[tuple[Any, dict[str, str] | None]]:
    """Random ids (mostly 404), then the seeded ids where the path has any, each mode."""
    names = {p.name for p in operation.path_parameters}
    seeded = {name: ids[name] for name in names if name in ids} or None
    passes: list[tuple[Any, dict[str, str] | None]] = [
        (GenerationMode.POSITIVE, None),
        (GenerationMode.NEGATIVE, None),
    ]
    if seeded:
        passes.append((GenerationMode.POSITIVE, seeded))
    return passes


def test_every_operation_answers_as_its_schema_says_for_every_role(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:
        for role, token in world.tokens.items():
            for mode, path in _passes(operation, world.ids):
                try:
                    _run(operation, token, mode, path)
                except Exception as exc:
                    where = "seeded ids" if path else "random ids"
                    label = f"{operation.label} as {role}, {mode.value}, {where}"
                    failures.append(f"{label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
