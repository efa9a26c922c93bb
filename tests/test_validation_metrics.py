"""Validation metrics against independent references: sklearn, scipy, pROC and hand computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, norm
from sklearn.metrics import brier_score_loss, roc_auc_score

from creditgraph.scoring import metrics as m


def _binormal(
    rng: np.random.Generator, n: int, bad_rate: float = 0.2, shift: float = 1.0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    y = (rng.random(n) < bad_rate).astype(np.int64)
    risk = rng.normal(0.0, 1.0, n) + shift * y
    return y, risk


# --- discrimination ----------------------------------------------------------------------------


@pytest.mark.parametrize("decimals", [None, 1])  # continuous scores, then heavily tied ones
def test_auc_and_ks_match_sklearn_and_scipy(decimals: int | None) -> None:
    rng = np.random.default_rng(7)
    y, risk = _binormal(rng, 3000)
    if decimals is not None:
        risk = np.round(risk, decimals)
    assert m.auc(y, risk) == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
    assert m.gini(y, risk) == pytest.approx(2 * roc_auc_score(y, risk) - 1, abs=1e-12)
    reference = ks_2samp(risk[y == 1], risk[y == 0]).statistic
    assert m.ks_statistic(y, risk) == pytest.approx(reference, abs=1e-12)


def test_ks_curve_runs_from_nobody_to_everybody_declined() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    risk = np.array([0.9, 0.8, 0.8, 0.5, 0.4, 0.3, 0.3, 0.1])
    curve = m.ks_curve(y, risk)
    assert curve.population_share[0] == 0 and curve.population_share[-1] == 1
    assert curve.bad_share[-1] == 1 and curve.good_share[-1] == 1
    # the tie at 0.8 is one step: declining at >= 0.8 takes both rows
    assert list(curve.thresholds[1:3]) == [0.9, 0.8]
    # at cut-off 0.5: 3/3 bads and 1/5 goods declined
    assert curve.statistic == pytest.approx(1 - 1 / 5)
    assert curve.threshold == 0.5


def test_roc_points_span_the_unit_square() -> None:
    y, risk = _binormal(np.random.default_rng(1), 500)
    roc = m.roc_points(y, risk)
    assert roc.false_positive_rate[0] == 0 and roc.true_positive_rate[0] == 0
    assert roc.false_positive_rate[-1] == 1 and roc.true_positive_rate[-1] == 1
    assert np.trapezoid(roc.true_positive_rate, roc.false_positive_rate) == pytest.approx(
        m.auc(y, risk)
    )


@pytest.mark.parametrize("labels", [[0, 1, 2], [0, 1, float("nan")], [0, 0, 0], [1, 1, 1]], ids=str)
def test_bad_labels_are_rejected(labels: list[float]) -> None:
    with pytest.raises(ValueError):
        m.auc(labels, [0.1, 0.2, 0.3])


def test_risk_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        m.auc([0, 1], [0.1, float("nan")])


# --- lift and calibration ----------------------------------------------------------------------


def test_lift_table_adds_up() -> None:
    y, risk = _binormal(np.random.default_rng(3), 2345)
    rows = m.lift_table(y, risk)
    assert [r.group for r in rows] == list(range(1, 11))
    assert sum(r.count for r in rows) == y.size
    assert sum(r.bads for r in rows) == y.sum()
    assert rows[-1].cumulative_count == y.size
    assert rows[-1].capture == pytest.approx(1.0)
    assert rows[-1].cumulative_lift == pytest.approx(1.0)
    # the count-weighted mean lift is 1 by construction
    assert sum(r.lift * r.count for r in rows) / y.size == pytest.approx(1.0)
    assert all(a.min_risk >= b.max_risk for a, b in itertools.pairwise(rows))
    assert all(abs(r.count - y.size / 10) <= 1 for r in rows)


def test_lift_table_keeps_ties_together() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    risk = np.array([5, 5, 5, 5, 5, 5, 1, 1, 1, 1], dtype=float)  # six tied at the top
    rows = m.lift_table(y, risk, groups=5)
    assert [(r.group, r.count, r.bads) for r in rows] == [(1, 6, 2), (4, 4, 1)]


def test_calibration_matches_definitions() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    pd = np.array([0.1, 0.1, 0.2, 0.4, 0.6, 0.8])
    cal = m.calibration(y, pd, bins=2)
    assert cal.brier == pytest.approx(brier_score_loss(y, pd))
    low, high = cal.bins
    assert (low.count, low.bads, high.count, high.bads) == (3, 1, 3, 2)
    assert low.mean_predicted == pytest.approx(0.4 / 3)
    # ECE = ½·|1/3 − 0.4/3| + ½·|2/3 − 1.8/3|
    assert cal.expected_calibration_error == pytest.approx(0.5 * 0.6 / 3 + 0.5 * 0.2 / 3)


def test_calibration_rejects_pd_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.calibration([0, 1], [0.2, 1.2])


# --- population stability ----------------------------------------------------------------------


def test_psi_hand_computed() -> None:
    reference = np.arange(1, 11, dtype=float)  # median 5.5 → bins (-inf, 5.5], (5.5, inf)
    actual = np.array([1, 2, 3, 6, 7, 8, 9, 10, 11, 12], dtype=float)  # shares 0.3, 0.7
    result = m.psi(reference, actual, bins=2)
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.value == pytest.approx(0.2 * math.log(7 / 3), abs=1e-12)
    assert [b.label for b in result.bins] == ["(-inf, 5.5]", "(5.5, inf)"]
    assert result.status == "watch"


def test_psi_uses_epsilon_for_an_empty_bin() -> None:
    reference = np.arange(1, 11, dtype=float)
    actual = np.array([1, 2, 3], dtype=float)  # nothing above the median
    eps = 1e-4
    expected = (1 - 0.5) * math.log(1 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)
    assert m.psi(reference, actual, bins=2, epsilon=eps).value == pytest.approx(expected)
    assert m.psi(reference, actual, bins=2).status == "alert"


def test_psi_of_identical_samples_is_zero() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=1000)
    values[::17] = np.nan
    assert m.psi(values, values.copy()).value == 0.0
    cats = rng.choice(np.array(["a", "b", None], dtype=object), 500)
    assert m.categorical_psi(cats, cats.copy()).value == 0.0


def test_psi_missing_values_form_their_own_bin() -> None:
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    actual = np.array([1.0, 2.0, np.nan, np.nan])
    result = m.psi(reference, actual, bins=2)
    assert result.bins[-1].label == m.MISSING_LABEL
    assert result.bins[-1].actual_share == 0.5 and result.bins[-1].expected_share == 0.0


def test_categorical_psi_counts_unseen_categories() -> None:
    result = m.categorical_psi(["a", "a", "b", "b"], ["a", "b", "c", "c"])
    shares = {b.label: (b.expected_share, b.actual_share) for b in result.bins}
    assert shares == {"a": (0.5, 0.25), "b": (0.5, 0.25), "c": (0.0, 0.5)}
    eps = m.PSI_EPSILON
    expected = 2 * (0.25 - 0.5) * math.log(0.5) + (0.5 - eps) * math.log(0.5 / eps)
    assert result.value == pytest.approx(expected)


def test_variable_psi_bins_numeric_by_decile_and_categories_by_value() -> None:
    rng = np.random.default_rng(11)
    reference = pa.table(
        {
            "income": pa.array(rng.lognormal(8, 1, 2000)),
            "segment": pa.array(rng.choice(["farmer", "student"], 2000)),
            "age": pa.array(rng.integers(18, 70, 2000)),
        }
    )
    actual = {
        "income": rng.lognormal(8.5, 1, 1500),
        "segment": rng.choice(["farmer", "student"], 1500, p=[0.2, 0.8]),
        "age": rng.integers(18, 70, 1500),
        "extra": np.zeros(1500),
    }
    result = {v.name: v for v in m.variable_psi(reference, actual)}
    assert list(result) == ["income", "segment", "age"]  # reference order, common columns only
    assert result["income"].kind == "numeric" and len(result["income"].psi.bins) == 10
    assert result["segment"].kind == "categorical" and len(result["segment"].psi.bins) == 2
    assert result["age"].status == "stable"
    assert result["segment"].status == "alert"
    with pytest.raises(KeyError, match="extra"):
        m.variable_psi(reference, actual, columns=["extra"])


def test_psi_status_thresholds() -> None:
    assert [m.psi_status(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25)] == [
        "stable",
        "stable",
        "watch",
        "watch",
        "alert",
    ]


# --- DeLong ------------------------------------------------------------------------------------

# pROC's aSAH data (113 patients, 41 poor outcomes): counts per value of two markers,
# reconstructed from the expected ROC coordinates in pROC's test suite. DeLong's variance depends
# only on the ranking, so the marker's rank order is enough. pROC's tests (test-var.R) give
# var(roc(outcome, wfns)) = 0.00146991470882363 and var(roc(outcome, s100b)) = 0.00266868245717244.
WFNS_GOOD = [37, 20, 3, 8, 4]  # wfns 1..5
WFNS_POOR = [2, 12, 1, 8, 18]
S100B_POOR = [1, 0, 0, 0, 3, 1, 2, 2, 1, 1, 2, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1]
S100B_POOR += [1, 1, 0, 1, 0, 1, 0, 2, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1]
S100B_GOOD = [0, 5, 3, 2, 6, 6, 6, 7, 4, 0, 3, 4, 4, 3, 2, 1, 2, 0, 0, 1, 0, 0, 0, 1, 0]
S100B_GOOD += [1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def _from_counts(good: list[int], poor: list[int]) -> tuple[np.ndarray, np.ndarray]:
    levels = np.arange(len(good), dtype=float)
    risk = np.r_[np.repeat(levels, good), np.repeat(levels, poor)]
    y = np.r_[np.zeros(sum(good)), np.ones(sum(poor))]
    return y, risk


@pytest.mark.parametrize(
    ("good", "poor", "auc", "variance"),
    [
        (WFNS_GOOD, WFNS_POOR, 0.82367886178861782, 0.00146991470882363),
        (S100B_GOOD, S100B_POOR, 0.73136856368563685, 0.00266868245717244),
    ],
    ids=["wfns", "s100b"],
)
def test_delong_variance_matches_proc(
    good: list[int], poor: list[int], auc: float, variance: float
) -> None:
    y, risk = _from_counts(good, poor)
    assert (int(y.sum()), int((1 - y).sum())) == (41, 72)
    aucs, cov = m.delong_covariance(y, risk)
    assert aucs[0] == pytest.approx(auc, abs=1e-12)
    assert cov[0, 0] == pytest.approx(variance, rel=1e-10)
    est = m.auc_ci(y, risk)
    z = norm.ppf(0.975)
    assert est.lower == pytest.approx(auc - z * math.sqrt(variance), rel=1e-9)
    assert est.upper == pytest.approx(auc + z * math.sqrt(variance), rel=1e-9)
    assert (est.n_bad, est.n_good) == (41, 72)


def _delong_by_definition(y: np.ndarray, *risks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong 1988 straight from the definition: O(m·n) kernel matrices, no ranks."""
    v10s, v01s, aucs = [], [], []
    for r in risks:
        x, z = r[y == 1], r[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m_, n_ = len(v10s[0]), len(v01s[0])
    s10 = np.atleast_2d(np.cov(np.array(v10s)))
    s01 = np.atleast_2d(np.cov(np.array(v01s)))
    return np.array(aucs), s10 / m_ + s01 / n_


def test_delong_covariance_matches_the_definition_with_ties() -> None:
    rng = np.random.default_rng(21)
    y, a = _binormal(rng, 400)
    b = np.round(a + rng.normal(0, 0.7, a.size), 1)  # correlated, with many ties
    aucs, cov = m.delong_covariance(y, a, b)
    ref_aucs, ref_cov = _delong_by_definition(y, a, b)
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-10, atol=0)
    diff = m.paired_auc_difference(y, a, b)
    assert diff.difference == pytest.approx(ref_aucs[0] - ref_aucs[1])
    var = ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1]
    assert diff.standard_error == pytest.approx(math.sqrt(var))
    assert diff.p_value == pytest.approx(2 * norm.sf(abs(diff.difference) / math.sqrt(var)))


