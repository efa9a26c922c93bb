"""``model export``: a registered version as files with a hashed manifest, which score exactly
as the registered version does, through the library and through ``model score-table``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.scoring import registry
from creditgraph.scoring.export import ExportError, export_model, load_export
from creditgraph.scoring.models import LoadedModel
from creditgraph.settings import Settings
from creditgraph.store.db import migrated_engine
from tests.scored_world import AS_OF, scored_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    from creditgraph.features.service import compute_features

    settings = scored_world(tmp_path_factory.mktemp("export"), people=600, seed=5)
    rows = tmp_path_factory.mktemp("rows") / "features.parquet"
    pq.write_table(compute_features(settings, AS_OF).features, rows)
    return settings, rows


def _records(settings: Settings) -> dict[str, Any]:
    with migrated_engine(settings.database_url) as db:
        listed = registry.list_models(db)
    return {f"{r.family}/{r.variant}": r for r in listed}


@pytest.mark.parametrize("family", ["scorecard", "challenger"])
def test_an_exported_model_scores_exactly_as_the_registered_one(
    world: tuple[Settings, Path], tmp_path: Path, family: str
) -> None:
    settings, rows = world
    record = _records(settings)[f"{family}/social"]
    manifest = export_model(record, tmp_path / "export")
    table = pq.read_table(rows)
    registered = LoadedModel(record).score_table(table)
    exported = LoadedModel(load_export(tmp_path / "export")).score_table(table)
    assert np.array_equal(registered.score, exported.score)
    assert np.array_equal(registered.pd, exported.pd)
    assert registered.grade == exported.grade and registered.reasons == exported.reasons
    assert manifest["model_id"] == record.id and manifest["family"] == family
    assert manifest["features"] == list(LoadedModel(record).features)


def test_the_manifest_names_the_version_and_hashes_every_file(
    world: tuple[Settings, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = world
    monkeypatch.setenv("CREDITGRAPH_HOME", str(settings.home_dir))
    record = _records(settings)["challenger/social"]
    result = CliRunner().invoke(
        app, ["model", "export", record.id, "--out", str(tmp_path / "ch"), "--json"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((tmp_path / "ch" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.txt", "calibrator.json", "challenger.json"}
    for name, sha in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "ch" / name).read_bytes()).hexdigest() == sha
    assert (tmp_path / "ch" / "model.txt").read_text().startswith("tree")
    for key in ("model_id", "family", "variant", "features", "created_at"):
        assert manifest[key]
    card = _records(settings)["scorecard/social"]
    result = CliRunner().invoke(app, ["model", "export", card.id, "--out", str(tmp_path / "sc")])
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "sc" / "manifest.json").read_text())["files"]) == {
        "card.json"
    }


@pytest.mark.parametrize("family", ["scorecard", "challenger"])
def test_score_table_scores_an_export_folder_as_the_registered_version(
    world: tuple[Settings, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    settings, rows = world
    monkeypatch.setenv("CREDITGRAPH_HOME", str(settings.home_dir))
    record = _records(settings)[f"{family}/social"]
    export_model(record, tmp_path / "export")
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        app,
        ["model", "score-table", str(tmp_path / "export"), str(rows), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    written = pacsv.read_csv(out)
    expected = LoadedModel(record).score_table(pq.read_table(rows))
    assert written["row"].to_pylist() == list(range(1, len(expected.grade) + 1))
    assert np.allclose(written["pd"].to_numpy(), expected.pd, rtol=1e-15, atol=0)
    assert written["grade"].to_pylist() == expected.grade
    first = [r["code"] for r in expected.reasons[0]]
    assert [written[f"reason_{k + 1}_code"][0].as_py() for k in range(len(first))] == first


def test_a_changed_export_file_is_refused_in_one_line(
    world: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, rows = world
    export_model(_records(settings)["scorecard/social"], tmp_path / "export")
    card = tmp_path / "export" / "card.json"
    card.write_text(card.read_text().replace('"intercept"', '"intercept" ', 1))
    with pytest.raises(ExportError, match="SHA-256 differs"):
        load_export(tmp_path / "export")
    result = CliRunner().invoke(
        app,
        ["model", "score-table", str(tmp_path / "export"), str(rows), "--out", "x.csv"],
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "SHA-256 differs" in result.stderr
