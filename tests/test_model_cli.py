"""``creditgraph model fit-table`` and ``score-table`` as an analyst runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from creditgraph.cli.model_cmd import register
from creditgraph.scoring.card_file import load_scorer
from tests.test_scorecard import make_data


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    return app


APP = _app()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(APP, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame, y = make_data(seed=5, n=1500)
    frame["outcome"] = np.where(y == 1, "bad", "good")
    frame["applicant"] = [f"A{i:05d}" for i in range(len(frame))]
    path = tmp_path_factory.mktemp("data") / "applicants.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def card(table: Path) -> tuple[Path, str]:
    out = table.parent / "card.json"
    code, stdout, stderr = run(
        "model",
        "fit-table",
        str(table),
        "--target",
        "outcome",
        "--exclude",
        "applicant",
        "--seed",
        "3",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    return out, stdout


def test_fit_table_prints_iv_and_bins_and_writes_the_card(card: tuple[Path, str]) -> None:
    path, stdout = card
    assert "Information value" in stdout
    assert "income" in stdout and "WoE" in stdout and "points" in stdout
    assert f"wrote {path}" in stdout
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["training"]["target"] == {"column": "outcome", "bad_value": "bad"}
    assert data["training"]["source"]["file"] == "applicants.csv"
    assert len(data["training"]["source"]["sha256"]) == 64
    assert data["training"]["random_state"] == 3
    assert "applicant" not in data["features"] and "outcome" not in data["features"]


def test_score_table_writes_one_row_per_input_row_in_order(
    card: tuple[Path, str], table: Path, tmp_path: Path
) -> None:
    path, _ = card
    out = tmp_path / "out" / "scores.csv"
    code, stdout, stderr = run(
        "model", "score-table", str(path), str(table), "--out", str(out), "--id", "applicant"
    )
    assert code == 0, stderr
    assert "1,500 rows scored" in stdout
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1500
    assert [int(r["row"]) for r in rows] == list(range(1, 1501))
    assert [r["applicant"] for r in rows[:3]] == ["A00000", "A00001", "A00002"]
    header = list(rows[0])
    assert header[:5] == ["row", "applicant", "score", "pd", "grade"]
    assert header[5:8] == ["reason_1_code", "reason_1_zh", "reason_1_en"]
    assert header[-1] == "reason_4_en"
    frame = pd.read_csv(table)
    expected = load_scorer(path).score_batch(pa.Table.from_pandas(frame, preserve_index=False))
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected.score, atol=1e-9)
    assert [r["grade"] for r in rows] == expected.grade.tolist()
    assert all(r["reason_1_code"] for r in rows if float(r["score"]) < 540)


def test_parquet_input_and_numeric_target(
    card: tuple[Path, str], table: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(table)
    frame["outcome"] = (frame["outcome"] == "bad").astype(int)
    path = tmp_path / "applicants.parquet"
    pq.write_table(pa.Table.from_pandas(frame.drop(columns=["applicant"])), path)
    out = tmp_path / "card.json"
    code, _, stderr = run("model", "fit-table", str(path), "--target", "outcome", "--out", str(out))
    assert code == 0, stderr
    assert json.loads(out.read_text())["training"]["target"]["bad_value"] == "1"
    code, _, stderr = run(
        "model", "score-table", str(out), str(path), "--out", str(tmp_path / "s.csv")
    )
    assert code == 0, stderr


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _clean_error(code: int, stdout: str, stderr: str, fragment: str) -> None:
    assert code == 2
    assert fragment in stderr
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stdout + stderr


def test_fit_table_errors_are_one_line(table: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "c.json")
    _clean_error(
        *run("model", "fit-table", str(tmp_path / "nope.csv"), "--target", "y", "--out", out),
        "no such file",
    )
    _clean_error(
        *run("model", "fit-table", str(table), "--target", "missing", "--out", out),
        "target column 'missing' is not in the table",
    )
    _clean_error(
        *run("model", "fit-table", str(table), "--target", "age", "--out", out),
        "must have exactly two values",
    )
    _clean_error(
        *run(
            "model",
            "fit-table",
            str(table),
            "--target",
            "outcome",
            "--bad-value",
            "default",
            "--out",
            out,
        ),
        "--bad-value 'default' is not a value of 'outcome'",
    )
    _clean_error(
        *run(
            "model",
            "fit-table",
            str(table),
            "--target",
            "outcome",
            "--exclude",
            "x,y",
            "--out",
            out,
        ),
        "--exclude names columns not in the table: x, y",
    )
    frame = pd.DataFrame({"a": [1, 2, 3, 4], "flag": ["yes", "no", "yes", "no"]})
    _clean_error(
        *run("model", "fit-table", str(_write(tmp_path, frame)), "--target", "flag", "--out", out),
        "say which one is bad with --bad-value",
    )
    (tmp_path / "t.xlsx").write_text("x")
    _clean_error(
        *run("model", "fit-table", str(tmp_path / "t.xlsx"), "--target", "y", "--out", out),
        "unknown file type",
    )


def test_fit_table_leaves_out_rows_without_a_target(table: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(table).drop(columns=["applicant"])
    frame.loc[frame.index[:10], "outcome"] = None
    out = tmp_path / "c.json"
    code, stdout, stderr = run(
        "model", "fit-table", str(_write(tmp_path, frame)), "--target", "outcome", "--out", str(out)
    )
    assert code == 0, stderr
    assert "10 without a target left out" in stdout
    assert json.loads(out.read_text())["training"]["rows"] == 1490


def test_score_table_errors_are_one_line(
    card: tuple[Path, str], table: Path, tmp_path: Path
) -> None:
    path, _ = card
    out = str(tmp_path / "s.csv")
    frame = pd.read_csv(table)
    _clean_error(
        *run("model", "score-table", str(tmp_path / "none.json"), str(table), "--out", out),
        "no such file",
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "other"}')
    _clean_error(
        *run("model", "score-table", str(broken), str(table), "--out", out), "not a scorecard"
    )
    no_income = _write(tmp_path, frame.drop(columns=["income"]), "no_income.csv")
    _clean_error(
        *run("model", "score-table", str(path), str(no_income), "--out", out),
        "missing feature column: 'income'",
    )
    texty = frame.astype({"income": object})
    texty.loc[7, "income"] = "about 3000"
    _clean_error(
        *run(
            "model",
            "score-table",
            str(path),
            str(_write(tmp_path, texty, "texty.csv")),
            "--out",
            out,
        ),
        "column 'income' must be numeric; found text (row 8: 'about 3000')",
    )
    _clean_error(
        *run("model", "score-table", str(path), str(table), "--out", out, "--id", "nobody"),
        "--id column 'nobody' is not in the table",
    )


def test_score_table_applies_fallbacks_to_odd_rows(
    card: tuple[Path, str], table: Path, tmp_path: Path
) -> None:
    path, _ = card
    frame = pd.read_csv(table).head(4)
    frame["city"] = frame["city"].astype(object)
    frame.loc[0, "city"] = "atlantis"  # unseen category
    frame.loc[1, "income"] = None  # missing
    frame.loc[2, "income"] = 1e15  # out of range
    out = tmp_path / "odd.csv"
    code, _, stderr = run(
        "model",
        "score-table",
        str(path),
        str(_write(tmp_path, frame, "odd_in.csv")),
        "--out",
        str(out),
    )
    assert code == 0, stderr
    scores = pd.read_csv(out)
    assert len(scores) == 4 and scores["score"].notna().all()
