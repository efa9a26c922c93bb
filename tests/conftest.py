"""Shared fixtures: a fresh home and database per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine, upgrade

pytest_plugins = ["tests.log_guard", "pytester"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
POSTGRES_URL = os.environ.get("CREDITGRAPH_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("CREDITGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a clean skip when the folder is not beside the project."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture(autouse=True)
def fresh_process_settings() -> Iterator[None]:
    """Every CLI run reads the process-wide settings (the root command checks the home), so
    each test starts and ends with them unread: a home set by one test never leaks into the next."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'home' / 'creditgraph.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for one test."""
    if not POSTGRES_URL:
        pytest.skip("CREDITGRAPH_TEST_POSTGRES_URL is not set")
    admin_url = make_url(POSTGRES_URL)
    name = f"cg_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema at head (a module may narrow ``db_url``)."""
    db = make_engine(db_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", db_url=db_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return Settings(home=tmp_path / "home", db_url=sqlite_url)


@pytest.fixture
def redis_client() -> Any:
    """A client of the test Redis server: a skip locally when none answers, a failure in CI."""
    in_ci = os.environ.get("CI") == "true"
    try:
        import redis
    except ImportError:
        if in_ci:
            pytest.fail("the redis client is not installed")
        pytest.skip("the redis client is not installed")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        if in_ci:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return client


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The workspace on a copy of the small demo home (tests/web_world.py), one per module."""
    from tests.web_world import copy_home, open_workspace, pristine_home

    source = pristine_home(tmp_path_factory)
    target = tmp_path_factory.mktemp("workspace") / "home"
    copy_home(source, target)
    yield from open_workspace(target)
