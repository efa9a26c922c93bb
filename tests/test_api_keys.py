"""API keys: only an argon2 hash is stored, tokens verify, revoked keys stop working; the CLI."""

from __future__ import annotations

import pytest
import typer
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from creditgraph.api.keys import (
    KeyStoreError,
    KeyVerifier,
    Role,
    create_key,
    list_keys,
    parse_token,
    revoke_key,
)
from creditgraph.cli import keys_cmd
from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import ApiKey


@pytest.fixture
def engine(sqlite_url: str) -> Engine:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    return engine


def test_token_shape_and_only_the_hash_is_stored(engine: Engine) -> None:
    created = create_key(engine, "mobile app", "applicant-app", "ops")
    parsed = parse_token(created.token)
    assert parsed is not None
    prefix, secret = parsed
    assert created.token == f"cg_{prefix}_{secret}"
    assert len(secret) >= 40
    with engine.connect() as conn:
        row = conn.execute(select(ApiKey)).one()
    assert row.prefix == prefix
    assert row.secret_hash.startswith("$argon2id$")
    assert secret not in row.secret_hash
    assert all(secret not in str(value) for value in row)


def test_verify_accepts_the_token_and_refuses_others(engine: Engine) -> None:
    created = create_key(engine, "officer desk", "officer", "ops")
    verifier = KeyVerifier(engine)
    info = verifier.verify(created.token)
    assert info is not None and info.role is Role.OFFICER and info.id == created.info.id
    assert verifier.verify(created.token) == info  # the cached path gives the same answer
    prefix, secret = parse_token(created.token) or ("", "")
    assert verifier.verify(f"cg_{prefix}_{secret[:-1]}x") is None
    assert verifier.verify(f"cg_000000000000_{secret}") is None
    assert verifier.verify("not-a-token") is None
    assert verifier.verify("") is None


def test_revoke_takes_effect_despite_the_cache(engine: Engine) -> None:
    created = create_key(engine, "analyst", "analyst", "ops")
    verifier = KeyVerifier(engine)
    assert verifier.verify(created.token) is not None
    revoked = revoke_key(engine, created.info.id)
    assert revoked is not None and revoked.revoked_at is not None
    assert verifier.verify(created.token) is None
    assert revoke_key(engine, created.info.id) == revoked  # idempotent
    assert revoke_key(engine, 999) is None


def test_create_refuses_unknown_roles_and_empty_names(engine: Engine) -> None:
    with pytest.raises(KeyStoreError, match="unknown role 'root'"):
        create_key(engine, "x", "root", "ops")
    with pytest.raises(KeyStoreError, match="name"):
        create_key(engine, "  ", "admin", "ops")
    assert list_keys(engine) == []


def test_cli_create_list_revoke(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(sqlite_settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", sqlite_settings.database_url)
    get_settings.cache_clear()
    app = typer.Typer()
    keys_cmd.register(app)
    app.command("noop")(lambda: None)  # a second command, so ``keys`` stays a sub-group
    runner = CliRunner()
    try:
        made = runner.invoke(
            app, ["keys", "create", "--name", "shop app", "--role", "applicant-app"]
        )
        assert made.exit_code == 0, made.output
        token = made.output.strip().splitlines()[-1]
        assert parse_token(token) is not None
        listed = runner.invoke(app, ["keys", "list"])
        assert listed.exit_code == 0 and "shop app" in listed.output
        assert token.split("_", 2)[2] not in listed.output
        assert runner.invoke(app, ["keys", "revoke", "1"]).exit_code == 0
        assert runner.invoke(app, ["keys", "revoke", "42"]).exit_code == 2
        bad = runner.invoke(app, ["keys", "create", "--name", "x", "--role", "root"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()
    engine = make_engine(sqlite_settings.database_url)
    try:
        assert KeyVerifier(engine).verify(token) is None
    finally:
        engine.dispose()
