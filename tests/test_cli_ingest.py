"""The ingest and db commands as a person runs them: exit codes, one-line errors, summaries."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.settings import get_settings
from creditgraph.store.db import head_revision
from tests import world


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def test_ingest_prints_counts_and_is_idempotent(tmp_path: Path, home: Path) -> None:
    files = [str(p) for p in world.write_world(tmp_path / "in")]
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", *files, "--batch-name", "first"])
    assert first.exit_code == 0, first.output
    assert "persons" in first.output and "no_consent" in first.output
    second = runner.invoke(app, ["ingest", str(tmp_path / "in")])
    assert second.exit_code == 0, second.output
    lines = [ln for ln in second.output.splitlines() if "interactions" in ln and "│" in ln]
    cells = [c.strip() for c in lines[-1].split("│") if c.strip()]
    assert cells == ["interactions", "4", "0", "0", "3", "1"]


def test_missing_column_exits_2_with_one_line(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "ties.csv"
    bad.write_text("src,dst\nP1,P2\n")
    result = CliRunner().invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 2
    assert "missing required column(s) kind, source, created_at" in result.output
    assert "Traceback" not in result.output
    assert not home.exists()


def test_unknown_table_option_exits_2(tmp_path: Path, home: Path) -> None:
    path = world.write_csv(tmp_path / "x.csv", world.TIE_COLUMNS, world.TIES)
    result = CliRunner().invoke(app, ["ingest", str(path), "--table", "friends"])
    assert result.exit_code == 2
    assert "unknown table 'friends'" in result.output


def test_db_upgrade_and_current(home: Path) -> None:
    runner = CliRunner()
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    head = head_revision()
    assert head and head in up.output
    current = runner.invoke(app, ["db", "current"])
    assert f"current {head}" in current.output and f"head {head}" in current.output
