"""A real browser for the workspace's tests: Debian's chromium driven by Playwright, launched by
path (nothing is downloaded), against the app served by a real uvicorn server on a free port.

Where chromium is missing the browser tests skip on a developer's machine but fail in CI
(``CI`` set), since ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("CREDITGRAPH_CHROMIUM") or shutil.which("chromium")
    if path and Path(path).exists():
        return path
    message = "chromium is not installed (apt-get install chromium; .ci/run does this)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the workspace server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium browser."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_dir(tmp_root: Path) -> Path:
    """Where screenshots go: ``CREDITGRAPH_SCREENSHOTS`` (``docs/img/web`` when the docs are
    regenerated), else the test run's temporary folder, kept as the run's artifacts."""
    folder = Path(os.environ.get("CREDITGRAPH_SCREENSHOTS") or tmp_root / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
