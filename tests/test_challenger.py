"""The challenger: monotone where it must be, calibrated on validation data, explained, saved."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.base import clone

from creditgraph.scoring.challenger import (
    MAX_REASONS,
    MONOTONE,
    Challenger,
    MissingFeatureError,
    choose_calibration,
    top_reasons,
)

SEGMENTS = ["shop_owner", "worker", "student", "founder"]


def make_data(n: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Applications whose true risk is U-shaped in exposure: the constraint must still hold."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.5, 0.6, n).round()
    exposure = rng.gamma(2.0, 0.5, n)
    dpd = rng.choice([0, 0, 0, 5, 15, 35, 95], n)
    age = rng.integers(18, 70, n)
    account = rng.integers(0, 2000, n)
    segment = rng.choice(SEGMENTS, n).astype(object)
    segment[rng.random(n) < 0.05] = None
    nbr_income = income * rng.lognormal(0, 0.3, n)
    seg_effect = np.array([{"student": 0.6, "founder": 0.3}.get(s, 0.0) for s in segment])
    logit = (
        -2.2
        - 0.6 * np.log(income / 5000)
        + 0.9 * (exposure - 1.0) ** 2
        + 0.02 * dpd
        - 0.0004 * account
        + 0.01 * np.abs(age - 40)
        + seg_effect
        - 0.3 * np.log(nbr_income / 5000)
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    table = pa.table(
        {
            "person_id": [f"p{i}" for i in range(n)],
            "segment": pa.array(segment, pa.string()),
            "age_years": age,
            "income_monthly_fen": income,
            "account_age_days": account,
            "ext_max_dpd": dpd,
            "default_exposure": exposure,
            "nbr1_mean_income_monthly_fen": nbr_income,
            "label_defaulted": y,
        }
    )
    return table, y


def quick(**params: Any) -> Challenger:
    return Challenger(n_estimators=300, learning_rate=0.08, **params)


@pytest.fixture(scope="module")
def data() -> tuple[pa.Table, np.ndarray]:
    return make_data(4000, seed=1)


@pytest.fixture(scope="module")
def model(data: tuple[pa.Table, np.ndarray]) -> Challenger:
    table, y = data
    return quick().fit(table, y)


def test_features_are_the_catalogue_columns_present(model: Challenger) -> None:
    assert model.feature_names_in_ == (
        "segment",
        "age_years",
        "income_monthly_fen",
        "account_age_days",
        "ext_max_dpd",
        "default_exposure",
        "nbr1_mean_income_monthly_fen",
    )
    assert set(model.encoding_.categories) == {"segment"}
    assert model.encoding_.categories["segment"] == tuple(sorted(SEGMENTS))
    assert dict(zip(model.feature_names_in_, model.monotone_, strict=True)) == {
        "segment": 0,
        "age_years": 0,
        "income_monthly_fen": -1,
        "account_age_days": -1,
        "ext_max_dpd": 1,
        "default_exposure": 1,
        "nbr1_mean_income_monthly_fen": 0,
    }


@pytest.mark.parametrize("feature", ["default_exposure", "ext_max_dpd", "income_monthly_fen"])
def test_monotone_constraint_holds_on_a_grid(
    model: Challenger, data: tuple[pa.Table, np.ndarray], feature: str
) -> None:
    table = data[0].slice(0, 60)
    values = np.asarray(table[feature].to_numpy(), dtype=float)
    grid = np.linspace(values.min() - 1, values.max() * 2, 40)
    index = table.column_names.index(feature)
    pds = np.array(
        [model.predict_pd(table.set_column(index, feature, pa.array(np.full(60, v)))) for v in grid]
    )
    steps = np.diff(pds, axis=0) * MONOTONE[feature]
    assert steps.min() >= 0.0
    assert (np.ptp(pds, axis=0) > 0).any()  # the feature does move the PD


def test_calibration_is_chosen_on_the_validation_rows(data: tuple[pa.Table, np.ndarray]) -> None:
    table, y = data
    fitted = quick().fit(
        table.slice(0, 3000), y[:3000], X_valid=table.slice(3000), y_valid=y[3000:]
    )
    report = fitted.calibration_
    assert report["rows"] == 1000
    losses = {name: scores["log_loss"] for name, scores in report["candidates"].items()}
    assert set(losses) == {"platt", "isotonic"}
    assert report["method"] == min(losses, key=losses.__getitem__)
    assert fitted.calibrator_.method == report["method"]
    pd_ = fitted.predict_pd(table.slice(3000))
    assert abs(pd_.mean() - y[3000:].mean()) < 0.02  # calibrated on these rows


def test_choice_follows_the_shape_of_the_truth() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 1.5, 20000)
    logistic = (rng.random(20000) < 1 / (1 + np.exp(-(1.3 * margin - 1)))).astype(np.int64)
    assert choose_calibration(margin, logistic)[0].method == "platt"
    steps = np.where(margin < 0.5, 0.02, np.where(margin < 1.0, 0.9, 0.3))  # not monotone
    stepped = (rng.random(20000) < steps).astype(np.int64)
    calibrator, report = choose_calibration(margin, stepped)
    assert calibrator.method == "isotonic"
    assert report["candidates"]["isotonic"]["log_loss"] < report["candidates"]["platt"]["log_loss"]
    with pytest.raises(ValueError, match="two goods and two bads"):
        choose_calibration(margin[:10], np.array([1] + [0] * 9))


def test_contributions_sum_to_the_margin(
    model: Challenger, data: tuple[pa.Table, np.ndarray]
) -> None:
    table = data[0].slice(0, 200)
    contributions = model.contributions(table)
    assert contributions.shape == (200, len(model.feature_names_in_) + 1)
    np.testing.assert_allclose(
        contributions.sum(axis=1), model.decision_function(table), rtol=0, atol=1e-9
    )


def test_reason_codes(model: Challenger, data: tuple[pa.Table, np.ndarray]) -> None:
    table = data[0].slice(0, 300)
    texts = {name: (f"中文 {name}", f"text {name}") for name in model.feature_names_in_}
    explained = Challenger.from_dict(model.to_dict(), reason_text=texts.__getitem__)
    contributions = model.contributions(table)[:, :-1]
    all_reasons = explained.reasons(table)
    assert len(all_reasons) == 300
    assert any(len(r) == MAX_REASONS for r in all_reasons)
    for row, reasons in zip(contributions, all_reasons, strict=True):
        assert len(reasons) == min(MAX_REASONS, int((row > 0).sum()))
        values = [r.contribution for r in reasons]
        assert all(v > 0 for v in values) and values == sorted(values, reverse=True)
        assert len({r.feature for r in reasons}) == len(reasons)
        assert all((r.zh, r.en) == texts[r.feature] for r in reasons)
        adverse = sorted(row[row > 0], reverse=True)[:MAX_REASONS]
        np.testing.assert_allclose(values, adverse)
    # equal inputs give equal reasons, alone or in any batch
    reversed_rows = table.take(np.arange(299, -1, -1))
    assert explained.reasons(reversed_rows)[::-1] == all_reasons
    assert explained.reasons(table.slice(7, 1)) == [all_reasons[7]]


def test_reason_ties_go_by_name_and_texts_are_not_repeated() -> None:
    names = ["b", "a", "d", "c", "e", "f"]
    row = np.array([[2.0, 2.0, 0.0, 3.0, -1.0, 0.5]])
    got = top_reasons(row, names)[0]
    assert [r.feature for r in got] == ["c", "a", "b", "f"]
    same_text = top_reasons(row, names, lambda f: ("同", "same") if f in "ab" else (f, f))[0]
    assert [r.feature for r in same_text] == ["c", "a", "f"]  # "b" would repeat "a"'s text
    assert top_reasons(np.array([[-1.0, 0.0, 0, 0, 0, 0]]), names) == [[]]


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_save_and_load_give_the_same_scores(data: tuple[pa.Table, np.ndarray], method: str) -> None:
    table, y = data
    fitted = quick(calibration=method).fit(table, y)
    assert fitted.calibrator_.method == method
    stored = json.loads(json.dumps(fitted.to_dict()))
    loaded = Challenger.from_dict(stored)
    probe = table.slice(0, 1000)
    np.testing.assert_allclose(
        loaded.predict_pd(probe), fitted.predict_pd(probe), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        loaded.contributions(probe), fitted.contributions(probe), rtol=0, atol=1e-9
    )
    assert loaded.reasons(probe) == fitted.reasons(probe)
    assert loaded.feature_names_in_ == fitted.feature_names_in_
    assert loaded.get_params() == {**fitted.get_params(), "features": None, "categorical": None}
    with pytest.raises(ValueError, match=r"not a creditgraph\.challenger"):
        Challenger.from_dict({**stored, "version": 99})


def test_a_fixed_seed_gives_the_same_model(data: tuple[pa.Table, np.ndarray]) -> None:
    table, y = data
    first, second = quick().fit(table, y), quick().fit(table, y)
    assert first.to_dict() == second.to_dict()
    np.testing.assert_array_equal(first.predict_pd(table), second.predict_pd(table))
    other = quick(random_state=1).fit(table, y)
    assert other.to_dict()["model"] != first.to_dict()["model"]


def test_a_missing_feature_column_is_named(
    model: Challenger, data: tuple[pa.Table, np.ndarray]
) -> None:
    table = data[0].drop_columns(["ext_max_dpd", "segment"])
    with pytest.raises(MissingFeatureError, match="segment, ext_max_dpd"):
        model.predict_pd(table)
    with pytest.raises(MissingFeatureError, match="nope"):
        Challenger(features=["nope"]).fit(*data)


def test_bad_values_are_scored_with_the_documented_fallbacks(
    model: Challenger, data: tuple[pa.Table, np.ndarray]
) -> None:
    table = data[0].slice(0, 4)
    segment = table.column_names.index("segment")
    unseen = table.set_column(segment, "segment", pa.array(["astronaut"] * 4))
    missing = table.set_column(segment, "segment", pa.array([None] * 4, pa.string()))
    pd_unseen = model.predict_pd(unseen)
    assert np.isfinite(pd_unseen).all()
    np.testing.assert_array_equal(pd_unseen, model.predict_pd(missing))
    income = table.column_names.index("income_monthly_fen")
    odd = table.set_column(income, "income_monthly_fen", pa.array([np.inf, -1e15, np.nan, 1e300]))
    pd_odd = model.predict_pd(odd)
    assert np.isfinite(pd_odd).all() and ((pd_odd > 0) & (pd_odd < 1)).all()
    huge = table.set_column(income, "income_monthly_fen", pa.array([1e300] * 4))
    np.testing.assert_array_equal(model.predict_pd(huge)[0], pd_odd[0])  # inf as the largest
    words = table.set_column(income, "income_monthly_fen", pa.array(["lots"] * 4))
    with pytest.raises(ValueError, match="'income_monthly_fen' must be numeric"):
        model.predict_pd(words)
    assert model.predict_pd(table.slice(0, 0)).shape == (0,)


def test_labels_are_checked(data: tuple[pa.Table, np.ndarray]) -> None:
    table, y = data
    with pytest.raises(ValueError, match="0/1"):
        quick().fit(table, y * 2.0)
    with pytest.raises(ValueError, match="missing"):
        quick().fit(table, np.where(np.arange(y.size) == 3, np.nan, y))
    with pytest.raises(ValueError, match="both X_valid and y_valid"):
        quick().fit(table, y, X_valid=table)


def test_sklearn_conventions_and_pandas_input(
    model: Challenger, data: tuple[pa.Table, np.ndarray]
) -> None:
    pytest.importorskip("pandas")
    table = data[0].slice(0, 500)
    proba = model.predict_proba(table)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(table)) <= {0, 1}
    assert clone(model).get_params() == model.get_params()
    frame = table.to_pandas()
    frame["segment"] = frame["segment"].astype("category")
    np.testing.assert_array_equal(model.predict_pd(frame), model.predict_pd(table))
    as_dict = {name: frame[name].to_numpy() for name in frame.columns}
    np.testing.assert_array_equal(model.predict_pd(as_dict), model.predict_pd(table))
