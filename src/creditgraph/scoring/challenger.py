"""The challenger: monotone gradient-boosted trees on own and neighbour features, calibrated to PD.

Why these choices:

- **LightGBM** on the person's own features plus neighbour aggregates
  (``creditgraph.features.neighbours``): tree models on neighbour-aggregated features match or
  beat specialised graph neural networks on fraud graphs (GADBench), and stay explainable.
- **Monotone constraints where the direction is known**, so the model can never say that more
  arrears elsewhere or more exposure to defaulters lowers the PD, whatever noise the data holds.
  The map (``MONOTONE``; +1: a higher value never lowers the PD, -1: never raises it):

  - +1, debt and arrears elsewhere: ``ext_loans``, ``ext_open_loans``, ``ext_overdue_loans``,
    ``ext_written_off``, ``ext_max_dpd``, ``ext_open_amount_fen``, ``ext_lenders``;
  - +1, exposure to known defaulters: ``default_exposure``, ``default_exposure_ratio``,
    ``defaulted_contacts``, ``defaulted_share_1hop``, ``defaulted_share_2hop``,
    ``multilayer_exposure``, ``device_defaulters``, ``community_default_rate``;
  - +1, account farming and rings: ``devices``, ``max_people_per_device``, ``device_sharers``,
    ``new_tie_share_30d``;
  - -1, capacity and support: ``income_monthly_fen``, ``good_exposure``;
  - -1, old accounts are hard to fake: ``account_age_days``, ``social_age_days``.

  Everything else (age, activity, circle size, centrality, neighbour aggregates) is left free:
  its direction is not established, and a wrong constraint costs accuracy. Categorical features
  are never constrained.
- **Categoricals** are coded by the levels seen in training (sorted); an unseen level or a
  missing one gets no code and is scored as LightGBM scores missing categories. Infinite numbers
  score like the largest finite one: trees are flat beyond the training range.
- **Calibration to PD** on the validation split, by isotonic regression or Platt scaling of the
  raw margin, whichever has the lower log-loss on held-out halves (2-fold cross-fit on the
  validation rows); the winner is refitted on all validation rows. Both maps are non-decreasing,
  so the PD keeps the trees' monotonicity.
- **Explanations** from LightGBM's native ``pred_contrib`` (TreeSHAP, log-odds); reason codes are
  the four largest adverse contributions.

The fitted model saves to a JSON-ready dict (LightGBM model text, calibration parameters,
features and category levels) that scores the same PDs when loaded; see ``to_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from creditgraph.features.catalogue import FEATURES, NEIGHBOUR_FEATURES

FloatArray = npt.NDArray[np.float64]
ReasonText = Callable[[str], tuple[str, str]]
Method = Literal["isotonic", "platt"]

FORMAT = "creditgraph.challenger"
VERSION = 1
MAX_REASONS = 4
PD_FLOOR = 1e-6  # PDs are kept within [PD_FLOOR, 1 - PD_FLOOR]: log-loss stays finite
_LARGEST = float(np.finfo(np.float64).max)

_UP = (
    # debt and arrears on other platforms
    "ext_loans",
    "ext_open_loans",
    "ext_overdue_loans",
    "ext_written_off",
    "ext_max_dpd",
    "ext_open_amount_fen",
    "ext_lenders",
    # exposure to known defaulters (out of fold)
    "default_exposure",
    "default_exposure_ratio",
    "defaulted_contacts",
    "defaulted_share_1hop",
    "defaulted_share_2hop",
    "multilayer_exposure",
    "device_defaulters",
    "community_default_rate",
    # account farming and rings
    "devices",
    "max_people_per_device",
    "device_sharers",
    "new_tie_share_30d",
)
_DOWN = ("income_monthly_fen", "good_exposure", "account_age_days", "social_age_days")
MONOTONE: Mapping[str, int] = {**dict.fromkeys(_UP, 1), **dict.fromkeys(_DOWN, -1)}

# catalogue features that are not model inputs (an identifier)
NOT_INPUTS = frozenset({"community"})
# unique, in catalogue order (the neighbour features may join the catalogue itself)
DEFAULT_FEATURES: tuple[str, ...] = tuple(
    dict.fromkeys(f.name for f in (*FEATURES, *NEIGHBOUR_FEATURES) if f.name not in NOT_INPUTS)
)


class MissingFeatureError(ValueError):
    """The input lacks feature columns the model needs; the message names them."""


def generic_reason(feature: str) -> tuple[str, str]:
    """A plain (zh, en) reason for a feature without a catalogued text."""
    return f"“{feature}”一项提高了风险评估", f"{feature} raised the assessed risk"


@dataclass(frozen=True)
class Reason:
    feature: str
    contribution: float  # log-odds the feature added to this score
    zh: str
    en: str


# --- input columns --------------------------------------------------------------------------------


def _columns_of(data: Any) -> list[str]:
    if isinstance(data, pa.Table | pa.RecordBatch):
        return list(data.column_names)
    return [str(c) for c in data]  # a mapping's keys, a data frame's columns


def _raw(data: Any, name: str) -> tuple[npt.NDArray[Any], bool]:
    """(values, numeric): float64 with NaN for missing, or an object array with None."""
    if isinstance(data, pa.Table | pa.RecordBatch):
        column = data.column(name)
        kind = column.type
        if pa.types.is_null(kind):
            return np.full(len(column), np.nan), True
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), True
        if pa.types.is_decimal(kind):
            return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), True
        if pa.types.is_dictionary(kind):
            column = pc.cast(column, pa.string())
        return np.array(column.to_pylist(), dtype=object), False
    values = data[name]
    dtype = getattr(values, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "O") in "biuf":
        if hasattr(values, "to_numpy"):
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan)), True
        return np.asarray(values, dtype=np.float64), True
    array = np.asarray(values, dtype=object)
    if all(v is None or isinstance(v, int | float | np.number) for v in array.tolist()):
        return np.array([np.nan if v is None else float(v) for v in array], dtype=float), True
    return array, False


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not math.isnan(value)
    except TypeError:
        return str(value) not in ("<NA>", "nan", "NaT")


@dataclass(frozen=True)
class Encoding:
    """How input columns become LightGBM's matrix: numbers as they are, categories as codes."""

    features: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]]

    @classmethod
    def learn(
        cls, data: Any, features: Sequence[str], categorical: Sequence[str] | None
    ) -> Encoding:
        _require(data, features)
        levels: dict[str, tuple[str, ...]] = {}
        for name in features:
            values, numeric = _raw(data, name)
            if (categorical is None and not numeric) or (categorical and name in categorical):
                seen = {str(v) for v in values if _present(v)}
                levels[name] = tuple(sorted(seen))
        return cls(tuple(features), levels)

    def matrix(self, data: Any) -> FloatArray:
        """Rows x features, float64; NaN is missing (and any unseen category)."""
        _require(data, self.features)
        columns = []
        for name in self.features:
            values, numeric = _raw(data, name)
            if name in self.categories:
                code = {level: float(i) for i, level in enumerate(self.categories[name])}
                coded = [code.get(str(v), np.nan) if _present(v) else np.nan for v in values]
                columns.append(np.array(coded, dtype=np.float64))
            elif not numeric:
                raise ValueError(f"feature column {name!r} must be numeric, got {values[:3]!r}")
            else:
                columns.append(np.nan_to_num(values, nan=np.nan, posinf=_LARGEST, neginf=-_LARGEST))
        if not columns:
            return np.zeros((0, 0))
        return np.column_stack(columns).astype(np.float64, copy=False)


