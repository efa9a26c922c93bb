"""The JSON artifact: round trip to 1e-9, a numpy-only scorer, and refusal of broken files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from creditgraph.scoring.card_codec import (
    FORMAT,
    FORMAT_VERSION,
    ArtifactError,
    card_from_dict,
    card_to_dict,
    card_to_json,
)
from creditgraph.scoring.card_file import load, load_scorer, save
from creditgraph.scoring.scorecard import Scorecard
from tests.conftest import REPO_ROOT
from tests.test_scorecard import make_data


@pytest.fixture(scope="module")
def fitted() -> tuple[Scorecard, pd.DataFrame]:
    frame, y = make_data(seed=3, n=2500)
    frame.loc[frame.index[::50], "city"] = None
    return Scorecard(special_codes=[-999.0], random_state=3).fit(frame, y), frame


def test_round_trip_scores_equal_the_fitted_object(
    fitted: tuple[Scorecard, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = fitted
    path = tmp_path / "card.json"
    save(model.card_, path)
    scorer = load_scorer(path)
    expected_score = model.score(frame)
    expected_pd = model.predict_proba(frame)[:, 1]
    inputs: dict[str, Any] = {
        "arrow": pa.Table.from_pandas(frame, preserve_index=False),
        "numpy": {c: frame[c].to_numpy() for c in frame.columns},
        "frame": frame,
    }
    for kind, data in inputs.items():
        batch = scorer.score_batch(data)
        np.testing.assert_allclose(batch.score, expected_score, rtol=0, atol=1e-9, err_msg=kind)
        np.testing.assert_allclose(batch.pd, expected_pd, rtol=0, atol=1e-9, err_msg=kind)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for i in range(0, len(rows), 97):
        one = scorer.score_row(rows[i])
        assert abs(one.score - expected_score[i]) < 1e-9
        assert abs(one.pd - expected_pd[i]) < 1e-9


def test_to_dict_from_dict_is_lossless(
    fitted: tuple[Scorecard, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = fitted
    path = tmp_path / "card.json"
    save(model.card_, path)
    again = load(path)
    assert card_to_dict(again) == card_to_dict(model.card_)
    assert again == card_from_dict(json.loads(path.read_text(encoding="utf-8")))


def test_artifact_holds_what_a_reader_needs(fitted: tuple[Scorecard, pd.DataFrame]) -> None:
    model, _ = fitted
    data = json.loads(card_to_json(model.card_))
    assert data["format"] == FORMAT and data["format_version"] == FORMAT_VERSION
    assert data["created_at"].endswith("Z")
    assert data["features"] == [v["name"] for v in data["variables"]]
    assert set(data["scaling"]) == {"base_score", "base_odds", "pdo", "factor", "offset"}
    assert [g["grade"] for g in data["grades"]] == ["A", "B", "C", "D", "E"]
    assert isinstance(data["intercept"], float) and isinstance(data["intercept_points"], float)
    for v in data["variables"]:
        kinds = [b["kind"] for b in v["bins"]]
        assert kinds[-2:] == ["special", "missing"]
        assert v["best_points"] == max(b["points"] for b in v["bins"])
        if v["type"] == "numeric":
            assert len(v["splits"]) == len(v["bins"]) - 3
            assert v["unseen_category_bin"] is None
        else:
            assert all(b["categories"] for b in v["bins"][:-2])
            assert 0 <= v["unseen_category_bin"] < len(v["bins"]) - 2
        for b in v["bins"]:
            assert {"label", "count", "event_rate", "woe", "points", "reason"} <= set(b)
            assert (b["reason"] is None) == (b["points"] == v["best_points"])
    training = data["training"]
    assert training["rows"] == 2500 and 0 < training["bad_rate"] < 1
    assert {"C", "cv_auc", "train_auc", "parameters", "variables", "libraries"} <= set(training)


BLOCKED_RUN = """
import importlib.abc, json, sys

BLOCKED = ("optbinning", "sklearn", "scipy", "pandas", "pyarrow", "lightgbm")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, Block())
import numpy as np
from pathlib import Path
from creditgraph.scoring.card_file import load_scorer

scorer = load_scorer(Path(sys.argv[1]))
columns = json.loads(Path(sys.argv[2]).read_text())
data = {k: np.array(v, dtype=object) for k, v in columns.items()}
batch = scorer.score_batch(data)
rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
loaded = sorted(m.split(".")[0] for m in sys.modules)
print(json.dumps({
    "batch": batch.score.tolist(),
    "rows": [scorer.score_row(r).score for r in rows],
    "codes": batch.reason_codes().tolist(),
    "modules": sorted(set(loaded) & set(BLOCKED)),
}))
"""


def test_scorer_runs_with_only_numpy_and_the_standard_library(
    fitted: tuple[Scorecard, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = fitted
    card = tmp_path / "card.json"
    save(model.card_, card)
    sample = frame.iloc[:40]
    columns = {
        c: [None if isinstance(v, float) and np.isnan(v) else v for v in sample[c].tolist()]
        for c in sample.columns
    }
    (tmp_path / "rows.json").write_text(json.dumps(columns))
    script = tmp_path / "blocked.py"
    script.write_text(BLOCKED_RUN)
    done = subprocess.run(
        [sys.executable, str(script), str(card), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["modules"] == []
    expected = model.score(sample)
    np.testing.assert_allclose(result["batch"], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result["rows"], expected, rtol=0, atol=1e-9)
    assert result["codes"] == model.scorer_.score_batch(sample).reason_codes().tolist()


def test_artifact_module_imports_no_fitting_library() -> None:
    scoring = REPO_ROOT / "src" / "creditgraph" / "scoring"
    modules = ("card", "card_codec", "card_file", "coercion", "scorer", "reasons")
    for text in ((scoring / f"{name}.py").read_text() for name in modules):
        for name in ("optbinning", "sklearn", "scipy", "pandas"):
            assert f"import {name}" not in text and f"from {name}" not in text


def _broken(card: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="something.else"), "not a scorecard artifact"),
        (lambda d: d.update(format_version=FORMAT_VERSION + 1), "format version"),
        (lambda d: d.pop("intercept_points"), "intercept_points"),
        (lambda d: d["grades"].reverse(), "grades"),
        (lambda d: d.update(variables=[]), "at least one variable"),
        (lambda d: d["variables"][0]["bins"].pop(), "then special, then missing"),
        (lambda d: d["variables"][0]["bins"][0].update(points="ten"), "wrong type"),
    ],
)
def test_broken_artifacts_are_refused(
    fitted: tuple[Scorecard, pd.DataFrame], tmp_path: Path, change: Any, message: str
) -> None:
    model, _ = fitted
    card = card_to_dict(model.card_)
    change(card)
    with pytest.raises(ArtifactError, match=message):
        load(_broken(card, tmp_path))


def test_unsorted_splits_and_bad_json_are_refused(
    fitted: tuple[Scorecard, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = fitted
    card = card_to_dict(model.card_)
    numeric = next(v for v in card["variables"] if v["type"] == "numeric" and len(v["splits"]) > 1)
    numeric["splits"].reverse()
    with pytest.raises(ArtifactError, match="increasing"):
        load(_broken(card, tmp_path))
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match="not JSON"):
        load(path)
