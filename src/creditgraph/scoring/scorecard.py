"""The monotone WoE scorecard: optbinning bins, a logistic regression on WoE, points and grades.

Method (defaults chosen by cross-validation on training splits only; see docs/scoring.md):

1. **Binning.** optbinning's ``OptimalBinning`` bins every candidate column. Numeric columns get
   a monotone event-rate trend, ``"auto_asc_desc"`` (the solver picks ascending or descending,
   whichever keeps more information), so points never zig-zag with the value; a mapping
   ``{column: trend}`` overrides it per column (``"ascending"``, ``"descending"``, or a
   non-monotone optbinning trend such as ``"peak"`` where the shape is known). Categorical
   columns (text, or listed in ``categorical_features``) are grouped by event rate. A CART
   pre-binning cuts at most ``max_n_prebins`` (50) pre-bins of at least ``min_prebin_size``
   (2%) of the rows, which the solver merges into the optimal bins; these two defaults won on
   cross-validation inside German-credit training splits (optbinning's own are 20 and 5%). Every
   bin has at least ``min_bin_n_event`` goods and bads, so no regular bin has an infinite WoE.
   Each variable also has a special bin (``special_codes``, numeric columns) and a missing bin.
2. **Selection.** Variables with information value below ``min_iv`` (0.02, the usual "not
   predictive" line) or with a single bin are left out. IV above 0.5 is kept but flagged as
   suspicious in the IV table (it often means leakage).
3. **Regression.** An L2 logistic regression on the WoE values; ``C`` is chosen from ``Cs`` by
   stratified ``cv``-fold cross-validated AUC on the training data (ties go to the stronger
   penalty). WoE is ln(share of goods / share of bads), so every coefficient must be negative
   for a bad outcome; a variable whose coefficient comes out with the wrong sign (collinearity)
   is dropped and the model refitted, so every variable's points follow its WoE.
4. **Points.** ``points = -factor * coefficient * WoE`` per bin and ``intercept_points =
   offset - factor * intercept``, with ``factor = pdo / ln 2`` and ``offset = base_score -
   factor * ln(base_odds)``: 600 points at 50:1 good:bad odds, 20 points to double the odds,
   by default. Grades A-E are score bands (``grades``).

The fitted card is ``card_`` (see ``card.py``); ``transform``, ``predict_proba`` and ``score``
read data through the card's own bin mapping, so what is validated here is what is deployed.
Special and missing bins without both outcomes in training, and unseen categories, take the
worst regular bin's WoE (documented in ``card.py``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from optbinning import OptimalBinning
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from creditgraph.scoring.card import (
    DEFAULT_GRADES,
    Bin,
    Card,
    GradeBand,
    Scaling,
    Variable,
    grade_problem,
)
from creditgraph.scoring.coercion import category_text
from creditgraph.scoring.reasons import Side, reason_text
from creditgraph.scoring.scorer import Scorer

MONOTONE_TRENDS = frozenset({"auto_asc_desc", "ascending", "descending"})
TRENDS = MONOTONE_TRENDS | {
    "auto",
    "auto_heuristic",
    "concave",
    "convex",
    "peak",
    "valley",
    "peak_heuristic",
    "valley_heuristic",
}
DEFAULT_CS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
SUSPICIOUS_IV = 0.5
FALLBACK = "worst_bin"
OTHERS = "\x00rare categories"  # stands for the pooled rare categories while binning only


class ScorecardError(ValueError):
    """Data or parameters a scorecard cannot be fitted on."""


class Scorecard(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A monotone WoE scorecard; sklearn-style (``fit``, ``transform``, ``predict_proba``)."""

    def __init__(
        self,
        *,
        categorical_features: Sequence[str] | None = None,
        monotonic_trend: str | Mapping[str, str] = "auto_asc_desc",
        special_codes: Sequence[float] | None = None,
        max_n_prebins: int = 50,
        min_prebin_size: float = 0.02,
        min_bin_size: float | None = None,
        min_bin_n_event: int = 1,
        min_iv: float = 0.02,
        min_category_size: float = 0.01,
        max_unique_share: float = 0.5,
        max_correlation: float | None = None,
        C: float | None = None,
        Cs: Sequence[float] = DEFAULT_CS,
        cv: int = 5,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        grades: Sequence[GradeBand] = DEFAULT_GRADES,
        random_state: int = 0,
    ) -> None:
        self.categorical_features = categorical_features
        self.monotonic_trend = monotonic_trend
        self.special_codes = special_codes
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.min_bin_size = min_bin_size
        self.min_bin_n_event = min_bin_n_event
        self.min_iv = min_iv
        self.min_category_size = min_category_size
        self.max_unique_share = max_unique_share
        self.max_correlation = max_correlation
        self.C = C
        self.Cs = Cs
        self.cv = cv
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.grades = grades
        self.random_state = random_state

    # fitting -------------------------------------------------------------------------------

    def fit(
        self, X: pd.DataFrame, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> Scorecard:
        """Bin, select, regress and scale; ``y`` is 1 for a bad outcome, 0 for a good one.

        ``sample_weight`` (e.g. recency) weights the binning and the regression."""
        self._check_params()
        frame, target = _check_data(X, y)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if weight is not None and weight.shape != target.shape:
            raise ScorecardError(f"sample_weight must have one value per row of X ({target.size})")
        names = [str(c) for c in frame.columns]
        categorical = _categorical_columns(frame, self.categorical_features)
        prepared = _prepare(frame, categorical)
        specials = tuple(float(c) for c in self.special_codes or ())
        binnings: dict[str, OptimalBinning] = {}
        candidates: dict[str, Variable] = {}
        skipped: dict[str, str] = {}
        with threadpool_limits(limits=1), warnings.catch_warnings():
            # Small problems: BLAS threads only add contention. optbinning warns on odd columns.
            warnings.simplefilter("ignore", category=UserWarning)
            for n in names:
                is_cat = n in categorical
                values = prepared[n].to_numpy()
                pooled: tuple[str, ...] = ()
                problem = _unbinnable(values, () if is_cat else specials)
                if problem is None and is_cat:
                    values, pooled, problem = self._pool_rare(values)
                if problem is None:
                    optb = OptimalBinning(name=n, **self._binning_params(n, is_cat))
                    try:
                        optb.fit(values, target, sample_weight=weight)
                    except ValueError as exc:  # one odd column must not sink the whole card
                        problem = f"not binnable: {str(exc).splitlines()[0]}"
                if problem is not None:
                    skipped[n] = problem
                    continue
                binnings[n] = optb
                candidates[n] = _variable_from_binning(
                    optb, is_cat, () if is_cat else specials, pooled
                )
            iv_rows = _iv_rows(names, candidates, skipped, categorical)
            selected = self._select(names, candidates, iv_rows)
            woe = Scorer(Card(tuple(candidates[n] for n in selected), 0.0, 0.0)).woe(prepared)
            selected, woe = self._decorrelate(selected, woe, candidates, iv_rows)
            chosen_c, c_search_auc = self._choose_c(woe, target, weight)
            keep = list(range(len(selected)))
            while True:
                model = _logistic(chosen_c).fit(woe[:, keep], target, sample_weight=weight)
                coef = model.coef_[0]
                if (coef < 0).all() or len(keep) == 1:
                    break
                wrong = int(np.argmax(coef))
                iv_rows[selected[keep[wrong]]]["note"] = "dropped: coefficient sign (collinear)"
                del keep[wrong]
            train_auc = auc_score(target, model.decision_function(woe[:, keep]))
        final = [selected[k] for k in keep]
        for n in final:
            iv_rows[n]["selected"] = True
        scaling = Scaling(float(self.base_score), float(self.base_odds), float(self.pdo))
        intercept = float(model.intercept_[0])
        card = Card(
            variables=tuple(
                _with_points(candidates[n], float(c), scaling.factor)
                for n, c in zip(final, model.coef_[0], strict=True)
            ),
            intercept=intercept,
            intercept_points=scaling.offset - scaling.factor * intercept,
            scaling=scaling,
            grades=tuple(self.grades),
            created_at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            training={
                "rows": int(target.size),
                "bad": int(target.sum()),
                "bad_rate": float(target.mean()),
                "random_state": int(self.random_state),
                "C": chosen_c,
                # An honest cross-validated AUC refits the binning inside every fold
                # (``scoring.cv``); the C search reuses bins fitted on all rows, so its AUC
                # is optimistic and is kept under its own name.
                "cv_auc": None,
                "c_search_auc": c_search_auc,
                "train_auc": train_auc,
                "parameters": self._params_json(),
                "variables": [iv_rows[n] for n in names],
                "libraries": _versions(),
            },
        )
        self.binnings_ = binnings
        self.lr_ = model
        self.card_ = card
        self.scorer_ = Scorer(card)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.iv_table_ = [iv_rows[n] for n in names]
        return self

    def _binning_params(self, name: str, categorical: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dtype": "categorical" if categorical else "numerical",
            "max_n_prebins": self.max_n_prebins,
            "min_prebin_size": self.min_prebin_size,
            "min_bin_size": self.min_bin_size,
            "min_bin_n_event": self.min_bin_n_event,
            "min_bin_n_nonevent": self.min_bin_n_event,
        }
        if not categorical:
            trend = self.monotonic_trend
            params["monotonic_trend"] = (
                trend.get(name, "auto_asc_desc") if isinstance(trend, Mapping) else trend
            )
            if self.special_codes:
                params["special_codes"] = [float(c) for c in self.special_codes]
        return params

    def _pool_rare(
        self, values: npt.NDArray[Any]
    ) -> tuple[npt.NDArray[Any], tuple[str, ...], str | None]:
        """Pool categories rarer than ``min_category_size``; refuse near-unique (ID-like) columns.

        Binning orders categories by their own bad rate, so a category of a few rows is a
        perfect predictor in training and noise after: pooled, the rare ones share one bad rate.
        """
        present = pd.Series(values).dropna()
        counts = present.value_counts()
        if len(counts) > max(1.0, self.max_unique_share * len(present)):
            return (
                values,
                (),
                (
                    f"nearly unique values ({len(counts):,} categories in {len(present):,} rows): "
                    "ID-like, left out"
                ),
            )
        rare = counts[counts < self.min_category_size * len(values)]
        if len(rare) < 2:
            return values, (), None
        pooled = tuple(sorted(str(c) for c in rare.index))
        out = values.copy()
        out[pd.Series(values).isin(pooled).to_numpy()] = OTHERS
        problem = _unbinnable(out, ())
        if problem is not None:
            problem = f"{problem} after pooling {len(pooled):,} rare categories"
        return out, pooled, problem

    def _decorrelate(
        self,
        selected: list[str],
        woe: npt.NDArray[np.float64],
        candidates: dict[str, Variable],
        iv_rows: dict[str, dict[str, Any]],
    ) -> tuple[list[str], npt.NDArray[np.float64]]:
        """Of two variables whose WoE correlate above ``max_correlation``, keep the higher IV."""
        if self.max_correlation is None or len(selected) < 2:
            return selected, woe
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.atleast_2d(np.nan_to_num(np.asarray(np.corrcoef(woe, rowvar=False))))
        order = sorted(range(len(selected)), key=lambda i: -candidates[selected[i]].iv)
        kept: list[int] = []
        for i in order:
            clash = next((k for k in kept if abs(corr[i, k]) > self.max_correlation), None)
            if clash is None:
                kept.append(i)
            else:
                iv_rows[selected[i]]["note"] = (
                    f"dropped: correlated with {selected[clash]} (r = {corr[i, clash]:.2f})"
                )
        kept.sort()
        return [selected[i] for i in kept], woe[:, kept]

    def _select(
        self, names: list[str], candidates: dict[str, Variable], iv_rows: dict[str, dict[str, Any]]
    ) -> list[str]:
        selected = []
        for n in names:
            v = candidates.get(n)
            if v is None:
                continue
            if v.n_regular < 2:
                iv_rows[n]["note"] = "one bin"
            elif v.iv < self.min_iv:
                iv_rows[n]["note"] = "IV below minimum"
            else:
                selected.append(n)
        if not selected:
            raise ScorecardError(
                f"no variable reaches the minimum information value {self.min_iv}; "
                "the target is not predictable from these columns"
            )
        return selected

    def _choose_c(
        self,
        woe: npt.NDArray[np.float64],
        y: npt.NDArray[np.int_],
        weight: npt.NDArray[np.float64] | None = None,
    ) -> tuple[float, float | None]:
        if self.C is not None:
            return float(self.C), None
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        splits = list(folds.split(woe, y))
        best_c, best_auc = 0.0, -1.0
        for c in sorted(float(c) for c in self.Cs):
            aucs = [
                auc_score(
                    y[test],
                    _logistic(c)
                    .fit(
                        woe[train],
                        y[train],
                        sample_weight=None if weight is None else weight[train],
                    )
                    .decision_function(woe[test]),
                )
                for train, test in splits
            ]
            auc = float(np.mean(aucs))
            if auc > best_auc + 1e-12:
                best_c, best_auc = c, auc
        return best_c, best_auc

    def _check_params(self) -> None:
        trends = (
            list(self.monotonic_trend.values())
            if isinstance(self.monotonic_trend, Mapping)
            else [self.monotonic_trend]
        )
        bad = [t for t in trends if t not in TRENDS]
        if bad:
            raise ScorecardError(
                f"unknown monotonic trend {bad[0]!r}; expected one of {sorted(TRENDS)}"
            )
        if self.min_iv < 0:
            raise ScorecardError("min_iv must be at least 0")
        if not 0 <= self.min_category_size < 1:
            raise ScorecardError("min_category_size must be a share of rows in [0, 1)")
        if not 0 < self.max_unique_share <= 1:
            raise ScorecardError("max_unique_share must be in (0, 1]")
        if self.max_correlation is not None and not 0 < self.max_correlation <= 1:
            raise ScorecardError("max_correlation must be in (0, 1] or None")
        if self.cv < 2:
            raise ScorecardError("cv must be at least 2 folds")
        if self.C is not None and not self.C > 0:
            raise ScorecardError("C must be positive")
        if not self.Cs or any(not c > 0 for c in self.Cs):
            raise ScorecardError("Cs must be positive values")
        if not (self.base_odds > 0 and self.pdo > 0 and math.isfinite(self.base_score)):
            raise ScorecardError("base_odds and pdo must be positive and base_score finite")
        if self.min_bin_n_event < 1:
            raise ScorecardError("min_bin_n_event must be at least 1")
        problem = grade_problem(list(self.grades))
        if problem:
            raise ScorecardError(f"grades: {problem}")

    def _params_json(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.get_params())
        params["grades"] = [[g.grade, g.min_score] for g in self.grades]
        params["Cs"] = list(self.Cs)
        params["special_codes"] = None if self.special_codes is None else list(self.special_codes)
        params["categorical_features"] = (
            None if self.categorical_features is None else list(self.categorical_features)
        )
        params["monotonic_trend"] = (
            dict(self.monotonic_trend)
            if isinstance(self.monotonic_trend, Mapping)
            else self.monotonic_trend
        )
        return params

    # using the fitted card ---------------------------------------------------------------

    def _fitted(self) -> Scorer:
        if not hasattr(self, "scorer_"):
            raise ScorecardError("the scorecard is not fitted yet; call fit first")
        return self.scorer_

    def transform(self, X: Any) -> npt.NDArray[np.float64]:
        """WoE of the selected variables, columns in ``get_feature_names_out`` order."""
        return self._fitted().woe(X)

    def decision_function(self, X: Any) -> npt.NDArray[np.float64]:
        """Log-odds of a bad outcome."""
        return np.asarray(self.lr_.decision_function(self.transform(X)), dtype=np.float64)

    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]:
        """Columns: probability of good (0), of bad (1)."""
        return np.asarray(self.lr_.predict_proba(self.transform(X)), dtype=np.float64)

    def predict(self, X: Any) -> npt.NDArray[np.int_]:
        """1 where the probability of a bad outcome is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int_)

    def score(self, X: Any) -> npt.NDArray[np.float64]:
        """Points: higher is safer; ``offset - factor * log-odds of bad``."""
        scaling = self.card_.scaling if hasattr(self, "card_") else Scaling()
        return scaling.offset - scaling.factor * self.decision_function(X)

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        return np.array(self._fitted().features, dtype=object)


def _unbinnable(values: npt.NDArray[Any], specials: tuple[float, ...]) -> str | None:
    """Why a column cannot be binned (no values, or a single value), or ``None``."""
    present = [v for v in values.tolist() if v is not None and v == v and v not in specials]
    if not present:
        return "no values"
    if len(set(present)) < 2:
        return "a single value"
    return None


def _iv_rows(
    names: list[str],
    candidates: dict[str, Variable],
    skipped: dict[str, str],
    categorical: set[str],
) -> dict[str, dict[str, Any]]:
    rows = {}
    for n in names:
        v = candidates.get(n)
        rows[n] = {
            "variable": n,
            "type": v.kind if v else ("categorical" if n in categorical else "numeric"),
            "iv": v.iv if v else 0.0,
            "bins": v.n_regular if v else 0,
            "selected": False,
            "note": skipped.get(n, "suspicious IV" if v and v.iv > SUSPICIOUS_IV else ""),
        }
    return rows


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=1000)


def auc_score(y: npt.NDArray[np.int_], risk: npt.NDArray[np.float64]) -> float:
    """ROC AUC by the rank-sum identity (ties count half); sklearn's checks cost more here."""
    ranks = rankdata(risk)
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = y.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _check_data(X: Any, y: npt.ArrayLike) -> tuple[pd.DataFrame, npt.NDArray[np.int_]]:
    if not isinstance(X, pd.DataFrame):
        raise ScorecardError("X must be a pandas DataFrame with named columns")
    if X.shape[1] == 0:
        raise ScorecardError("X has no columns")
    if len(set(map(str, X.columns))) != X.shape[1]:
        raise ScorecardError("column names must be unique")
    target = np.asarray(y)
    if target.ndim != 1 or target.shape[0] != X.shape[0]:
        raise ScorecardError(f"y must have one value per row of X ({X.shape[0]})")
    if target.dtype.kind == "b":
        target = target.astype(np.int_)
    values = set(pd.unique(target).tolist())
    if not values <= {0, 1}:
        raise ScorecardError("y must be 0 (good) or 1 (bad)")
    if values != {0, 1}:
        raise ScorecardError("y must contain both good (0) and bad (1) outcomes")
    return X, target.astype(np.int_)


