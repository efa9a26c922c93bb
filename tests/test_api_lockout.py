"""Failed authentications are limited per (key prefix, address) and per address, recorded
without secrets, held in the database, and an unknown prefix costs as much as a wrong secret."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from creditgraph.api import keys
from creditgraph.api.app import create_app
from creditgraph.api.keys import KeyVerifier, create_key
from creditgraph.api.lockout import Lockout, Policy
from creditgraph.cli import keys_cmd
from creditgraph.settings import Settings, get_settings
from creditgraph.store.models import AuthEvent


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))


def _settings(tmp_path: Path, **extra: int) -> Settings:
    home = tmp_path / "home"
    return Settings(home=home, db_url=f"sqlite:///{home / 'creditgraph.db'}", **extra)  # type: ignore[arg-type]


def _client(settings: Settings, address: str = "203.0.113.7") -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False, client=(address, 5000))


def _wrong(token: str) -> str:
    return token[: token.rindex("_") + 1] + "x" * 43


def _get(client: TestClient, token: str) -> int:
    return client.get("/v1/review-queue", headers={"Authorization": f"Bearer {token}"}).status_code


def _rows(engine: Engine) -> list[tuple[str | None, str, str]]:
    with engine.connect() as conn:
        result = conn.execute(select(AuthEvent.key_prefix, AuthEvent.client, AuthEvent.outcome))
        return [(p, c, o) for p, c, o in result]


@pytest.fixture
def world(tmp_path: Path, cheap_argon2: None) -> Iterator[tuple[Settings, TestClient, str, str]]:
    settings = _settings(tmp_path)
    client = _client(settings)
    engine = client.app.state.ctx.engine  # type: ignore[attr-defined]
    officer = create_key(engine, "officer", "officer", "test").token
    other = create_key(engine, "other", "officer", "test").token
    with client:
        yield settings, client, officer, other


def test_ten_wrong_secrets_lock_the_prefix_from_that_address_with_429_and_retry_after(
    world: tuple[Settings, TestClient, str, str],
) -> None:
    settings, client, officer, other = world
    assert [_get(client, _wrong(officer)) for _ in range(10)] == [401] * 10
    locked = client.get("/v1/review-queue", headers={"Authorization": f"Bearer {officer}"})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert 890 <= int(locked.headers["Retry-After"]) <= 900
    assert _get(client, other) == 200  # another key from the same address still works
    with _client(settings, "198.51.100.9") as elsewhere:
        assert _get(elsewhere, officer) == 200  # the same key from another address too


def test_a_lock_stops_guesses_but_not_a_token_this_worker_already_verified(
    world: tuple[Settings, TestClient, str, str],
) -> None:
    """A lock-out is against guessing: the read of it is kept off the path of a known-good
    token (one this process has verified), while every other attempt meets it."""
    _, client, officer, _ = world
    assert _get(client, officer) == 200  # verified once, before the attack
    assert [_get(client, _wrong(officer)) for _ in range(10)] == [401] * 10
    assert _get(client, _wrong(officer)) == 429  # a further guess is refused unheard
    assert _get(client, officer) == 200  # the holder of the key, already verified, goes on
    engine = client.app.state.ctx.engine  # type: ignore[attr-defined]
    reads: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        reads.append(statement)

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert _get(client, officer) == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert not any("auth_events" in statement for statement in reads)


def test_failures_are_recorded_without_secrets_or_the_clear_address(
    world: tuple[Settings, TestClient, str, str],
) -> None:
    _, client, officer, _ = world
    for _ in range(10):
        _get(client, _wrong(officer))
    _get(client, "cg_zz_nonsense")
    rows = _rows(client.app.state.ctx.engine)  # type: ignore[attr-defined]
    prefix = officer.split("_")[1]
    outcomes = [o for _, _, o in rows]
    assert outcomes[:11] == ["bad_secret"] * 10 + ["locked"]
    assert rows[0][0] == prefix
    text = repr(rows)
    assert "x" * 10 not in text and "203.0.113.7" not in text and "nonsense" not in text
    assert {len(c) for _, c, _ in rows} == {32}


def test_the_lock_out_holds_for_another_worker_and_after_a_restart(
    world: tuple[Settings, TestClient, str, str],
) -> None:
    settings, client, officer, _ = world
    for _ in range(10):
        _get(client, _wrong(officer))
    with _client(settings) as restarted:
        assert _get(restarted, officer) == 429


def test_many_prefixes_from_one_address_lock_the_address(
    tmp_path: Path, cheap_argon2: None
) -> None:
    settings = _settings(tmp_path, auth_lockout_address_failures=5)
    with _client(settings) as client:
        engine = client.app.state.ctx.engine
        token = create_key(engine, "admin", "admin", "test").token
        assert [_get(client, f"cg_{i:012x}_guess") for i in range(5)] == [401] * 5
        assert _get(client, token) == 429
        assert _get(client, "cg_ffffffffffff_guess") == 429
    with _client(settings, "198.51.100.9") as elsewhere:
        assert _get(elsewhere, token) == 200


def test_a_lock_out_ends_after_its_time_and_old_failures_drop_out_of_the_window(
    engine: Engine,
) -> None:
    policy = Policy(
        failures=3,
        address_failures=100,
        window=timedelta(minutes=5),
        lockout=timedelta(minutes=15),
    )
    lockout = Lockout(engine, policy, b"k" * 32)
    client = lockout.client_id("192.0.2.1")
    start = keys._now()
    lockout.failed("abc", client, "bad_secret", start)
    lockout.failed("abc", client, "bad_secret", start + timedelta(minutes=6))
    lockout.failed("abc", client, "bad_secret", start + timedelta(minutes=7))
    assert lockout.retry_after("abc", client, start + timedelta(minutes=7)) == 0
    lockout.failed("abc", client, "bad_secret", start + timedelta(minutes=8))
    assert lockout.retry_after("abc", client, start + timedelta(minutes=8)) == 15 * 60
    assert lockout.retry_after("abd", client, start + timedelta(minutes=8)) == 0
    assert lockout.retry_after("abc", client, start + timedelta(minutes=23, seconds=1)) == 0


def test_an_unknown_prefix_costs_as_much_as_a_wrong_secret(engine: Engine) -> None:
    verifier = KeyVerifier(engine)  # real argon2 parameters
    token = create_key(engine, "app", "applicant-app", "test").token
    wrong, unknown = _wrong(token), "cg_0123456789ab_" + "x" * 43

    def timed(candidate: str) -> float:
        begin = time.perf_counter()
        assert verifier.verify(candidate) is None
        return time.perf_counter() - begin

    timed(wrong), timed(unknown)  # warm
    wrong_time = statistics.median(timed(wrong) for _ in range(5))
    unknown_time = statistics.median(timed(unknown) for _ in range(5))
    assert unknown_time > wrong_time / 3, (unknown_time, wrong_time)
    assert unknown_time < wrong_time * 3, (unknown_time, wrong_time)


def test_an_operator_lifts_a_lock_out_and_the_audit_rows_stay(
    world: tuple[Settings, TestClient, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, client, officer, _ = world
    for _ in range(10):
        _get(client, _wrong(officer))
    assert _get(client, officer) == 429
    monkeypatch.setenv("CREDITGRAPH_HOME", str(settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", settings.database_url)
    get_settings.cache_clear()
    app = typer.Typer()
    keys_cmd.register(app)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["keys", "unlock"]).exit_code == 2
        prefix = officer.split("_")[1]
        lifted = runner.invoke(app, ["keys", "unlock", "--prefix", prefix])
        assert lifted.exit_code == 0, lifted.output
        assert "lifted 1 lock-out" in lifted.output
    finally:
        get_settings.cache_clear()
    assert _get(client, officer) == 200
    outcomes = [o for _, _, o in _rows(client.app.state.ctx.engine)]  # type: ignore[attr-defined]
    assert outcomes.count("bad_secret") == 10 and outcomes.count("lifted") == 1
