"""``creditgraph simulate``: files, an optional report, and one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.contracts.schema import TABLES

runner = CliRunner()


def test_simulate_then_report(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = runner.invoke(
        app, ["simulate", "--people", "400", "--seed", "3", "--out", str(out), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.csv")) == sorted(f"{t}.csv" for t in TABLES)
    assert (out / "_truth" / "ground_truth.parquet").exists()

    again = runner.invoke(app, ["simulate", "--report", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "degree_mean" in again.output and "homophily_ratio" in again.output


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    cases = [
        ["simulate", "--out", str(tmp_path)],
        ["simulate", "--people", "10", "--out", str(tmp_path)],
        ["simulate", "--people", "100", "--format", "xml", "--out", str(tmp_path)],
        ["simulate", "--people", "100", "--end-date", "June", "--out", str(tmp_path)],
        ["simulate", "--report", "--out", str(tmp_path / "missing")],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.output)
        assert "Traceback" not in result.output
