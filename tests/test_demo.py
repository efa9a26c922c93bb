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
        result = CliRunner().invoke(app, ["demo", "--people", "1500", "--seed", "3"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    for marker in (
        "1. Simulate",
        "2. Ingest",
        "3. Credit graph",
        "no_consent",
        "4. Scoring",
        "champion 冠军模型",
        "5. Decisions",
        "6. Servicing",
        "portfolio by delinquency bucket",
        "M3+",
        "by month on book",
        "labels for scoring",
        "trial balance 试算平衡: difference 0.00, balanced",
        "demo finished",
    ):
        assert marker in result.output, marker
    assert "1,500 people x 86 features" in result.output
    report = result.output.split("validation report 验证报告:", 1)[1].split()[0]
    assert Path(report).is_file() and Path(report).read_text().startswith("<!DOCTYPE html>")
