"""Validation metrics for PD models: discrimination, calibration, stability and their uncertainty.

Conventions used throughout:

- ``y_bad`` is 1 for a bad outcome (default) and 0 for a good one.
- ``risk`` is any score where a larger value means *more likely bad*: a PD, or minus scorecard
  points. AUC, KS and lift are invariant to strictly increasing transforms of ``risk``.

AUC confidence intervals use DeLong's nonparametric variance (DeLong, DeLong & Clarke-Pearson 1988)
computed with midranks as in Sun & Xu (2014), so they cost one sort per model. For two models scored
on the same people the paired covariance gives a confidence interval for the AUC difference, which
is how a claim such as "graph features add +0.03 AUC" is stated honestly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score, roc_curve

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Table: TypeAlias = "pa.Table | Mapping[str, Any]"
"""A table of variables: a pyarrow table or a mapping of column name to a 1-d array or list."""

PSI_WATCH = 0.1  # PSI at or above this: the population has moved; investigate
PSI_ALERT = 0.25  # PSI at or above this: a significant shift; the model may need rework
PSI_EPSILON = 1e-4  # share used for a bin that is empty in one sample, so ln() stays finite
MISSING_LABEL = "(missing)"

PsiStatus = Literal["stable", "watch", "alert"]


# ---------------------------------------------------------------------------------------------
# input checks


def binary_labels(y_bad: npt.ArrayLike) -> IntArray:
    """Labels as a 0/1 integer array; anything else is a caller error, not a silent coercion."""
    y = np.asarray(y_bad)
    if y.ndim != 1:
        raise ValueError("labels must be one-dimensional")
    if y.dtype == np.bool_:
        return y.astype(np.int64)
    values = y.astype(np.float64)
    if not np.all((values == 0.0) | (values == 1.0)):
        raise ValueError("labels must be 0 (good) or 1 (bad), without missing values")
    return values.astype(np.int64)


def _scores(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return arr


def _labelled(y_bad: npt.ArrayLike, risk: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    """Validated labels and risk of equal length with at least one bad and one good."""
    y = binary_labels(y_bad)
    r = _scores(risk, "risk")
    if y.shape != r.shape:
        raise ValueError(f"labels ({y.size}) and risk ({r.size}) differ in length")
    bads = int(y.sum())
    if bads == 0 or bads == y.size:
        raise ValueError("both good and bad outcomes are needed")
    return y, r


# ---------------------------------------------------------------------------------------------
# discrimination


def auc(y_bad: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance a random bad is ranked riskier than a random good."""
    y, r = _labelled(y_bad, risk)
    return float(roc_auc_score(y, r))


