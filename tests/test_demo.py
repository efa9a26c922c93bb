"""The end-to-end demo runs every stage on a small world and says what it did."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.settings import get_settings


def test_demo_runs_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--people", "400", "--seed", "3"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    for marker in ("1. Simulate", "2. Ingest", "3. Credit graph", "no_consent", "demo finished"):
        assert marker in result.output, marker
    assert "400 people x 62 features" in result.output
