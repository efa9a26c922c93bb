"""The monotone scorecard: fitting, monotone bins, reasons, determinism and bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditgraph.scoring.card import GradeBand, Scaling
from creditgraph.scoring.card_codec import card_to_dict
from creditgraph.scoring.coercion import ScoringInputError
from creditgraph.scoring.reasons import (
    CATALOGUE,
    MAX_REASONS,
    SIDES,
    loss_ranks,
    reason_text,
    smallest_ranks,
)
from creditgraph.scoring.scorecard import MONOTONE_TRENDS, Scorecard, ScorecardError


def make_data(seed: int = 0, n: int = 3000, shape: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Applicants with known risk drivers; ``shape`` bends ``income`` towards a U-shaped risk."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.5, 0.6, n)
    overdue = rng.poisson(0.6, n).astype(float)
    age = rng.integers(18, 70, n).astype(float)
    city = rng.choice(np.array(["tier1", "tier2", "county", "rural"]), n, p=[0.2, 0.3, 0.3, 0.2])
    months = rng.integers(0, 120, n).astype(float)
    months[rng.random(n) < 0.15] = np.nan  # missing, with its own risk
    bureau = rng.normal(0.0, 1.0, n)
    bureau[rng.random(n) < 0.1] = -999.0  # special code: no bureau file
    noise = rng.normal(size=n)
    z = np.log(income / 5000.0)
    logit = (
        -1.0
        - 0.9 * z
        + shape * z**2
        + 0.7 * overdue
        - 0.02 * (age - 40)
        + np.select([city == "rural", city == "county", city == "tier1"], [0.6, 0.3, -0.4], 0.0)
        + np.where(np.isnan(months), 0.8, -0.01 * np.nan_to_num(months))
        + np.where(bureau == -999.0, 0.9, -0.5 * bureau)
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "income": income,
            "overdue": overdue,
            "age": age,
            "city": city,
            "months_on_book": months,
            "bureau": bureau,
            "noise": noise,
        }
    )
    return frame, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, np.ndarray]) -> Scorecard:
    frame, y = data
    return Scorecard(special_codes=[-999.0], random_state=0).fit(frame, y)


def _regular_woe(model: Scorecard, name: str) -> list[float]:
    v = next(v for v in model.card_.variables if v.name == name)
    return [b.woe for b in v.bins[: v.n_regular]]


# --- fitting ---------------------------------------------------------------------------------


def test_fit_selects_by_iv_and_follows_sklearn_conventions(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    names = list(model.get_feature_names_out())
    assert {"income", "overdue", "city", "bureau"} <= set(names)
    assert "noise" not in names
    noise = next(r for r in model.iv_table_ if r["variable"] == "noise")
    assert noise["selected"] is False and noise["note"] in ("IV below minimum", "one bin")
    assert model.n_features_in_ == frame.shape[1]
    woe = model.transform(frame)
    assert woe.shape == (len(frame), len(names))
    proba = model.predict_proba(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(model.predict(frame))) <= {0, 1}
    assert model.card_.training["train_auc"] > 0.7
    params = model.get_params()
    assert params["min_iv"] == 0.02 and params["monotonic_trend"] == "auto_asc_desc"
    assert all(v.coefficient < 0 for v in model.card_.variables)


def test_score_and_pd_follow_the_scaling(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    scaling = model.card_.scaling
    score = model.score(frame)
    pd_bad = model.predict_proba(frame)[:, 1]
    odds = (1 - pd_bad) / pd_bad
    np.testing.assert_allclose(
        score, scaling.base_score + scaling.pdo * np.log2(odds / scaling.base_odds), rtol=1e-12
    )


def test_scaling_defaults() -> None:
    s = Scaling()
    assert s.base_score == 600 and s.base_odds == 50 and s.pdo == 20
    assert s.offset + s.factor * math.log(50) == pytest.approx(600)
    assert s.offset + s.factor * math.log(100) == pytest.approx(620)


def test_woe_matches_optbinning_on_training_data(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    ours = model.transform(frame)
    for j, name in enumerate(model.get_feature_names_out()):
        optb = model.binnings_[name]
        theirs = optb.transform(
            frame[name].to_numpy(),
            metric="woe",
            metric_special="empirical",
            metric_missing="empirical",
        )
        np.testing.assert_allclose(ours[:, j], theirs, rtol=1e-12, atol=1e-12, err_msg=name)


def test_special_and_missing_bins_are_rated_from_data(model: Scorecard) -> None:
    months = next(v for v in model.card_.variables if v.name == "months_on_book")
    bureau = next(v for v in model.card_.variables if v.name == "bureau")
    assert (
        months.bins[months.missing_bin].count > 0
        and months.bins[months.missing_bin].fallback is None
    )
    assert (
        bureau.bins[bureau.special_bin].count > 0
        and bureau.bins[bureau.special_bin].fallback is None
    )
    # Both carry high risk in the data, so both cost points against the best bin.
    assert months.bins[months.missing_bin].points < months.best_points
    assert bureau.bins[bureau.special_bin].points < bureau.best_points


def test_numeric_bins_are_monotone(model: Scorecard) -> None:
    for v in model.card_.variables:
        if v.kind == "numeric":
            woe = _regular_woe(model, v.name)
            steps = np.diff(woe)
            assert (steps < 0).all() or (steps > 0).all(), (v.name, woe)
            assert v.trend in ("ascending", "descending")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shape=st.sampled_from([0.0, 0.6, 1.5]))
def test_property_monotone_trend_gives_monotone_bins_and_points(seed: int, shape: float) -> None:
    """Even when the true risk is U-shaped, every numeric variable's bins and points are monotone."""
    frame, y = make_data(seed, n=1500, shape=shape)
    fitted = Scorecard(random_state=seed, min_iv=0.0).fit(frame, y)
    assert fitted.monotonic_trend in MONOTONE_TRENDS
    for v in fitted.card_.variables:
        if v.kind != "numeric":
            continue
        woe = np.array([b.woe for b in v.bins[: v.n_regular]])
        points = np.array([b.points for b in v.bins[: v.n_regular]])
        for values in (woe, points):
            steps = np.diff(values)
            assert (steps <= 0).all() or (steps >= 0).all(), (v.name, values)