def _require(data: Any, features: Sequence[str]) -> None:
    have = set(_columns_of(data))
    missing = [name for name in features if name not in have]
    if missing:
        raise MissingFeatureError(f"missing feature column(s): {', '.join(missing)}")


def _labels(y: Any) -> npt.NDArray[np.int64]:
    values = y.to_numpy(zero_copy_only=False) if isinstance(y, pa.ChunkedArray | pa.Array) else y
    array = np.asarray(values)
    if array.dtype.kind in "Of" and not all(_present(v) for v in array.tolist()):
        raise ValueError("labels must not be missing")
    labels = array.astype(np.int64)
    if not np.isin(labels, (0, 1)).all() or not np.array_equal(labels, array.astype(float)):
        raise ValueError("labels must be 0/1 or booleans")
    return labels


# --- calibration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibrator:
    """A non-decreasing map from raw margin to PD: isotonic steps or a Platt logistic."""

    method: Method
    x: tuple[float, ...] = ()  # isotonic: margins of the knots
    y: tuple[float, ...] = ()  # isotonic: PD at the knots (linear in between, flat outside)
    coef: float = 1.0  # Platt: PD = expit(coef * margin + intercept)
    intercept: float = 0.0

    def __call__(self, margin: FloatArray) -> FloatArray:
        if self.method == "isotonic":
            pd_ = np.interp(margin, np.asarray(self.x), np.asarray(self.y))
        else:
            pd_ = expit(self.coef * np.asarray(margin) + self.intercept)
        return np.clip(np.asarray(pd_, dtype=np.float64), PD_FLOOR, 1.0 - PD_FLOOR)

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        return {"method": "platt", "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        if data["method"] == "isotonic":
            return cls("isotonic", x=tuple(map(float, data["x"])), y=tuple(map(float, data["y"])))
        if data["method"] == "platt":
            return cls("platt", coef=float(data["coef"]), intercept=float(data["intercept"]))
        raise ValueError(f"unknown calibration method {data['method']!r}")


def fit_calibrator(method: Method, margin: FloatArray, y: npt.NDArray[np.int64]) -> Calibrator:
    """Isotonic regression or Platt scaling of ``y`` on the raw margin."""
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(margin, y)
        return Calibrator(
            "isotonic",
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
    return Calibrator("platt", coef=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))


def _log_loss(y: npt.NDArray[np.int64], pd_: FloatArray) -> float:
    return float(-np.mean(y * np.log(pd_) + (1 - y) * np.log1p(-pd_)))


def choose_calibration(
    margin: FloatArray, y: npt.NDArray[np.int64], method: str = "auto", seed: int = 0
) -> tuple[Calibrator, dict[str, Any]]:
    """The calibrator with the lowest held-out log-loss, refitted on all rows, and the scores.

    Candidates are scored by 2-fold cross-fitting on these (validation) rows: fit on one half,
    score the other. A Platt fit with a non-positive slope would reverse the ranking and is
    disqualified. Ties go to Platt, the smoother map.
    """
    if method not in ("auto", "platt", "isotonic"):
        raise ValueError(f"calibration must be 'auto', 'isotonic' or 'platt', got {method!r}")
    candidates: tuple[Method, ...] = (
        ("platt", "isotonic") if method == "auto" else (cast(Method, method),)
    )
    if min(np.sum(y == 0), np.sum(y == 1)) < 2:
        raise ValueError("validation data needs at least two goods and two bads to calibrate")
    folds = list(StratifiedKFold(2, shuffle=True, random_state=seed).split(margin, y))
    scores: dict[str, dict[str, float]] = {}
    for name in candidates:
        losses, briers = [], []
        for fit_rows, held_out in folds:
            calibrator = fit_calibrator(name, margin[fit_rows], y[fit_rows])
            usable = calibrator.method == "isotonic" or calibrator.coef > 0
            pd_ = calibrator(margin[held_out])
            losses.append(_log_loss(y[held_out], pd_) if usable else math.inf)
            briers.append(float(np.mean((pd_ - y[held_out]) ** 2)))
        scores[name] = {"log_loss": float(np.mean(losses)), "brier": float(np.mean(briers))}
    chosen = min(candidates, key=lambda c: scores[c]["log_loss"])
    calibrator = fit_calibrator(chosen, margin, y)
    if calibrator.method == "platt" and calibrator.coef <= 0:
        calibrator = fit_calibrator("isotonic", margin, y)
    report = {
        "method": calibrator.method,
        "criterion": "log_loss",
        "rows": int(y.size),
        "candidates": scores,
    }
    return calibrator, report


# --- reason codes ---------------------------------------------------------------------------------


def top_reasons(
    contributions: FloatArray,
    features: Sequence[str],
    reason_text: ReasonText = generic_reason,
    top: int = MAX_REASONS,
) -> list[list[Reason]]:
    """Per row, the ``top`` largest adverse (positive log-odds) contributions.

    Ordered by contribution, ties by feature name, so equal inputs give equal reasons. Features
    whose text repeats an earlier reason of the row are skipped, so no reason is said twice.
    """
    contributions = np.asarray(contributions, dtype=np.float64)
    names = list(features)
    rank = np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"), kind="stable")
    texts = {name: reason_text(name) for name in names}
    order = np.lexsort((np.broadcast_to(rank, contributions.shape), -contributions), axis=-1)
    out = []
    for row, row_order in zip(contributions, order, strict=True):
        reasons: list[Reason] = []
        said: set[tuple[str, str]] = set()
        for j in row_order:
            if len(reasons) == top or row[j] <= 0:
                break
            text = texts[names[j]]
            if text in said:
                continue
            said.add(text)
            reasons.append(Reason(names[j], float(row[j]), text[0], text[1]))
        out.append(reasons)
    return out


# --- the estimator --------------------------------------------------------------------------------


class Challenger(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """LightGBM with known-direction monotone constraints, calibrated to PD, with reasons.

    ``features=None`` takes every catalogue feature and neighbour aggregate present in ``X``
    (never identifiers or labels). ``categorical=None`` treats non-numeric columns as categories.
    ``monotone=None`` uses ``MONOTONE``. ``fit`` splits a stratified validation part off the
    training rows unless ``X_valid``/``y_valid`` are given (for example a later period); the
    validation rows serve early stopping and the choice and fit of the calibration.
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        monotone: Mapping[str, int] | None = None,
        calibration: str = "auto",
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.25,
        random_state: int = 0,
        n_jobs: int = 2,
        reason_text: ReasonText | None = None,
    ) -> None:
        self.features = features
        self.categorical = categorical
        self.monotone = monotone
        self.calibration = calibration
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.reason_text = reason_text

    # fitted state: encoding_, booster_, calibrator_, calibration_, best_iteration_

    def _feature_list(self, X: Any) -> list[str]:
        if self.features is not None:
            if len(set(self.features)) != len(self.features):
                raise ValueError(f"features are listed more than once: {list(self.features)}")
            return list(self.features)
        have = set(_columns_of(X))
        chosen = [name for name in DEFAULT_FEATURES if name in have]
        if not chosen:
            raise MissingFeatureError("none of the catalogue features is a column of the input")
        return chosen

    def _lgbm(self, constraints: list[int]) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            objective="binary",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_row_wise=True,
            monotone_constraints=constraints,
            monotone_constraints_method="intermediate",
            verbose=-1,
        )

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_valid: Any = None,
        y_valid: Any = None,
        sample_weight: Any = None,
    ) -> Challenger:
        """``sample_weight`` (one per row of ``X``, e.g. recency) weights the trees' training
        rows and early stopping; the calibration is fitted unweighted."""
        if (X_valid is None) != (y_valid is None):
            raise ValueError("give both X_valid and y_valid, or neither")
        encoding = Encoding.learn(X, self._feature_list(X), self.categorical)
        matrix, labels = encoding.matrix(X), _labels(y)
        if len(labels) != len(matrix):
            raise ValueError(f"X has {len(matrix)} rows but y has {len(labels)}")
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if weight is not None and weight.shape != labels.shape:
            raise ValueError(f"sample_weight has {weight.size} values for {len(labels)} rows")
        train_w = valid_w = weight
        if X_valid is None:
            rows = np.arange(len(labels))
            train, valid = train_test_split(
                rows,
                test_size=self.validation_fraction,
                stratify=labels,
                random_state=self.random_state,
            )
            train_x, train_y = matrix[train], labels[train]
            valid_x, valid_y = matrix[valid], labels[valid]
            if weight is not None:
                train_w, valid_w = weight[train], weight[valid]
        else:
            train_x, train_y = matrix, labels
            valid_x, valid_y = encoding.matrix(X_valid), _labels(y_valid)
            valid_w = None
        directions = MONOTONE if self.monotone is None else self.monotone
        constraints = [
            0 if name in encoding.categories else int(np.sign(directions.get(name, 0)))
            for name in encoding.features
        ]
        model = self._lgbm(constraints)
        model.fit(
            train_x,
            train_y,
            sample_weight=train_w,
            eval_X=(valid_x,),
            eval_y=(valid_y,),
            eval_sample_weight=None if valid_w is None else [valid_w],
            eval_metric="binary_logloss",
            feature_name=list(encoding.features),
            categorical_feature=list(encoding.categories),
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        best = int(model.best_iteration_ or model.n_estimators)
        self.encoding_ = encoding
        self.monotone_ = tuple(constraints)
        self.best_iteration_ = best
        self.booster_ = lgb.Booster(model_str=model.booster_.model_to_string(num_iteration=best))
        self.calibrator_, self.calibration_ = choose_calibration(
            self._margin(valid_x), valid_y, self.calibration, self.random_state
        )
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(encoding.features)
        return self

    # --- scoring ---

    @property
    def feature_names_in_(self) -> tuple[str, ...]:
        return self.encoding_.features

    def _margin(self, matrix: FloatArray) -> FloatArray:
        if len(matrix) == 0:
            return np.zeros(0)
        return np.asarray(self.booster_.predict(matrix, raw_score=True), dtype=np.float64)

    def decision_function(self, X: Any) -> FloatArray:
        """Raw log-odds of the trees, before calibration."""
        return self._margin(self.encoding_.matrix(X))

    def predict_pd(self, X: Any) -> FloatArray:
        """Calibrated probability of default of each row."""
        return self.calibrator_(self.decision_function(X))

    def predict_proba(self, X: Any) -> FloatArray:
        pd_ = self.predict_pd(X)
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: Any) -> npt.NDArray[np.int64]:
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def contributions(self, X: Any) -> FloatArray:
        """Rows x (features + bias) SHAP values in log-odds; each row sums to the raw margin.

        Columns follow ``feature_names_in_``, the last one is the expected value (bias).
        """
        matrix = self.encoding_.matrix(X)
        if len(matrix) == 0:
            return np.zeros((0, len(self.feature_names_in_) + 1))
        return np.asarray(self.booster_.predict(matrix, pred_contrib=True), dtype=np.float64)

    def reasons(self, X: Any, top: int = MAX_REASONS) -> list[list[Reason]]:
        """At most ``top`` reasons per row: the largest PD-increasing contributions."""
        text = self.reason_text or generic_reason
        return top_reasons(self.contributions(X)[:, :-1], self.feature_names_in_, text, top)

    # --- persistence ---

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to score, as JSON-ready values (the reason texts are code)."""
        params = {k: v for k, v in self.get_params().items() if k != "reason_text"}
        for key in ("features", "categorical"):
            params[key] = None if params[key] is None else list(params[key])
        params["monotone"] = None if params["monotone"] is None else dict(params["monotone"])
        return {
            "format": FORMAT,
            "version": VERSION,
            "features": list(self.encoding_.features),
            "categories": {k: list(v) for k, v in self.encoding_.categories.items()},
            "monotone": list(self.monotone_),
            "best_iteration": self.best_iteration_,
            "model": self.booster_.model_to_string(),
            "calibration": self.calibrator_.to_dict(),
            "calibration_report": self.calibration_,
            "params": params,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], reason_text: ReasonText | None = None
    ) -> Challenger:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(
                f"not a {FORMAT} v{VERSION} model: {data.get('format')!r} v{data.get('version')!r}"
            )
        model = cls(**data["params"], reason_text=reason_text)
        model.encoding_ = Encoding(
            tuple(data["features"]), {k: tuple(v) for k, v in data["categories"].items()}
        )
        model.monotone_ = tuple(int(v) for v in data["monotone"])
        model.best_iteration_ = int(data["best_iteration"])
        model.booster_ = lgb.Booster(model_str=cast(str, data["model"]))
        model.calibrator_ = Calibrator.from_dict(data["calibration"])
        model.calibration_ = dict(data["calibration_report"])
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(model.encoding_.features)
        return model