def test_delong_needs_two_of_each_outcome() -> None:
    with pytest.raises(ValueError, match="two bads"):
        m.auc_ci([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3])


def test_paired_interval_covers_the_true_difference() -> None:
    """Binormal scores with known AUCs Φ(μ/√2): the 95% paired interval covers about 95% of runs."""
    rng = np.random.default_rng(2024)
    mu_a, mu_b, rho = 1.2, 0.9, 0.6
    true_diff = norm.cdf(mu_a / math.sqrt(2)) - norm.cdf(mu_b / math.sqrt(2))
    runs, covered = 400, 0
    cov = [[1.0, rho], [rho, 1.0]]
    for _ in range(runs):
        n_bad, n_good = 120, 360
        bads = rng.multivariate_normal([mu_a, mu_b], cov, n_bad)
        goods = rng.multivariate_normal([0.0, 0.0], cov, n_good)
        scores = np.vstack([bads, goods])
        y = np.r_[np.ones(n_bad), np.zeros(n_good)]
        d = m.paired_auc_difference(y, scores[:, 0], scores[:, 1])
        covered += d.lower <= true_diff <= d.upper
    assert 0.92 <= covered / runs <= 0.98


def test_independent_difference_adds_variances() -> None:
    rng = np.random.default_rng(8)
    first = m.auc_ci(*_binormal(rng, 800))
    second = m.auc_ci(*_binormal(rng, 800, shift=0.5))
    d = m.independent_auc_difference(second, first)
    assert not d.paired
    assert d.standard_error == pytest.approx(
        math.hypot(first.standard_error, second.standard_error)
    )
    assert d.difference == pytest.approx(second.auc - first.auc)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(10, 120),
    decimals=st.sampled_from([0, 1, 3]),
)
def test_paired_difference_properties(seed: int, n: int, decimals: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(3), np.zeros(3), (rng.random(n) < 0.3)].astype(int)
    a = np.round(rng.normal(size=y.size) + y, decimals)
    b = np.round(rng.normal(size=y.size) + 0.5 * y, decimals)
    ab = m.paired_auc_difference(y, a, b)
    ba = m.paired_auc_difference(y, b, a)
    assert ab.difference == pytest.approx(-ba.difference, abs=1e-12)
    assert ab.standard_error == pytest.approx(ba.standard_error, abs=1e-12)
    assert ab.lower <= ab.difference <= ab.upper
    assert ab.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    # a model against itself, or against a strictly increasing transform of itself: no difference
    same = m.paired_auc_difference(y, a, np.exp(a))
    assert same.difference == pytest.approx(0.0, abs=1e-12)
    assert same.standard_error == pytest.approx(0.0, abs=1e-9)


# --- tables ------------------------------------------------------------------------------------


def test_column_arrays_from_arrow_and_mappings() -> None:
    table = pa.table(
        {
            "n": pa.array([1, None, 3]),
            "s": pa.array(["a", None, "c"]),
            "flag": pa.array([True, False, None]),
        }
    )
    cols = m.column_arrays(table)
    assert np.isnan(cols["n"][1]) and cols["n"].dtype == np.float64
    assert cols["s"].tolist() == ["a", None, "c"]
    assert not m.is_numeric(cols["flag"])
    mapped = m.column_arrays({"n": [1, 2], "s": ["x", "y"], "b": np.array([True, False])})
    assert m.is_numeric(mapped["n"]) and not m.is_numeric(mapped["s"])
    assert not m.is_numeric(mapped["b"])
