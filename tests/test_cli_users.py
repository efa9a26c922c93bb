"""``creditgraph users``: create (password as an option or on standard input), list, disable,
reset; clear errors for bad names, roles and passwords; only argon2 hashes stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import WebUser, WorkspaceAction, table_of
from creditgraph.web.users import UserStore

PASSWORD = "a long enough password"


@pytest.fixture
def home(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(sqlite_settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", sqlite_settings.database_url)
    get_settings.cache_clear()
    engine = make_engine(sqlite_settings.database_url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_create_with_an_option_or_standard_input_and_list(home: Engine) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app, ["users", "create", "--name", "li.wei", "--role", "officer", "--password", PASSWORD]
    )
    assert made.exit_code == 0, made.output
    piped = runner.invoke(
        app, ["users", "create", "--name", "zhang", "--role", "auditor"], input=PASSWORD + "\n"
    )
    assert piped.exit_code == 0, piped.output
    listed = runner.invoke(app, ["users", "list"])
    assert "li.wei" in listed.output and "auditor" in listed.output
    assert PASSWORD not in listed.output
    with home.connect() as conn:
        hashes = conn.execute(select(table_of(WebUser).c.password_hash)).scalars().all()
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    store = UserStore(home)
    assert store.authenticate("zhang", PASSWORD).outcome == "ok"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x y", "--role", "officer"], "user name"),
        (["--name", "wang", "--role", "root"], "unknown role"),
        (["--name", "wang", "--role", "analyst", "--password", "short"], "at least 12"),
    ],
)
def test_bad_requests_exit_2_with_the_rule_and_store_nothing(
    home: Engine, args: list[str], message: str
) -> None:
    answer = CliRunner().invoke(app, ["users", "create", *args], input=PASSWORD + "\n")
    assert answer.exit_code == 2
    assert message in answer.output and "Traceback" not in answer.output
    assert UserStore(home).list() == []


def test_a_second_user_of_the_same_name_is_refused(home: Engine) -> None:
    runner = CliRunner()
    args = ["users", "create", "--name", "chen", "--role", "admin", "--password", PASSWORD]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output


def test_disable_and_reset_are_recorded_and_take_effect(home: Engine) -> None:
    runner = CliRunner()
    runner.invoke(
        app, ["users", "create", "--name", "liu", "--role", "analyst", "--password", PASSWORD]
    )
    assert runner.invoke(app, ["users", "disable", "liu"]).exit_code == 0
    store = UserStore(home)
    assert store.authenticate("liu", PASSWORD).outcome == "bad_credentials"
    new = "another long password"
    reset = runner.invoke(app, ["users", "reset", "liu", "--password", new])
    assert reset.exit_code == 0, reset.output
    assert store.authenticate("liu", PASSWORD).outcome == "bad_credentials"
    assert store.authenticate("liu", new).outcome == "ok"
    assert runner.invoke(app, ["users", "disable", "nobody"]).exit_code == 2
    with home.connect() as conn:
        done = conn.execute(select(table_of(WorkspaceAction).c.action)).scalars().all()
    assert {"user.create", "user.disable", "user.reset", "login"} <= set(done)