def _categorical_columns(frame: pd.DataFrame, listed: Sequence[str] | None) -> set[str]:
    names = [str(c) for c in frame.columns]
    unknown = sorted(set(listed or ()) - set(names))
    if unknown:
        raise ScorecardError(f"categorical_features not in X: {', '.join(unknown)}")
    out = set(listed or ())
    for name, column in zip(names, frame.columns, strict=True):
        kind = frame[column].dtype.kind
        if kind in "mM":
            raise ScorecardError(f"column {name!r} holds dates or times; exclude or convert it")
        if kind not in "biuf":
            out.add(name)
    return out


def _prepare(frame: pd.DataFrame, categorical: set[str]) -> pd.DataFrame:
    """Numbers as float64 and categories as canonical text, the form the scorer reads too."""
    columns: dict[str, Any] = {}
    for column in frame.columns:
        name = str(column)
        values = frame[column].to_numpy()
        if name in categorical:
            columns[name] = np.array([category_text(v) for v in values.tolist()], dtype=object)
        else:
            columns[name] = values.astype(np.float64)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def _woe(
    n_event: npt.NDArray[np.float64], n_nonevent: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """optbinning's WoE, ln(share of goods / share of bads); NaN where a bin lacks an outcome."""
    total_event, total_nonevent = n_event.sum(), n_nonevent.sum()
    out = np.full(n_event.shape, np.nan)
    rated = (n_event > 0) & (n_nonevent > 0)
    rate = n_event[rated] / (n_event[rated] + n_nonevent[rated])
    out[rated] = np.log((1.0 / rate - 1) * total_event / total_nonevent)
    return out


def _variable_from_binning(
    optb: Any, categorical: bool, specials: tuple[float, ...], pooled: tuple[str, ...] = ()
) -> Variable:
    table = optb.binning_table
    n_event = np.asarray(table.n_event, dtype=np.float64)
    n_nonevent = np.asarray(table.n_nonevent, dtype=np.float64)
    woe = _woe(n_event, n_nonevent)
    rated = ~np.isnan(woe)
    share = n_nonevent / n_nonevent.sum() - n_event / n_event.sum()
    iv = float((share[rated] * woe[rated]).sum())
    counts = (n_event + n_nonevent).astype(int)
    n_regular = len(counts) - 2
    regular_woe = woe[:n_regular]
    # Regular bins carry both outcomes by the binning constraints; guard anyway.
    regular_woe = np.where(np.isnan(regular_woe), 0.0, regular_woe)
    worst = float(regular_woe.min())
    bins: list[Bin] = []
    if categorical:
        for i, group in enumerate(optb.splits):
            cats = tuple(sorted(_unpool(group, pooled)))
            bins.append(
                _bin(
                    "group", _group_label(cats), counts[i], n_event[i], float(regular_woe[i]), cats
                )
            )
    else:
        splits = [float(s) for s in optb.splits]
        edges = [-math.inf, *splits, math.inf]
        for i in range(n_regular):
            label = f"{'(' if i == 0 else '['}{_num(edges[i])}, {_num(edges[i + 1])})"
            bins.append(_bin("range", label, counts[i], n_event[i], float(regular_woe[i])))
    for i, kind in ((n_regular, "special"), (n_regular + 1, "missing")):
        value = woe[i]
        if np.isnan(value):
            bins.append(_bin(kind, kind, counts[i], n_event[i], worst, fallback=FALLBACK))
        else:
            bins.append(_bin(kind, kind, counts[i], n_event[i], float(value)))
    return Variable(
        name=str(optb.name),
        kind="categorical" if categorical else "numeric",
        bins=tuple(bins),
        splits=() if categorical else tuple(float(s) for s in optb.splits),
        special_codes=specials,
        trend="event rate order" if categorical else _trend(regular_woe),
        iv=iv,
    )


def _unpool(group: Any, pooled: tuple[str, ...]) -> list[str]:
    """A bin's categories, the pooled stand-in replaced by the rare categories it holds."""
    out: list[str] = []
    for c in group:
        out.extend(pooled if str(c) == OTHERS else (str(c),))
    return out


def _bin(
    kind: str,
    label: str,
    count: int,
    events: float,
    woe: float,
    categories: tuple[str, ...] = (),
    fallback: str | None = None,
) -> Bin:
    return Bin(
        kind=cast(Any, kind),
        label=label,
        count=int(count),
        event_rate=float(events / count) if count else None,
        woe=woe,
        points=0.0,
        categories=categories,
        fallback=fallback,
    )


def _num(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def _group_label(categories: tuple[str, ...]) -> str:
    text = ", ".join(categories)
    return text if len(text) <= 60 else text[:57] + "..."


def _trend(woe: npt.NDArray[np.float64]) -> str:
    """Direction of the event rate as the value grows (WoE moves the other way)."""
    steps = np.diff(woe)
    if steps.size == 0:
        return "flat"
    if (steps <= 0).all():
        return "ascending"
    if (steps >= 0).all():
        return "descending"
    return "non-monotone"


def _with_points(v: Variable, coefficient: float, factor: float) -> Variable:
    points = [-factor * coefficient * b.woe for b in v.bins]
    best = max(points)
    regular = points[: v.n_regular]
    best_regular = int(np.argmax(regular))
    bins = []
    for i, (b, p) in enumerate(zip(v.bins, points, strict=True)):
        side: Side
        if b.kind == "special":
            side = "special"
        elif b.kind == "missing":
            side = "missing"
        elif b.kind == "group":
            side = "group"
        else:
            side = "low" if i < best_regular else "high" if i > best_regular else "level"
        reason = reason_text(v.name, side) if p < best else None
        bins.append(Bin(**{**b.__dict__, "points": p, "reason": reason}))
    return Variable(**{**v.__dict__, "bins": tuple(bins), "coefficient": coefficient})


def _versions() -> dict[str, str]:
    out = {}
    for package in ("creditgraph", "optbinning", "scikit-learn", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "unknown"
    return out
