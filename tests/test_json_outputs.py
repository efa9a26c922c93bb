"""Machine-readable outputs: ``--json`` prints one JSON document on stdout and nothing else;
``score --out`` writes every score; tables printed to a pipe or file are never wrapped."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.settings import Settings
from tests.scored_world import scored_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return scored_world(tmp_path_factory.mktemp("json"), people=600, seed=5)


@pytest.fixture()
def run(world: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CREDITGRAPH_HOME", str(world.home_dir))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_model_list_json_is_one_document_with_every_version(run) -> None:  # type: ignore[no-untyped-def]
    code, stdout, _ = run("model", "list", "--json")
    assert code == 0
    models = json.loads(stdout)["models"]
    assert len(models) == 4  # two families, with and without social data
    assert {m["family"] for m in models} == {"scorecard", "challenger"}
    champions = [m for m in models if m["status"] == "champion"]
    assert {m["variant"] for m in champions} == {"social", "no_social"}
    for m in models:
        assert 0 <= m["metrics"]["test"]["auc"] <= 1 and len(m["training_data_sha256"]) == 64


def test_model_compare_json_gives_every_metric_and_the_difference(run) -> None:  # type: ignore[no-untyped-def]
    models = json.loads(run("model", "list", "--json")[1])["models"]
    a, b = models[0]["id"], models[1]["id"]
    code, stdout, _ = run("model", "compare", a, b, "--json")
    assert code == 0
    document = json.loads(stdout)
    assert document["a"] == a and document["b"] == b
    auc = next(m for m in document["metrics"] if m["metric"] == "test.auc")
    assert auc["difference"] == pytest.approx(auc["b"] - auc["a"])


def test_score_json_and_out_file_agree(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "scores.parquet"
    code, stdout, _ = run("score", "--as-of", "2026-06-30", "--out", str(out), "--json")
    assert code == 0
    document = json.loads(stdout)
    scores = pq.read_table(out)
    assert document["rows"] == scores.num_rows > 0
    assert sum(document["grades"].values()) == scores.num_rows
    assert document["model_id"] == scores["model_id"][0].as_py()
    assert {"person_id", "score", "pd", "grade", "reason_1_zh", "reason_1_en"} <= set(
        scores.column_names
    )
    csv_out = tmp_path / "scores.csv"
    code, stdout, _ = run("score", "--as-of", "2026-06-30", "--out", str(csv_out))
    assert code == 0 and pacsv.read_csv(csv_out).num_rows == scores.num_rows
    assert run("score", "--as-of", "2026-06-30", "--out", str(tmp_path / "x.xlsx"))[0] == 2


def test_backtest_json_without_out_carries_the_rows(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    apps = tmp_path / "apps.csv"
    apps.write_text("person_id,applied_at\nP0000001,2025-06-01\nP0000002,2025-06-01 12:00\n")
    code, stdout, _ = run("backtest", str(apps), "--json")
    assert code == 0
    document = json.loads(stdout)
    assert document["applications"] == 2 and len(document["rows"]) == 2
    assert document["rows"][0]["features_as_of"] == "2025-06-01"


def test_tables_are_not_wrapped_when_stdout_is_not_a_terminal(run) -> None:  # type: ignore[no-untyped-def]
    models = json.loads(run("model", "list", "--json")[1])["models"]
    code, stdout, _ = run("model", "list")
    assert code == 0
    lines = stdout.splitlines()
    for m in models:
        row = next(line for line in lines if m["id"] in line)
        assert m["status"] in row and m["variant"] in row and m["training_data_sha256"][:12] in row
    assert max(len(line) for line in lines) > 80
    code, stdout, _ = run("score", "--as-of", "2026-06-30")
    assert code == 0
    title = next(line for line in stdout.splitlines() if "people scored by" in line)
    assert "as of 2026-06-30" in title  # the title is on one line, not wrapped at 80 columns
