"""Train, register, report, promote and score, through the service layer and the CLI.

One small simulated world (module scope) serves every test: training is the slow part.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.ingest.service import ingest
from creditgraph.scoring import registry
from creditgraph.scoring.models import LoadedModel
from creditgraph.scoring.service import OnlineScorer, ScoringError, score_all, train_models
from creditgraph.scoring.training import labelled, split
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine, migrated_engine

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Any]:
    from creditgraph.simulate import SimulationConfig, simulate

    root = tmp_path_factory.mktemp("scoring")
    result = simulate(SimulationConfig(people=2500, seed=11), root / "world")
    settings = Settings(home=root / "home")
    ingest(sorted(result.files.values()), settings)
    return settings, train_models(settings, AS_OF, actor="analyst-1", seed=0)


def test_training_registers_both_families_with_data_hash_metrics_and_report(
    trained: tuple[Settings, Any],
) -> None:
    _, result = trained
    assert set(result.records) == {"scorecard", "challenger"}
    for family, record in result.records.items():
        assert record.status == "candidate" and record.created_by == "analyst-1"
        assert re.fullmatch(r"[0-9a-f]{64}", record.training_data_sha256)
        assert record.feature_set_version == "1"
        for sample in ("test", "out_of_time"):
            entry = record.metrics[sample]
            assert 0.5 < entry["auc"] < 1.0, (family, sample, entry)
            assert entry["auc_low"] < entry["auc"] < entry["auc_high"]
            assert "difference" in record.metrics[f"network_lift_{sample}"]
        html = Path(record.report_path).read_text()
        assert record.id in html and "data:image/png;base64," in html
        assert "http://" not in html and "https://" not in html and "<script" not in html
    assert result.rows["out_of_time"] > 0 and result.rows["test"] > 0


def test_out_of_time_is_later_than_development_and_labels_were_known(
    trained: tuple[Settings, Any],
) -> None:
    from creditgraph.features.service import training_set

    settings, _ = trained
    table = labelled(training_set(settings, "month"), AS_OF)
    data = split(table, seed=0)
    assert data.oot_from is not None
    assert max(data.development["as_of"].to_pylist()) < data.oot_from
    assert min(data.out_of_time["as_of"].to_pylist()) >= data.oot_from
    observed = table["observed_at"].to_pylist()
    assert all(o.date() < AS_OF for o in observed)
    again = split(table, seed=0)
    assert again.test["loan_id"].to_pylist() == data.test["loan_id"].to_pylist()


def test_promote_score_everyone_and_one_person_online(trained: tuple[Settings, Any]) -> None:
    from creditgraph.features.service import build_and_store

    settings, result = trained
    with migrated_engine(settings.database_url) as db:
        online = OnlineScorer(db)
        with pytest.raises(registry.RegistryError, match="no champion"):
            online.model()
        registry.promote(db, result.records["scorecard"].id, "risk-head")
    build = build_and_store(settings, AS_OF, online=True).build
    batch = score_all(settings, AS_OF, features=build.features)
    assert batch.model_id == result.records["scorecard"].id
    assert batch.rows == build.features.num_rows and sum(batch.grades.values()) == batch.rows
    rerun = score_all(settings, AS_OF, features=build.features)  # replaces, never duplicates
    assert rerun.rows == batch.rows
    engine = make_engine(settings.database_url)
    try:
        online = OnlineScorer(engine)
        person = build.features["person_id"][0].as_py()
        one = online.score(person)
        assert one["model_id"] == batch.model_id and 0 < one["pd"] < 1
        assert one["grade"] in "ABCDE" and len(one["reasons"]) <= 4
        for reason in one["reasons"]:
            assert reason["zh"] and reason["en"] and reason["code"]
        model = LoadedModel(registry.champion(engine))
        row = build.features.slice(0, 1)
        assert model.score_table(row).score[0] == pytest.approx(one["score"], abs=1e-9)
        with pytest.raises(ScoringError, match="no online features"):
            online.score("not-a-person")
    finally:
        engine.dispose()


def test_the_challenger_scores_with_reasons_too(trained: tuple[Settings, Any]) -> None:
    from creditgraph.features.service import compute_features

    settings, result = trained
    model = LoadedModel(result.records["challenger"])
    features = compute_features(settings, AS_OF).features.slice(0, 50)
    scored = model.score_table(features)
    assert len(scored.grade) == 50 and all(0 < p < 1 for p in scored.pd)
    assert all(len(r) <= 4 for r in scored.reasons)
    assert any(scored.reasons)  # someone has an adverse contribution
    again = model.score_table(features)
    assert again.reasons == scored.reasons and list(again.pd) == list(scored.pd)


def test_model_cli_lists_compares_promotes_and_reports(
    trained: tuple[Settings, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings, result = trained
    monkeypatch.setenv("CREDITGRAPH_HOME", str(settings.home_dir))
    runner = CliRunner()
    listed = runner.invoke(app, ["model", "list"])
    assert listed.exit_code == 0, listed.output
    a, b = result.records["scorecard"].id, result.records["challenger"].id
    assert a in listed.output and b in listed.output
    compared = runner.invoke(app, ["model", "compare", a, b])
    assert compared.exit_code == 0 and "out_of_time.auc" in compared.output
    promoted = runner.invoke(app, ["model", "promote", b, "--by", "risk-head", "--note", "OOT"])
    assert promoted.exit_code == 0 and b in promoted.output
    out = tmp_path / "r.html"
    reported = runner.invoke(app, ["model", "report", b, "--out", str(out)])
    assert reported.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    missing = runner.invoke(app, ["model", "promote", "nope", "--by", "x"])
    assert missing.exit_code == 2 and "no model version 'nope'" in missing.output
    bad_date = runner.invoke(app, ["score", "--as-of", "30/06/2026"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output


def test_training_refuses_a_book_without_outcomes(tmp_path: Path) -> None:
    from creditgraph.scoring.training import TrainingError, train

    empty = pa.table(
        {
            "loan_id": pa.array([], pa.string()),
            "person_id": pa.array([], pa.string()),
            "applied_at": pa.array([], pa.timestamp("us")),
            "observed_at": pa.array([], pa.timestamp("us")),
            "label_defaulted": pa.array([], pa.bool_()),
            "as_of": pa.array([], pa.date32()),
        }
    )
    with pytest.raises(TrainingError, match="too few labelled applications"):
        train(
            empty,
            empty,
            {},
            as_of=AS_OF,
            engine=None,
            reports_dir=tmp_path,
            actor="x",
        )
