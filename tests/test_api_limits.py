"""Bounded requests: body size (also chunked or with a lying Content-Length), body time, JSON
depth on every POST route, and no traceback in any log when something fails."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from creditgraph.api import keys
from creditgraph.api.app import create_app
from creditgraph.api.keys import create_key
from creditgraph.api.limits import BodyLimit, RequestGuard, json_depth_exceeds
from creditgraph.settings import Settings


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, str]]:
    monkeypatch.setattr(keys, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        db_url=f"sqlite:///{home / 'creditgraph.db'}",
        api_max_body_bytes=16_384,
        api_max_json_depth=32,
    )
    app = create_app(settings)
    token = create_key(app.state.ctx.engine, "admin", "admin", "test").token
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, token


def _post_paths(client: TestClient) -> list[str]:
    spec = client.get("/openapi.json").json()
    return [
        re.sub(r"\{[^}]+\}", "x-1", path)
        for path, operations in spec["paths"].items()
        if "post" in operations
    ]


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_a_body_nested_a_thousand_deep_is_400_on_every_post_route_without_a_traceback(
    limited: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, token = limited
    paths = _post_paths(client)
    assert "/v1/applications" in paths
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with caplog.at_level(logging.DEBUG):
        for path in paths:
            for body in (_deep(1_000), b'{"a":' * 1_000 + b"1" + b"}" * 1_000):
                r = client.post(path, content=body, headers=headers)
                assert r.status_code == 400, (path, r.text)
                assert r.json()["error"]["code"] == "json_too_deep"
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


def test_brackets_inside_strings_do_not_count_as_depth(limited: tuple[TestClient, str]) -> None:
    client, token = limited
    body = {"person_id": "[[[[" * 100, "product_code": "{{" * 100}
    r = client.post("/v1/applications", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


def test_a_body_over_the_limit_is_413(limited: tuple[TestClient, str]) -> None:
    client, token = limited
    r = client.post(
        "/v1/applications",
        content=b"{" + b" " * 20_000 + b"}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


def test_a_chunked_body_over_the_limit_is_413(limited: tuple[TestClient, str]) -> None:
    client, token = limited

    def chunks() -> Iterator[bytes]:
        yield b"{"
        for _ in range(10):
            yield b" " * 2000
        yield b"}"

    r = client.post(
        "/v1/applications",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413


async def _never(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("the app must not run")


def _run(app: Any, messages: list[Message], headers: list[tuple[bytes, bytes]]) -> list[Message]:
    """Drive an ASGI app with ``messages`` as the body; a stalled client after them."""
    sent: list[Message] = []
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/applications", "headers": headers}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return sent


def _status(sent: list[Message]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def test_a_content_length_that_lies_low_still_gets_413() -> None:
    limit = BodyLimit(_never, max_bytes=1000, timeout_seconds=5, max_depth=32)
    chunks = [{"type": "http.request", "body": b" " * 600, "more_body": True}] * 3
    sent = _run(limit, chunks, [(b"content-length", b"10")])
    assert _status(sent) == 413


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    limit = BodyLimit(_never, max_bytes=1000, timeout_seconds=5, max_depth=32)
    assert _status(_run(limit, [], [(b"content-length", b"200000000")])) == 413


def test_a_body_that_trickles_in_is_cut_off_with_408() -> None:
    limit = BodyLimit(_never, max_bytes=1000, timeout_seconds=0.3, max_depth=32)
    first = [{"type": "http.request", "body": b"{", "more_body": True}]
    sent = _run(limit, first, [(b"content-length", b"100")])
    assert _status(sent) == 408
    body = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    assert body["error"]["code"] == "request_timeout"


def test_an_exception_escaping_the_app_logs_only_its_class_and_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret detail about person p-1")

    with caplog.at_level(logging.DEBUG):
        sent = _run(RequestGuard(broken), [{"type": "http.request", "body": b""}], [])
    assert _status(sent) == 500
    start = next(m for m in sent if m["type"] == "http.response.start")
    request_id = dict(start["headers"])[b"x-request-id"].decode()
    assert f"unhandled RuntimeError request_id={request_id}" in caplog.text
    assert "secret detail" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\x', max_size=4), children, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(value=JSON, limit=st.integers(min_value=1, max_value=8))
def test_the_depth_scan_agrees_with_a_parse(value: Any, limit: int) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth_exceeds(raw, limit) == (_depth(value) > limit)
