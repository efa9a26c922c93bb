"""schemathesis against ``/openapi.json``: every operation, with a key of every role, on the
real app (real decision and loan services on a small scored world). No server error and no
response that the schema does not describe (status, content type, headers, body).

Bounded: a few derandomised examples per operation and role, no shrinking, so the run stays
within a couple of minutes on two cores and gives the same cases on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from creditgraph.api.app import create_app
from creditgraph.api.keys import Role, create_key
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
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    settings_ = scored_world(tmp_path_factory.mktemp("schemathesis"), people=600, seed=5)
    app = create_app(settings_)
    engine = app.state.ctx.engine
    tokens = {role.value: create_key(engine, role.value, role.value, "test").token for role in Role}
    with TestClient(app):  # run the lifespan: the models are loaded once
        yield app, tokens


def _run(operation: Any, token: str) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=CHECKS)

    check()


def test_every_operation_answers_as_its_schema_says_for_every_role(
    world: tuple[Any, dict[str, str]],
) -> None:
    app, tokens = world
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:
        for role, token in tokens.items():
            try:
                _run(operation, token)
            except Exception as exc:
                failures.append(f"{operation.label} as {role}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