def gini(y_bad: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Gini (accuracy ratio) = 2·AUC − 1, the figure credit teams usually quote."""
    return 2.0 * auc(y_bad, risk) - 1.0


@dataclass(frozen=True)
class RocCurve:
    """ROC points; ``thresholds[i]`` declines everyone with risk >= it."""

    false_positive_rate: FloatArray  # share of goods declined
    true_positive_rate: FloatArray  # share of bads declined
    thresholds: FloatArray


def roc_points(y_bad: npt.ArrayLike, risk: npt.ArrayLike) -> RocCurve:
    """The ROC curve from (0, 0) to (1, 1), collinear points dropped."""
    y, r = _labelled(y_bad, risk)
    fpr, tpr, thresholds = roc_curve(y, r)
    return RocCurve(
        np.asarray(fpr, dtype=np.float64),
        np.asarray(tpr, dtype=np.float64),
        np.asarray(thresholds, dtype=np.float64),
    )


@dataclass(frozen=True)
class KsCurve:
    """Cumulative shares of bads and goods declined as the cut-off moves down the risk ranking.

    Point ``i`` declines everyone with risk >= ``thresholds[i]``; point 0 declines nobody.
    """

    thresholds: FloatArray
    population_share: FloatArray
    bad_share: FloatArray
    good_share: FloatArray
    statistic: float  # max |bad_share − good_share|
    at: int  # index of the point where the gap is largest

    @property
    def threshold(self) -> float:
        """The risk cut-off where the two cumulative distributions are furthest apart."""
        return float(self.thresholds[self.at])


def ks_curve(y_bad: npt.ArrayLike, risk: npt.ArrayLike) -> KsCurve:
    """KS curve with one point per distinct risk value, so tied scores never split."""
    y, r = _labelled(y_bad, risk)
    order = np.argsort(-r, kind="stable")
    sorted_risk = r[order]
    sorted_bad = y[order]
    # last position of each run of equal risk values
    ends = np.flatnonzero(np.r_[sorted_risk[1:] != sorted_risk[:-1], True])
    cum_bad = np.cumsum(sorted_bad)[ends]
    cum_all = ends + 1
    n_bad = int(y.sum())
    n_good = y.size - n_bad
    bad_share = np.r_[0.0, cum_bad / n_bad]
    good_share = np.r_[0.0, (cum_all - cum_bad) / n_good]
    gap = np.abs(bad_share - good_share)
    at = int(np.argmax(gap))
    return KsCurve(
        thresholds=np.r_[np.inf, sorted_risk[ends]],
        population_share=np.r_[0.0, cum_all / y.size],
        bad_share=bad_share,
        good_share=good_share,
        statistic=float(gap[at]),
        at=at,
    )


def ks_statistic(y_bad: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov–Smirnov distance between the risk of bads and of goods."""
    return ks_curve(y_bad, risk).statistic


# ---------------------------------------------------------------------------------------------
# lift / gains and calibration


def rank_groups(values: FloatArray, groups: int, descending: bool) -> IntArray:
    """Equal-count groups by rank, ties kept together (a tie never straddles two groups).

    A row's group is ``floor(first_rank · groups / n)`` where ``first_rank`` is the 0-based
    position of the first row with the same value; groups may therefore be uneven or empty
    when many values tie.
    """
    if groups < 1:
        raise ValueError("groups must be at least 1")
    keys = -values if descending else values
    ordered = np.sort(keys, kind="stable")
    first = np.searchsorted(ordered, keys, side="left")
    return (first * groups) // max(values.size, 1)


@dataclass(frozen=True)
class LiftRow:
    """One group of the lift/gains table; group 1 holds the riskiest applicants."""

    group: int
    count: int
    min_risk: float
    max_risk: float
    bads: int
    bad_rate: float
    cumulative_count: int
    cumulative_bads: int
    capture: float  # share of all bads found in groups 1..group (the gains curve)
    lift: float  # this group's bad rate / the overall bad rate
    cumulative_lift: float  # capture / share of the population in groups 1..group


def lift_table(y_bad: npt.ArrayLike, risk: npt.ArrayLike, groups: int = 10) -> list[LiftRow]:
    """Lift and gains by risk group (deciles by default), riskiest first; empty groups omitted."""
    y, r = _labelled(y_bad, risk)
    group = rank_groups(r, groups, descending=True)
    overall = y.mean()
    rows: list[LiftRow] = []
    cum_count = 0
    cum_bads = 0
    total_bads = int(y.sum())
    for g in range(groups):
        mask = group == g
        count = int(mask.sum())
        if count == 0:
            continue
        bads = int(y[mask].sum())
        cum_count += count
        cum_bads += bads
        rate = bads / count
        capture = cum_bads / total_bads
        rows.append(
            LiftRow(
                group=g + 1,
                count=count,
                min_risk=float(r[mask].min()),
                max_risk=float(r[mask].max()),
                bads=bads,
                bad_rate=rate,
                cumulative_count=cum_count,
                cumulative_bads=cum_bads,
                capture=capture,
                lift=float(rate / overall),
                cumulative_lift=float(capture / (cum_count / y.size)),
            )
        )
    return rows


@dataclass(frozen=True)
class CalibrationBin:
    """Predicted against observed default rate in one bin of predicted PD."""

    lower: float  # smallest predicted PD in the bin
    upper: float  # largest predicted PD in the bin
    count: int
    bads: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class Calibration:
    """Whether predicted PDs match observed default rates, bin by bin and overall."""

    bins: tuple[CalibrationBin, ...]
    brier: float  # mean (pd − y)²
    expected_calibration_error: float  # Σ_b (n_b / n) |observed_b − predicted_b|
    mean_predicted: float
    observed_rate: float


def calibration(y_bad: npt.ArrayLike, pd: npt.ArrayLike, bins: int = 10) -> Calibration:
    """Calibration table over equal-count bins of predicted PD (ties kept together)."""
    y = binary_labels(y_bad)
    p = _scores(pd, "pd")
    if y.shape != p.shape:
        raise ValueError(f"labels ({y.size}) and pd ({p.size}) differ in length")
    if y.size == 0:
        raise ValueError("calibration needs at least one labelled row")
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("pd must lie in [0, 1]")
    group = rank_groups(p, bins, descending=False)
    table: list[CalibrationBin] = []
    ece = 0.0
    for g in range(bins):
        mask = group == g
        count = int(mask.sum())
        if count == 0:
            continue
        predicted = float(p[mask].mean())
        observed = float(y[mask].mean())
        ece += count / y.size * abs(observed - predicted)
        table.append(
            CalibrationBin(
                lower=float(p[mask].min()),
                upper=float(p[mask].max()),
                count=count,
                bads=int(y[mask].sum()),
                mean_predicted=predicted,
                observed_rate=observed,
            )
        )
    return Calibration(
        bins=tuple(table),
        brier=float(np.mean((p - y) ** 2)),
        expected_calibration_error=float(ece),
        mean_predicted=float(p.mean()),
        observed_rate=float(y.mean()),
    )


# ---------------------------------------------------------------------------------------------
# population stability


def psi_status(value: float) -> PsiStatus:
    """The usual traffic light: < 0.1 stable, 0.1–0.25 watch, >= 0.25 alert."""
    if value >= PSI_ALERT:
        return "alert"
    if value >= PSI_WATCH:
        return "watch"
    return "stable"


@dataclass(frozen=True)
class PsiBin:
    """One bin's shares and its term ``(a − e)·ln(a / e)`` of the index."""

    label: str
    expected_count: int
    actual_count: int
    expected_share: float
    actual_share: float
    contribution: float


@dataclass(frozen=True)
class Psi:
    """Population stability index between a reference (expected) and an actual sample."""

    value: float
    bins: tuple[PsiBin, ...]

    @property
    def status(self) -> PsiStatus:
        return psi_status(self.value)


def _psi_from_counts(
    labels: Sequence[str], expected: IntArray, actual: IntArray, epsilon: float
) -> Psi:
    """PSI = Σ (a_i − e_i)·ln(a_i / e_i) over bins, an empty share replaced by ``epsilon``."""
    if expected.sum() == 0 or actual.sum() == 0:
        raise ValueError("both samples need at least one value")
    e = expected / expected.sum()
    a = actual / actual.sum()
    e_safe = np.where(e > 0, e, epsilon)
    a_safe = np.where(a > 0, a, epsilon)
    terms = (a_safe - e_safe) * np.log(a_safe / e_safe)
    bins = tuple(
        PsiBin(label, int(ec), int(ac), float(es), float(as_), float(t))
        for label, ec, ac, es, as_, t in zip(labels, expected, actual, e, a, terms, strict=True)
    )
    return Psi(float(terms.sum()), bins)


def _fmt_edge(x: float) -> str:
    return f"{x:.4g}"


def psi(
    expected: npt.ArrayLike,
    actual: npt.ArrayLike,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
) -> Psi:
    """PSI of a numeric variable or score, bins cut at the reference sample's quantiles.

    Interior edges are the reference's ``k/bins`` quantiles (linear interpolation, duplicates
    dropped); bins are right-closed ``(e_{k−1}, e_k]`` with open outer ends, so values outside
    the reference range fall in the end bins. NaN values form their own "missing" bin.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e_present = e[~np.isnan(e)]  # ±inf count as values, NaN as missing
    a_present = a[~np.isnan(a)]
    cuttable = e_present[np.isfinite(e_present)]  # ±inf fall in the end bins, never set an edge
    if cuttable.size:
        edges = np.unique(np.quantile(cuttable, np.arange(1, bins) / bins))
    else:
        edges = np.empty(0)
    e_counts = np.bincount(np.searchsorted(edges, e_present, side="left"), minlength=edges.size + 1)
    a_counts = np.bincount(np.searchsorted(edges, a_present, side="left"), minlength=edges.size + 1)
    bounds = np.r_[-np.inf, edges, np.inf]
    labels = [
        f"({_fmt_edge(lo)}, {_fmt_edge(hi)}{')' if math.isinf(hi) else ']'}"
        for lo, hi in itertools.pairwise(bounds)
    ]
    e_missing = e.size - e_present.size
    a_missing = a.size - a_present.size
    if e_missing or a_missing:
        labels.append(MISSING_LABEL)
        e_counts = np.r_[e_counts, e_missing]
        a_counts = np.r_[a_counts, a_missing]
    return _psi_from_counts(labels, e_counts.astype(np.int64), a_counts.astype(np.int64), epsilon)


def _category_labels(values: npt.ArrayLike) -> list[str]:
    return [MISSING_LABEL if is_missing(v) else str(v) for v in np.asarray(values, dtype=object)]


def categorical_psi(
    expected: npt.ArrayLike, actual: npt.ArrayLike, epsilon: float = PSI_EPSILON
) -> Psi:
    """PSI of a categorical variable, one bin per value seen in either sample (sorted)."""
    e = _category_labels(expected)
    a = _category_labels(actual)
    labels = sorted(set(e) | set(a))
    index = {label: i for i, label in enumerate(labels)}
    e_counts = np.bincount([index[v] for v in e], minlength=len(labels)).astype(np.int64)
    a_counts = np.bincount([index[v] for v in a], minlength=len(labels)).astype(np.int64)
    return _psi_from_counts(labels, e_counts, a_counts, epsilon)


@dataclass(frozen=True)
class VariablePsi:
    """PSI of one input variable between the reference and the actual sample."""

    name: str
    kind: Literal["numeric", "categorical"]
    psi: Psi

    @property
    def value(self) -> float:
        return self.psi.value

    @property
    def status(self) -> PsiStatus:
        return self.psi.status


def variable_psi(
    reference: Table,
    actual: Table,
    columns: Sequence[str] | None = None,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
) -> list[VariablePsi]:
    """PSI per variable: numeric columns by reference deciles, other columns by value.

    Without ``columns`` every column present in both tables is used, in the reference's order.
    """
    ref = column_arrays(reference)
    act = column_arrays(actual)
    if columns is None:
        names = [name for name in ref if name in act]
    else:
        absent = [name for name in columns if name not in ref or name not in act]
        if absent:
            raise KeyError(f"columns missing from a sample: {', '.join(absent)}")
        names = list(columns)
    out: list[VariablePsi] = []
    for name in names:
        r, a = ref[name], act[name]
        if is_numeric(r) and is_numeric(a):
            out.append(VariablePsi(name, "numeric", psi(r, a, bins, epsilon)))
        else:
            out.append(VariablePsi(name, "categorical", categorical_psi(r, a, epsilon)))
    return out


# ---------------------------------------------------------------------------------------------
# DeLong variance and confidence intervals


def delong_covariance(y_bad: npt.ArrayLike, *risks: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """AUCs of one or more models on the same sample and DeLong's covariance matrix of them.

    With ``m`` bads ``X`` and ``n`` goods ``Y``, each bad's structural component is
    ``V10(x) = mean_j ψ(x, y_j)`` and each good's ``V01(y) = mean_i ψ(x_i, y)``, where
    ``ψ(x, y) = 1`` if x > y, ½ if tied, 0 otherwise. Then

        Cov(AUC_r, AUC_s) = S10[r, s] / m + S01[r, s] / n

    with ``S10`` and ``S01`` the sample covariances (ddof 1) of the components. Midranks give the
    components in O(N log N): ``V10(x_i) = (R_i − R^X_i) / n`` with ``R_i`` the rank of ``x_i``
    among all scores and ``R^X_i`` its rank among the bads (Sun & Xu 2014).
    """
    y = binary_labels(y_bad)
    if not risks:
        raise ValueError("at least one risk array is needed")
    matrix = np.vstack([_scores(r, "risk") for r in risks])
    if matrix.shape[1] != y.size:
        raise ValueError(f"labels ({y.size}) and risk ({matrix.shape[1]}) differ in length")
    bad = y == 1
    m = int(bad.sum())
    n = y.size - m
    if m < 2 or n < 2:
        raise ValueError("DeLong's variance needs at least two bads and two goods")
    pos = matrix[:, bad]
    neg = matrix[:, ~bad]
    combined = np.hstack([pos, neg])
    rank_all = rankdata(combined, axis=1)
    rank_pos = rankdata(pos, axis=1)
    rank_neg = rankdata(neg, axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    cov = s10 / m + s01 / n
    return np.asarray(aucs, dtype=np.float64), np.asarray(cov, dtype=np.float64)


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError("confidence level must be between 0 and 1")
    return float(norm.ppf(0.5 + level / 2.0))


@dataclass(frozen=True)
class AucEstimate:
    """AUC with a DeLong standard error and a Wald interval clipped to [0, 1]."""

    auc: float
    standard_error: float
    lower: float
    upper: float
    level: float
    n_bad: int
    n_good: int

    @property
    def gini(self) -> float:
        return 2.0 * self.auc - 1.0

    @property
    def gini_lower(self) -> float:
        return 2.0 * self.lower - 1.0

    @property
    def gini_upper(self) -> float:
        return 2.0 * self.upper - 1.0


def auc_ci(y_bad: npt.ArrayLike, risk: npt.ArrayLike, level: float = 0.95) -> AucEstimate:
    """AUC ± z·SE with DeLong's SE (as pROC's ``ci.auc(method = "delong")``)."""
    z = _z(level)
    aucs, cov = delong_covariance(y_bad, risk)
    value = float(aucs[0])
    se = math.sqrt(max(float(cov[0, 0]), 0.0))
    m = int(binary_labels(y_bad).sum())
    return AucEstimate(
        auc=value,
        standard_error=se,
        lower=max(0.0, value - z * se),
        upper=min(1.0, value + z * se),
        level=level,
        n_bad=m,
        n_good=np.asarray(y_bad).size - m,
    )


@dataclass(frozen=True)
class AucDifference:
    """``auc − baseline_auc`` with a normal-theory interval and a two-sided p-value."""

    auc: float
    baseline_auc: float
    difference: float
    standard_error: float
    lower: float
    upper: float
    level: float
    p_value: float
    paired: bool


def _difference(
    value: float, baseline: float, variance: float, level: float, paired: bool
) -> AucDifference:
    z = _z(level)
    diff = value - baseline
    se = math.sqrt(max(variance, 0.0))
    # without variance (identical structural components) a difference is exact
    p = float(2.0 * norm.sf(abs(diff) / se)) if se > 0.0 else float(diff == 0.0)
    return AucDifference(
        auc=value,
        baseline_auc=baseline,
        difference=diff,
        standard_error=se,
        lower=diff - z * se,
        upper=diff + z * se,
        level=level,
        p_value=p,
        paired=paired,
    )


def paired_auc_difference(
    y_bad: npt.ArrayLike,
    risk: npt.ArrayLike,
    baseline_risk: npt.ArrayLike,
    level: float = 0.95,
) -> AucDifference:
    """AUC(risk) − AUC(baseline) on the same people, with DeLong's paired variance.

    ``Var(Δ) = Var(A) + Var(B) − 2·Cov(A, B)``: the covariance removes the noise both models
    share, so the interval is much narrower than treating the two AUCs as independent.
    """
    aucs, cov = delong_covariance(y_bad, risk, baseline_risk)
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    return _difference(float(aucs[0]), float(aucs[1]), variance, level, paired=True)


def independent_auc_difference(
    estimate: AucEstimate, baseline: AucEstimate, level: float = 0.95
) -> AucDifference:
    """Difference of AUCs measured on two separate samples (e.g. out-of-time vs test)."""
    variance = estimate.standard_error**2 + baseline.standard_error**2
    return _difference(estimate.auc, baseline.auc, variance, level, paired=False)


# ---------------------------------------------------------------------------------------------
# tables


def is_missing(value: object) -> bool:
    """None, NaN and pandas' NA count as missing."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the only value unequal to itself
    except TypeError:
        return True  # pandas' NA: its comparisons are NA, whose truth value is undefined
    except ValueError:
        return False


def is_numeric(column: npt.NDArray[Any]) -> bool:
    """Integer and float columns are numeric; booleans and everything else are categories."""
    return column.dtype.kind in "iuf"


def column_arrays(table: Table) -> dict[str, npt.NDArray[Any]]:
    """Columns as numpy arrays: numeric ones as float64 with NaN for nulls, others as objects."""
    if isinstance(table, pa.Table):
        out: dict[str, npt.NDArray[Any]] = {}
        for name in table.column_names:
            col = table.column(name)
            kind = col.type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
                out[name] = np.asarray(
                    pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
                )
            else:
                out[name] = np.array(col.to_pylist(), dtype=object)
        return out
    result: dict[str, npt.NDArray[Any]] = {}
    for name, values in table.items():
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"column {name!r} must be one-dimensional")
        result[str(name)] = arr.astype(np.float64) if is_numeric(arr) else arr.astype(object)
    return result
