"""A small demo home for the workspace's tests: the whole demo (world, ingest, features, models,
decisions with referrals, loans through a year of day ends, monitoring alerts, audit log) at 400
people, built once per test run and copied for each test module that writes.

The build is shared between the xdist workers of one run through a lock file in their common
temporary folder, keyed on the run's id, so a run pays for it once and never reuses a home an
earlier run (on older code) built. ``workspace`` gives a running app with one user per role.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditgraph.settings import Settings

PEOPLE = 400
SEED = 7
PASSWORD = "correct horse battery staple"
ROLES = ("officer", "analyst", "auditor", "admin")


def pristine_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo home, built on first use by whichever worker gets the lock first."""
    from rich.console import Console

    from creditgraph.demo import run_demo

    # one build per test run: the workers of one xdist run share their parent folder (keyed on
    # the run's id), a run without xdist has its own base folder; never an earlier run's home
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent / f"creditgraph-web-world-{run}") if run else base / "web-world"
    shared.mkdir(exist_ok=True)
    home = shared / "home"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / "done").exists():
                if home.exists():
                    shutil.rmtree(home)
                run_demo(Settings(home=home), PEOPLE, SEED, Console(file=io.StringIO()))
                (shared / "done").write_text("ok")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return home


def copy_home(source: Path, target: Path) -> Settings:
    shutil.copytree(source, target)
    return Settings(home=target)


@dataclass
class Workspace:
    settings: Settings
    app: Any
    users: dict[str, str] = field(default_factory=dict)
    """role -> user name (each with ``PASSWORD``)."""

    def client(self, role: str | None = None) -> TestClient:
        """A client on http://testserver, logged in as ``role``'s user (None: logged out)."""
        client = TestClient(self.app, base_url="http://testserver")
        if role is not None:
            login(client, self.users[role])
        return client

    @property
    def engine(self) -> Any:
        return self.app.state.ctx.engine


def login(client: TestClient, name: str, password: str = PASSWORD) -> None:
    answer = client.post(
        "/login", data={"name": name, "password": password}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text


def csrf_of(client: TestClient, path: str = "/portfolio") -> str:
    """The session's CSRF token, as a page's forms carry it."""
    import re

    html = client.get(path).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def open_workspace(home: Path) -> Iterator[Workspace]:
    from creditgraph.api.app import create_app
    from creditgraph.web.users import UserStore

    settings = Settings(home=home)
    app = create_app(settings)
    store = UserStore(app.state.ctx.engine)
    users: dict[str, str] = {}
    for role in ROLES:
        name = f"test-{role}"
        if store.by_name(name) is None:
            store.create(name, role, PASSWORD, "tests")
        users[role] = name
    with TestClient(app):
        yield Workspace(settings, app, users)
