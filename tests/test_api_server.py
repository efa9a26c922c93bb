"""The API for real: uvicorn in a subprocess over real HTTP, and the real decision service."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from creditgraph.api.app import create_app
from creditgraph.api.keys import create_key
from creditgraph.settings import Settings
from tests.real_server import running_server


@pytest.fixture
def server(sqlite_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path / "server.log"
    with running_server(sqlite_settings, log_path) as port:
        yield f"http://127.0.0.1:{port}", log_path


def test_real_server_health_and_auth_failure(server: tuple[str, Path]) -> None:
    base, log_path = server
    with httpx.Client(base_url=base, timeout=5) as client:
        health = client.get("/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        missing = client.get("/v1/review-queue?person=p-secret")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_api_key"
        wrong = client.get("/v1/review-queue", headers={"Authorization": "Bearer cg_abc_def"})
        assert wrong.status_code == 401
        assert "server" not in wrong.headers
        assert client.get("/docs").status_code == 200
    time.sleep(0.2)
    log = log_path.read_text()
    assert "GET /v1/review-queue 401" in log
    assert "p-secret" not in log


def test_real_decision_service_through_http(sqlite_settings: Settings) -> None:
    """Bad input reaches the real service and comes back as 4xx, storing nothing."""
    if importlib.util.find_spec("creditgraph.decision.service") is None:
        pytest.skip("creditgraph.decision.service is not available yet")
    from creditgraph.store.models import DecisionRecord  # lands with the service

    app = create_app(sqlite_settings)
    engine = app.state.ctx.engine
    token = create_key(engine, "app", "applicant-app", "test").token
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    body = {
        "person_id": "nobody",
        "product_code": "NO_SUCH_PRODUCT",
        "amount": "20000.00",
        "term": 12,
        "purpose": "general",
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/applications", json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "product_code"
        codes = app.state.ctx.service().products.codes
        r = client.post("/v1/applications", json=body | {"product_code": codes[0]}, headers=headers)
        assert r.status_code in (404, 422), r.text
        assert r.json()["error"]["code"] in ("unknown_person", "invalid_application")
        assert client.get("/v1/decisions/nope", headers=headers).status_code == 404
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DecisionRecord)).scalar_one() == 0


def test_real_server_refuses_deep_and_huge_bodies_without_a_traceback(
    server: tuple[str, Path],
) -> None:
    base, log_path = server
    with httpx.Client(base_url=base, timeout=10) as client:
        deep = client.post("/v1/applications", content=b"[" * 1000 + b"]" * 1000)
        assert deep.status_code == 400
        assert deep.json()["error"]["code"] == "json_too_deep"
        assert deep.headers["x-request-id"]

        def huge() -> Iterator[bytes]:
            for _ in range(2048):
                yield b" " * 1024

        big = client.post("/v1/applications", content=huge())
        assert big.status_code == 413
    time.sleep(0.2)
    log = log_path.read_text()
    assert "Traceback" not in log
    assert f"request_id={deep.headers['x-request-id']}" in log
