"""``creditgraph serve`` for real: a subprocess on a free loopback port, ready when it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from creditgraph.settings import Settings
from creditgraph.store.db import make_engine, upgrade
from tests.conftest import REPO_ROOT
from tests.log_guard import check_text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    settings: Settings, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[int]:
    """The port of a server on ``settings``' database (migrated first), stopped on exit."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    environment = os.environ | {
        "CREDITGRAPH_HOME": str(settings.home),
        "CREDITGRAPH_DB_URL": settings.database_url,
        **(env or {}),
    }
    command = [sys.executable, "-m", "creditgraph.cli.serve_cmd", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90  # a shared, loaded machine can take this long
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    check_text(log_path.read_text(errors="replace"), f"the server log {log_path.name}")
