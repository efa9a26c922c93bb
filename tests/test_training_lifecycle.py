"""The training lifecycle: the deployed model is the chosen specification refitted on every
labelled application up to the as-of; no application is dropped silently; label folds do not
depend on a home's secret key; ``model train --json`` prints one JSON document.

One small simulated world, ingested into two homes with different pseudonym keys, serves the
module (module scope: ingest and the point-in-time training set are the slow parts).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.features.build import FeatureBuild
from creditgraph.features.labels import FOLDS, stable_fold
from creditgraph.features.training import NOT_REGISTERED, build_training_set
from creditgraph.ingest.service import ingest
from creditgraph.privacy.pseudonym import load_or_create_key
from creditgraph.scoring import registry
from creditgraph.scoring.card_codec import card_to_dict
from creditgraph.scoring.models import LoadedModel
from creditgraph.scoring.training import Lifecycle, TrainingError, labelled, recency_weights, train
from creditgraph.settings import Settings
from creditgraph.store.db import migrated_engine
from creditgraph.store.models import Person
from tests.identities import pseudonyms

AS_OF = date(2026, 6, 30)
TZ = "Asia/Shanghai"
# label-based features, computed out of fold (they depend on each person's fold), and the
# community features (Leiden depends on the order of the nodes)
OUT_OF_FOLD = (
    "community_size",
    "community_default_rate",
    "communities_reached",
    "default_exposure",
    "good_exposure",
    "default_exposure_ratio",
    "defaulted_share_1hop",
    "defaulted_share_2hop",
    "multilayer_exposure",
)


# --- silent drops: a synthetic feature store, so the dates are exact -----------------------


def _registered_before(registered: dict[str, date]) -> Any:
    """A feature build that, like the real one, holds only people registered before the day."""

    def build_at(day: date) -> FeatureBuild:
        people = sorted(p for p, d in registered.items() if d < day)
        features = pa.table(
            {
                "person_id": pa.array(people, pa.string()),
                "x": pa.array([float(len(p)) for p in people], pa.float64()),
                "as_of": pa.array([day] * len(people), pa.date32()),
            }
        )
        return FeatureBuild(day, features, pa.table({"a": pa.array([], pa.string())}))

    return build_at


def _outcomes(rows: list[tuple[str, str, datetime]]) -> pa.Table:
    utc = [a.astimezone(UTC).replace(tzinfo=None) for _, _, a in rows]
    return pa.table(
        {
            "loan_id": [r[0] for r in rows],
            "person_id": [r[1] for r in rows],
            "applied_at": pa.array(utc, pa.timestamp("us")),
            "defaulted": [False] * len(rows),
            "observed_at": pa.array(utc, pa.timestamp("us")),
        }
    )


def test_a_person_registered_mid_month_is_not_silently_dropped() -> None:
    zone = ZoneInfo(TZ)
    registered = {"early": date(2025, 1, 3), "mid": date(2025, 3, 12), "sameday": date(2025, 3, 20)}
    outcomes = _outcomes(
        [
            ("L1", "early", datetime(2025, 3, 20, 10, tzinfo=zone)),
            ("L2", "mid", datetime(2025, 3, 20, 11, tzinfo=zone)),
            ("L3", "sameday", datetime(2025, 3, 20, 12, tzinfo=zone)),
        ]
    )
    built = build_training_set(outcomes, TZ, "month", _registered_before(registered))
    rows = {r["loan_id"]: r for r in built.table.to_pylist()}
    assert rows["L1"]["as_of"] == date(2025, 3, 1)  # in the month's snapshot
    assert rows["L2"]["as_of"] == date(2025, 3, 20)  # registered mid-month: its own day
    assert built.own_day_rows == 1
    assert "L3" not in rows  # registered on the day it applied: no snapshot before it ...
    assert built.dropped["loan_id"].to_pylist() == ["L3"]  # ... but it is reported, with why
    assert built.dropped_by_reason() == {NOT_REGISTERED: 1}


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=60),
)
def test_every_application_is_either_a_row_or_a_reported_drop(
    registered_days: list[int], applied_day: int
) -> None:
    start = date(2025, 1, 1)
    registered = {
        f"p{i}": date.fromordinal(start.toordinal() + d) for i, d in enumerate(registered_days)
    }
    applied = datetime.combine(
        date.fromordinal(start.toordinal() + applied_day), datetime.min.time()
    )
    outcomes = _outcomes(
        [
            (f"L{i}", p, applied.replace(hour=12, tzinfo=ZoneInfo(TZ)))
            for i, p in enumerate(registered)
        ]
    )
    built = build_training_set(outcomes, TZ, "month", _registered_before(registered))
    kept = set(built.table["loan_id"].to_pylist()) if built.table.num_rows else set()
    dropped = set(built.dropped["loan_id"].to_pylist())
    assert kept | dropped == {f"L{i}" for i in range(len(registered))} and not kept & dropped
    day = applied.date()
    for i, p in enumerate(registered):
        assert (f"L{i}" in kept) == (registered[p] < day)  # features strictly before the day


# --- recency weights ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.5, max_value=36), st.integers(min_value=0, max_value=900))
def test_recency_weights_halve_every_halflife_and_never_grow_with_age(
    halflife: float, days_back: int
) -> None:
    as_of = date(2026, 6, 30)
    applied = [
        datetime.combine(date.fromordinal(as_of.toordinal() - d), datetime.min.time())
        for d in (days_back, days_back + 1)
    ]
    w = recency_weights(pa.table({"applied_at": applied}), as_of, halflife)
    assert w is not None and 0 < w[1] <= w[0] <= 1
    months_back = days_back / (365.25 / 12)
    assert w[0] == pytest.approx(0.5 ** (months_back / halflife), rel=1e-12)
    assert recency_weights(pa.table({"applied_at": applied}), as_of, None) is None


# --- one small world in two homes -----------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from creditgraph.features.inputs import database_tables
    from creditgraph.features.service import compute_features
    from creditgraph.simulate import SimulationConfig, simulate

    root = tmp_path_factory.mktemp("lifecycle")
    simulated = simulate(SimulationConfig(people=1200, seed=5), root / "world")
    homes = []
    for i, key in enumerate((b"\x01" * 32, b"\x02" * 32)):
        home = Settings(home=root / f"home{i}")
        load_or_create_key(home.key_file, new_key=key)
        ingest(sorted(simulated.files.values()), home)
        homes.append(home)
    built = []
    for home in homes:
        with migrated_engine(home.database_url) as db:
            outcomes = database_tables(db)["outcomes"]
        built.append(
            build_training_set(
                outcomes, home.timezone, "month", lambda d, h=home: compute_features(h, d)
            )
        )
    recent = compute_features(homes[0], AS_OF).features
    return {"homes": homes, "built": built, "recent": recent, "root": root}


def _train(world: dict[str, Any], home: int, life: Lifecycle, tmp: Path) -> Any:
    settings_ = world["homes"][home]
    with migrated_engine(settings_.database_url) as db:
        return train(
            world["built"][home].table,
            world["recent"] if home == 0 else world["recent"].slice(0, 0),
            {},
            as_of=AS_OF,
            engine=db,
            reports_dir=tmp,
            actor="tester",
            families=("scorecard",),
            lifecycle=life,
        )


def _external_ids(home: Settings) -> dict[str, str]:
    with migrated_engine(home.database_url) as db:
        return {p: e for e, p in pseudonyms(db).items()}


def test_the_deployed_scorecard_is_the_refit_on_every_labelled_application(
    world: dict[str, Any], tmp_path: Path
) -> None:
    result = _train(world, 0, Lifecycle(), tmp_path)
    table = labelled(world["built"][0].table, AS_OF)
    record = result.records["scorecard"]
    m = record.metrics
    assert m["deployed"] == "refit" and result.rows["refit"] == table.num_rows
    assert m["refit"]["rows"] == table.num_rows == m["windows"]["refit"]["rows"]
    assert m["windows"]["refit"]["to"] == m["windows"]["out_of_time"]["to"]  # sees recent data
    assert m["windows"]["refit"]["from"] <= m["windows"]["development"]["from"]
    assert 0.5 < m["refit"]["auc"] <= 1 and 0 < m["out_of_time"]["auc"] < 1  # a small world
    card = record.artifact
    assert card["training"]["rows"] == table.num_rows  # the registered card learnt from all
    dev_rows = result.rows["development"]
    assert dev_rows < table.num_rows
    scored = LoadedModel(record).score_table(table)  # the artifact scores what was measured
    assert len(scored.pd) == table.num_rows
    html = Path(record.report_path).read_text()
    assert 'id="refit"' in html and f"{table.num_rows:,}" in html

    old = _train(world, 0, Lifecycle(refit=False), tmp_path)
    m_old = old.records["scorecard"].metrics
    assert m_old["deployed"] == "development_fit" and m_old["refit"] is None
    assert old.records["scorecard"].artifact["training"]["rows"] == dev_rows
    assert "refit" not in old.rows


def test_out_of_time_window_training_start_and_recency_weights_are_options(
    world: dict[str, Any], tmp_path: Path
) -> None:
    table = world["built"][0].table
    labelled_months = sorted(
        {d.replace(day=1) for d in labelled(table, AS_OF)["as_of"].to_pylist()}
    )
    train_from = labelled_months[3]
    result = _train(
        world,
        0,
        Lifecycle(oot_months=2, train_from=train_from, recency_halflife_months=6),
        tmp_path,
    )
    m = result.records["scorecard"].metrics
    assert m["lifecycle"]["oot_months"] == 2 and m["lifecycle"]["train_from"] == str(train_from)
    assert m["out_of_time_from"] == str(labelled_months[-2])
    assert min(m["windows"][s]["from"] for s in ("development", "refit")) >= str(train_from)
    assert m["excluded"]["applied_before_train_from"] > 0
    assert m["refit"]["effective_rows"] < m["refit"]["rows"]  # weights: older rows count less
    with pytest.raises(TrainingError, match="not both"):
        _train(world, 0, Lifecycle(oot_months=2, oot_share=0.2), tmp_path)


def test_the_same_data_in_two_homes_gets_the_same_folds_and_out_of_fold_features(
    world: dict[str, Any], tmp_path: Path
) -> None:
    homes = world["homes"]
    folds = []
    for home in homes:
        ids = _external_ids(home)
        with migrated_engine(home.database_url) as db, db.connect() as conn:
            stored = {
                ids[str(p)]: f for p, f in conn.execute(select(Person.person_id, Person.fold))
            }
        assert all(f == stable_fold(e) for e, f in stored.items())
        folds.append(stored)
    assert folds[0] == folds[1] and set(folds[0].values()) == set(range(FOLDS))
    assert _external_ids(homes[0]).keys().isdisjoint(_external_ids(homes[1]).keys())  # keys differ

    # the out-of-fold label features of every training row agree across the homes
    rows = []
    for i, home in enumerate(homes):
        ids = _external_ids(home)
        table = world["built"][i].table
        keyed = zip(table["person_id"].to_pylist(), table["applied_at"].to_pylist(), strict=True)
        order = sorted(range(table.num_rows), key=lambda r, k=list(keyed): (ids[k[r][0]], k[r][1]))
        rows.append(table.take(order))
    for column in OUT_OF_FOLD:
        x, y = (np.asarray(r[column].to_numpy(zero_copy_only=False), float) for r in rows)
        assert np.allclose(x, y, rtol=0, atol=1e-9, equal_nan=True), column


def test_the_same_data_in_two_homes_gives_the_same_model_metrics(
    world: dict[str, Any], tmp_path: Path
) -> None:
    a, b = (_train(world, i, Lifecycle(), tmp_path) for i in (0, 1))
    for sample in ("development", "test", "out_of_time", "refit"):
        auc_a = a.records["scorecard"].metrics[sample]["auc"]
        assert auc_a == pytest.approx(b.records["scorecard"].metrics[sample]["auc"], abs=1e-12)


def test_model_train_json_prints_one_document_with_ids_metrics_samples_and_windows(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = world["homes"][0]
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home.home_dir))
    from creditgraph.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(
        app, ["model", "train", "--as-of", str(AS_OF), "--oot-months", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["models"]) == {"scorecard", "challenger"}
    assert set(doc["no_social"]) == {"scorecard", "challenger"}
    with migrated_engine(home.database_url) as db:
        for family, entry in doc["models"].items():
            record = registry.get(db, entry["id"])
            assert record.family == family and entry["metrics"]["deployed"] == "refit"
    assert doc["rows"]["refit"] == doc["windows"]["refit"]["rows"]
    assert doc["lifecycle"]["oot_months"] == 3 and doc["lifecycle"]["refit"] is True
    assert "outcome_not_observed_by_as_of" in doc["excluded"]

    bad = CliRunner().invoke(
        app, ["model", "train", "--as-of", str(AS_OF), "--oot-months", "2", "--oot-share", "0.3"]
    )
    assert bad.exit_code == 2 and "not both" in bad.output and "Traceback" not in bad.output


def test_a_refit_changes_nothing_about_folds_of_people_who_arrive_later(
    world: dict[str, Any],
) -> None:
    """A fold is stored once; a person stored later gets theirs at the next build."""
    from creditgraph.features.labels import assign_folds

    home = world["homes"][0]
    with migrated_engine(home.database_url) as db:
        assert assign_folds(db) == 0  # everyone already has one
        with db.begin() as conn:
            conn.execute(Person.__table__.update().values(fold=None))
        assert assign_folds(db) > 0
        ids = _external_ids(home)
        with db.connect() as conn:
            rows = conn.execute(select(Person.person_id, Person.fold)).all()
    assert all(f == stable_fold(ids[str(p)]) for p, f in rows)
    assert np.bincount([f for _, f in rows], minlength=FOLDS).min() > 0


def test_both_families_learn_from_sample_weights() -> None:
    import pandas as pd

    from creditgraph.scoring.challenger import Challenger
    from creditgraph.scoring.scorecard import Scorecard, ScorecardError

    rng = np.random.default_rng(3)
    n = 1200
    x = rng.normal(size=(n, 2))
    late = np.arange(n) >= n // 2  # the recent half: the second variable matters, not the first
    logit = np.where(late, 1.5 * x[:, 1], 1.5 * x[:, 0]) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1]})
    recent = np.where(late, 1.0, 0.02)
    plain = Scorecard(random_state=0).fit(frame, y)
    weighted = Scorecard(random_state=0).fit(frame, y, sample_weight=recent)
    iv = {v.name: v.iv for v in weighted.card_.variables}
    assert iv["b"] > iv.get("a", 0.0)
    assert card_to_dict(weighted.card_) != card_to_dict(plain.card_)
    with pytest.raises(ScorecardError, match="one value per row"):
        Scorecard().fit(frame, y, sample_weight=recent[:10])
    c_plain = Challenger(features=["a", "b"], n_jobs=1).fit(frame, y)
    c_weighted = Challenger(features=["a", "b"], n_jobs=1).fit(frame, y, sample_weight=recent)
    assert not np.allclose(c_plain.predict_pd(frame), c_weighted.predict_pd(frame))
