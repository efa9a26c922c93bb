"""Slow clients against a real ``creditgraph serve`` on 127.0.0.1: a client that trickles its
headers or its body is cut off after the configured timeout instead of holding a connection."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from creditgraph.settings import Settings
from tests.real_server import running_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0


@pytest.fixture
def server(sqlite_settings: Settings, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    log_path = tmp_path / "server.log"
    timeouts = {
        "CREDITGRAPH_API_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "CREDITGRAPH_API_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }
    with running_server(sqlite_settings, log_path, timeouts) as port:
        yield port, log_path


def _trickle(port: int, first: bytes, drip: bytes, limit: float) -> tuple[float, bytes]:
    """Open several connections, send ``first`` then ``drip`` every 0.2 s on each; return the
    time until the server closed the last one (or ``limit``) and what one of them received."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=limit) for _ in range(5)]
    start = time.monotonic()
    received = b""
    try:
        for s in socks:
            s.sendall(first)
            s.setblocking(False)
        open_ = set(range(len(socks)))
        while open_ and time.monotonic() - start < limit:
            for i in list(open_):
                try:
                    data = socks[i].recv(4096)
                except BlockingIOError:
                    try:
                        socks[i].sendall(drip)
                    except OSError:
                        open_.discard(i)
                    continue
                except OSError:
                    open_.discard(i)
                    continue
                if data:
                    received = received or data
                else:
                    open_.discard(i)
            time.sleep(0.2)
        return time.monotonic() - start, received if not open_ else b"still open"
    finally:
        for s in socks:
            s.close()


def test_connections_that_trickle_headers_are_closed_after_the_header_timeout(
    server: tuple[int, Path],
) -> None:
    port, _ = server
    elapsed, received = _trickle(
        port, b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n", b"X-Slow: 1\r\n", limit=8
    )
    assert received != b"still open"
    assert elapsed < HEADER_TIMEOUT + 3
    assert received.startswith(b"HTTP/1.1 408")
    assert httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200


def test_a_body_that_trickles_is_answered_408_after_the_body_timeout(
    server: tuple[int, Path],
) -> None:
    port, log_path = server
    head = (
        b"POST /v1/applications HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    )
    elapsed, received = _trickle(port, head, b" ", limit=8)
    assert received != b"still open"
    assert elapsed < BODY_TIMEOUT + 3
    assert received.startswith(b"HTTP/1.1 408")
    assert b"request_timeout" in received
    assert "Traceback" not in log_path.read_text()