def test_per_variable_trend_is_respected(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = data
    fitted = Scorecard(monotonic_trend={"overdue": "ascending", "income": "descending"}).fit(
        frame, y
    )
    # Event rate rises with overdue loans (WoE falls) and falls with income (WoE rises).
    assert (np.diff(_regular_woe(fitted, "overdue")) < 0).all()
    assert (np.diff(_regular_woe(fitted, "income")) > 0).all()


def test_fit_is_deterministic(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = data
    cards = [card_to_dict(Scorecard(random_state=7).fit(frame, y).card_) for _ in range(2)]
    for card in cards:
        card.pop("created_at")
    assert cards[0] == cards[1]


def test_bad_parameters_and_targets_are_refused(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = data
    with pytest.raises(ScorecardError, match="monotonic trend"):
        Scorecard(monotonic_trend="wiggly").fit(frame, y)
    with pytest.raises(ScorecardError, match="grades"):
        Scorecard(grades=(GradeBand("A", 600.0), GradeBand("B", 650.0), GradeBand("C", None))).fit(
            frame, y
        )
    with pytest.raises(ScorecardError, match="0 \\(good\\) or 1 \\(bad\\)"):
        Scorecard().fit(frame, y * 2)
    with pytest.raises(ScorecardError, match="both"):
        Scorecard().fit(frame, np.zeros(len(frame), dtype=int))
    with pytest.raises(ScorecardError, match="DataFrame"):
        Scorecard().fit(frame.to_numpy(), y)  # type: ignore[arg-type]
    with pytest.raises(ScorecardError, match="minimum information value"):
        Scorecard().fit(frame[["noise"]], y)
    with pytest.raises(ScorecardError, match="not fitted"):
        Scorecard().transform(frame)
    dated = frame.assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(ScorecardError, match="'when' holds dates"):
        Scorecard().fit(dated, y)


def test_odd_columns_are_reported_not_fatal(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = data
    odd = frame.assign(empty=np.nan, constant=5.0, one_city="x", nothing=None)
    fitted = Scorecard().fit(odd, y)
    notes = {r["variable"]: r["note"] for r in fitted.iv_table_}
    assert notes["empty"] == notes["nothing"] == "no values"
    assert notes["constant"] == notes["one_city"] == "a single value"
    empty = pa.table({c: pa.array([None] * 3) for c in odd.columns})
    assert len(fitted.scorer_.score_batch(empty)) == 3  # all missing: every missing bin


# --- grades ----------------------------------------------------------------------------------


def test_grade_bands_include_their_lower_edge(model: Scorecard) -> None:
    scorer = model.scorer_
    floors = {g.grade: g.min_score for g in model.card_.grades}
    assert floors == {"A": 620.0, "B": 580.0, "C": 540.0, "D": 500.0, "E": None}
    assert scorer._grade_of(620.0) == "A"
    assert scorer._grade_of(619.999) == "B"
    assert scorer._grade_of(-1e9) == "E"


# --- reasons ---------------------------------------------------------------------------------


def test_every_product_feature_has_a_catalogue_entry() -> None:
    from creditgraph.features.catalogue import all_features

    names = {f.name for f in all_features()}
    assert len(names) == 62 + 24
    assert set(CATALOGUE) == names
    codes = [e.code for e in CATALOGUE.values()]
    assert len(set(codes)) == len(codes)
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for name, entry in CATALOGUE.items():
        for side in SIDES:
            text = reason_text(name, side)
            assert text.code.startswith(entry.code)
            assert cjk.search(text.zh) and text.en and not cjk.search(text.en), (name, side)
    assert reason_text("default_exposure", "high").zh == "与您联系密切的人中有逾期记录"
    assert reason_text("default_exposure", "high").en == "close contacts with overdue loans"


def test_generic_reason_names_the_column() -> None:
    for side in SIDES:
        text = reason_text("monthly_rent", side)
        assert "monthly_rent" in text.zh and "monthly_rent" in text.en
        assert text.code.startswith("X:monthly_rent")
    assert (
        reason_text("monthly_rent", "high").en
        == "monthly_rent is higher than its most favourable range"
    )


def test_reason_ranks_break_ties_by_name() -> None:
    # entries: (variable, lost) — b and a tie on 5.0; c's 0 loss is never a reason.
    names = ["b", "b", "a", "a", "c", "d"]
    lost = [5.0, 0.0, 5.0, 1.0, 0.0, 7.0]
    ranks = loss_ranks(lost, names)
    assert ranks.tolist() == [2, 6, 1, 3, 6, 0]
    rows = np.array([[0, 1], [2, 3], [4, 4], [5, 5]])  # one entry per variable, two rows
    top = smallest_ranks(ranks[rows], none=6)
    assert top.tolist() == [[0, 1, 2, 6], [0, 3, 6, 6]]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_smallest_ranks_equal_a_sort(data: st.DataObject) -> None:
    variables = data.draw(st.integers(1, 9))
    rows = data.draw(st.integers(1, 20))
    none = 100
    picks = data.draw(
        st.lists(
            st.lists(st.integers(0, none), min_size=variables, max_size=variables, unique=True),
            min_size=rows,
            max_size=rows,
        )
    )
    ranks = np.array(picks, dtype=np.int16).T
    expected = [sorted(row)[:MAX_REASONS] for row in picks]
    expected = [(e + [none] * MAX_REASONS)[:MAX_REASONS] for e in expected]
    got = smallest_ranks(ranks, none).tolist()
    assert [[min(x, none) for x in row] for row in got] == [
        [min(x, none) for x in row] for row in expected
    ]


def _row(frame: pd.DataFrame, i: int) -> dict[str, object]:
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in frame.iloc[i].items()
    }


def test_reasons_are_at_most_four_largest_first_and_match_the_batch(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    scorer = model.scorer_
    batch = scorer.score_batch({c: frame[c].to_numpy() for c in frame.columns})
    variables = {v.name: v for v in model.card_.variables}
    for i in range(0, len(frame), 37):
        row = scorer.score_row(_row(frame, i))
        assert 0 < len(row.reasons) <= MAX_REASONS
        lost = [r.points_lost for r in row.reasons]
        assert lost == sorted(lost, reverse=True) and all(x > 0 for x in lost)
        for r in row.reasons:
            assert r.code and r.zh and r.en
            assert (
                0
                < r.points_lost
                <= variables[r.variable].best_points
                - min(b.points for b in variables[r.variable].bins)
            )
        assert batch.row_reasons(i) == row.reasons
        assert row.score == pytest.approx(batch.score[i], abs=1e-9)
        assert row.grade == batch.grade[i]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    income=st.floats(0, 1e7, allow_nan=False),
    overdue=st.integers(0, 20),
    age=st.integers(-5, 150),
    city=st.sampled_from(["tier1", "tier2", "county", "rural", "moon", None]),
    months=st.one_of(st.none(), st.floats(-10, 500)),
    bureau=st.one_of(st.just(-999.0), st.floats(-10, 10)),
)
def test_property_reasons_stable_and_bounded(
    model: Scorecard,
    income: float,
    overdue: int,
    age: int,
    city: str | None,
    months: float | None,
    bureau: float,
) -> None:
    row = {
        "income": income,
        "overdue": overdue,
        "age": age,
        "city": city,
        "months_on_book": months,
        "bureau": bureau,
        "noise": 0.0,
    }
    first = model.scorer_.score_row(row)
    assert first == model.scorer_.score_row(dict(reversed(list(row.items()))))
    assert len(first.reasons) <= MAX_REASONS
    keys = [(-r.points_lost, r.variable) for r in first.reasons]
    assert keys == sorted(keys)
    batch = model.scorer_.score_batch({k: np.array([v], dtype=object) for k, v in row.items()})
    assert batch.row_reasons(0) == first.reasons
    assert batch.score[0] == pytest.approx(first.score, abs=1e-9)


# --- bad input -------------------------------------------------------------------------------


def _points(model: Scorecard, name: str, row: dict[str, object]) -> float:
    """The points one variable contributes to ``row``."""
    v = next(v for v in model.card_.variables if v.name == name)
    scorer = model.scorer_
    compiled = next(c for c in scorer._vars if c.name == name)
    return v.bins[scorer._row_bin(compiled, row[name])].points


def test_unseen_category_takes_the_worst_bin(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    base = _row(frame, 0)
    city = next(v for v in model.card_.variables if v.name == "city")
    worst = min(b.points for b in city.bins[: city.n_regular])
    unseen = {**base, "city": "atlantis"}
    assert _points(model, "city", unseen) == worst
    scored = model.scorer_.score_row(unseen)
    assert scored.score <= model.scorer_.score_row(base).score
    batch = model.scorer_.score_batch(pa.Table.from_pylist([unseen]))
    assert batch.score[0] == pytest.approx(scored.score, abs=1e-9)
    assert (
        card_to_dict(model.card_)["variables"][
            [v.name for v in model.card_.variables].index("city")
        ]["unseen_category_bin"]
        == city.worst_bin
    )


def test_missing_values_take_the_missing_bin(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    base = _row(frame, 0)
    months = next(v for v in model.card_.variables if v.name == "months_on_book")
    for missing in (None, float("nan"), "", "NA", "null"):
        assert (
            _points(model, "months_on_book", {**base, "months_on_book": missing})
            == months.bins[-1].points
        )
    # No missing income in training: the missing bin falls back to the worst regular bin.
    income = next(v for v in model.card_.variables if v.name == "income")
    assert income.bins[-1].fallback == "worst_bin"
    assert _points(model, "income", {**base, "income": None}) == min(
        b.points for b in income.bins[: income.n_regular]
    )
    city = next(v for v in model.card_.variables if v.name == "city")
    assert _points(model, "city", {**base, "city": None}) == city.bins[-1].points
    table = pa.table(
        {
            k: pa.array([v if k != "city" else None], type=pa.string() if k == "city" else None)
            for k, v in base.items()
        }
    )
    assert model.scorer_.score_batch(table).score[0] == pytest.approx(
        model.scorer_.score_row({**base, "city": None}).score, abs=1e-9
    )


def test_out_of_range_numbers_take_the_edge_bins(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    base = _row(frame, 0)
    income = next(v for v in model.card_.variables if v.name == "income")
    assert (
        _points(model, "income", {**base, "income": 1e12})
        == income.bins[income.n_regular - 1].points
    )
    assert _points(model, "income", {**base, "income": -1e12}) == income.bins[0].points
    assert (
        _points(model, "income", {**base, "income": float("inf")})
        == income.bins[income.n_regular - 1].points
    )


def test_text_in_a_numeric_column_is_a_clear_error(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    columns = {c: frame[c].to_numpy()[:5].astype(object) for c in frame.columns}
    columns["income"][3] = "lots"
    with pytest.raises(ScoringInputError, match=r"column 'income' must be numeric.*row 4: 'lots'"):
        model.scorer_.score_batch(columns)
    table = pa.table(
        {c: pa.array([str(x) for x in frame[c].to_numpy()[:3]]) for c in frame.columns}
    )
    table = table.set_column(0, "income", pa.array(["1200", " 3400 ", "twelve"]))
    with pytest.raises(ScoringInputError, match="row 3: 'twelve'"):
        model.scorer_.score_batch(table)
    with pytest.raises(ScoringInputError, match="'income'"):
        model.scorer_.score_row({**_row(frame, 0), "income": "twelve"})
    numeric_text = {c: np.array([str(x) for x in frame[c].to_numpy()[:3]]) for c in frame.columns}
    np.testing.assert_allclose(
        model.scorer_.score_batch(numeric_text).score,
        model.scorer_.score_batch({c: frame[c].to_numpy()[:3] for c in frame.columns}).score,
    )


def test_a_missing_feature_column_is_named(
    model: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    partial = frame.drop(columns=["income", "city"])
    with pytest.raises(ScoringInputError, match="missing feature columns: 'income', 'city'"):
        model.scorer_.score_batch({c: partial[c].to_numpy() for c in partial.columns})
    with pytest.raises(ScoringInputError, match="'city'"):
        model.scorer_.score_batch(pa.Table.from_pandas(partial))
    with pytest.raises(ScoringInputError, match="missing feature column"):
        model.scorer_.score_row(_row(partial, 0))
    # Columns the card does not use are ignored, so "noise" may be absent.
    model.scorer_.score_row({k: v for k, v in _row(frame, 0).items() if k != "noise"})
