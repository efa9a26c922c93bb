"""What the report needs: the caller's inputs, and the same samples checked and prepared once.

Everything downstream (plots, sections) reads a :class:`ReportContext`, so shape and range errors
are raised here, naming the sample at fault, before anything is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from creditgraph.scoring import metrics as m
from creditgraph.scoring.fairness import DEFAULT_MIN_GROUP_SIZE

Rows: TypeAlias = "pa.Table | Sequence[Mapping[str, Any]]"
"""A small table (bins, IV) as a pyarrow table or a list of row dicts, rendered as given."""

SampleName = Literal["development", "test", "recent", "out_of_time"]
SAMPLE_ORDER: tuple[SampleName, ...] = ("development", "test", "recent", "out_of_time")
SAMPLE_TITLES: dict[str, str] = {
    "development": "开发样本 / development",
    "test": "测试样本 / test",
    "recent": "近期样本 / recent",
    "out_of_time": "跨期样本 / out-of-time",
}
LIFT_TARGET = 0.03  # AUC the graph features must add over the same family without them


@dataclass(frozen=True)
class ModelInfo:
    """Identity of the model version the report validates."""

    model_id: str
    version: str
    family: str  # e.g. "scorecard" or "challenger"
    created_at: datetime | str
    feature_set_version: str
    training_data_hash: str


@dataclass(frozen=True)
class Sample:
    """One population scored by the model.

    ``pd`` is the predicted probability of default per person; ``y_bad`` the outcome where known
    (1 bad, 0 good, NaN not yet known — a recent population may be entirely unlabelled);
    ``score`` optional scorecard points, used for distributions and score PSI when every sample
    has them. ``variables`` holds the model's inputs (for per-variable PSI), ``groups`` the columns
    fairness is assessed on, ``approved`` the decisions taken (else derived from the PD cut-off).
    """

    pd: npt.ArrayLike
    y_bad: npt.ArrayLike | None = None
    score: npt.ArrayLike | None = None
    variables: m.Table | None = None
    groups: m.Table | None = None
    approved: npt.ArrayLike | None = None
    period: str = ""  # e.g. "2024-01-01 .. 2024-06-30"


@dataclass(frozen=True)
class LiftSample:
    """The same people scored by the model family with and without graph features."""

    sample: str  # e.g. "test" or "out_of_time"
    y_bad: npt.ArrayLike
    pd_with_graph: npt.ArrayLike
    pd_without_graph: npt.ArrayLike


@dataclass(frozen=True)
class NetworkLift:
    """What the graph features add to one model family, per sample."""

    family: str
    samples: tuple[LiftSample, ...]
    target: float = LIFT_TARGET


@dataclass(frozen=True)
class RefitSummary:
    """The training lifecycle: which fit is deployed, every sample's window, the refit's
    in-sample metrics, and the applications not used with why (nothing is dropped silently)."""

    deployed: str  # "refit" or "development fit"
    windows: Mapping[str, Mapping[str, Any]]  # sample -> {"from", "to", "rows"}
    refit: Mapping[str, Any] | None = None  # in-sample AUC, bad rate, effective rows, ...
    lifecycle: Mapping[str, Any] = field(default_factory=dict)
    excluded: Mapping[str, int] = field(default_factory=dict)  # reason -> applications
    dropped: Sequence[tuple[str, str, str]] = ()  # (loan, applied at, reason) of each drop
    max_listed: int = 200


@dataclass(frozen=True)
class ReportInputs:
    """Everything the validation report shows; absent parts are reported as not available."""

    model: ModelInfo
    development: Sample | None = None
    test: Sample | None = None
    recent: Sample | None = None
    out_of_time: Sample | None = None
    bin_tables: Mapping[str, Rows] | Rows | None = None  # per variable, or one long table
    iv_table: Rows | None = None
    network_lift: NetworkLift | None = None
    refit: RefitSummary | None = None
    fairness_attributes: tuple[str, ...] = ("segment", "region_tier", "gender")
    fairness_sample: SampleName = "test"
    approval_cutoff: float | None = None  # approve when PD <= this, where no decisions are given
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    confidence_level: float = 0.95
    psi_bins: int = 10
    lift_groups: int = 10
    calibration_bins: int = 10


# ---------------------------------------------------------------------------------------------
# prepared samples


@dataclass(frozen=True)
class PreparedSample:
    """A sample's arrays, checked once; outcome-dependent views use the labelled rows only."""

    key: str
    pd: m.FloatArray
    y: m.FloatArray  # NaN where the outcome is unknown
    score: m.FloatArray | None
    variables: dict[str, npt.NDArray[Any]] | None
    groups: dict[str, npt.NDArray[Any]] | None
    approved: npt.NDArray[np.bool_] | None
    period: str

    @property
    def title(self) -> str:
        return SAMPLE_TITLES.get(self.key, self.key)

    @property
    def short(self) -> str:
        return self.key.replace("_", "-")

    @cached_property
    def known(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.y)

    @cached_property
    def labels(self) -> m.IntArray:
        return self.y[self.known].astype(np.int64)

    @cached_property
    def known_pd(self) -> m.FloatArray:
        return self.pd[self.known]

    @property
    def has_outcomes(self) -> bool:
        """At least one bad and one good are known, so discrimination can be measured."""
        labels = self.labels
        return bool(0 < labels.sum() < labels.size)

    def display(self, use_score: bool) -> m.FloatArray:
        """Scorecard points where asked for and available, else the PD."""
        return self.score if use_score and self.score is not None else self.pd


def measure_name(use_score: bool) -> str:
    """What a distribution shows, in words: points or the PD."""
    return "score" if use_score else "predicted PD"


def _vector(values: npt.ArrayLike, n: int, what: str, key: str) -> m.FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{key}: {what} has {arr.size} values, pd has {n}")
    return arr


def _columns(table: m.Table | None, n: int, what: str, key: str) -> dict[str, Any] | None:
    if table is None:
        return None
    columns = m.column_arrays(table)
    for name, col in columns.items():
        if col.shape != (n,):
            raise ValueError(f"{key}: {what} column {name!r} has {col.size} rows, pd has {n}")
    return columns


def prepare_sample(key: str, sample: Sample) -> PreparedSample:
    """Arrays checked for shape and range up front, so errors name the sample at fault."""
    pd = np.asarray(sample.pd, dtype=np.float64)
    if pd.ndim != 1 or pd.size == 0:
        raise ValueError(f"{key}: pd must be a non-empty one-dimensional array")
    if not np.all(np.isfinite(pd)) or np.any((pd < 0) | (pd > 1)):
        raise ValueError(f"{key}: pd must be finite and within [0, 1]")
    n = pd.size
    y = np.full(n, np.nan) if sample.y_bad is None else _vector(sample.y_bad, n, "y_bad", key)
    known = y[~np.isnan(y)]
    if not np.all((known == 0) | (known == 1)):
        raise ValueError(f"{key}: y_bad must be 0, 1 or NaN")
    score = None if sample.score is None else _vector(sample.score, n, "score", key)
    if score is not None and not np.all(np.isfinite(score)):
        raise ValueError(f"{key}: score must be finite")
    approved = None
    if sample.approved is not None:
        approved = np.asarray(sample.approved).astype(bool)
        if approved.shape != (n,):
            raise ValueError(f"{key}: approved has {approved.size} values, pd has {n}")
    variables = _columns(sample.variables, n, "variables", key)
    groups = _columns(sample.groups, n, "groups", key)
    return PreparedSample(key, pd, y, score, variables, groups, approved, sample.period)


@dataclass(frozen=True)
class ReportContext:
    """The inputs with their samples prepared; AUC estimates are computed once and shared."""

    inputs: ReportInputs
    samples: dict[str, PreparedSample]
    estimates: dict[str, m.AucEstimate | str] = field(default_factory=dict)

    @property
    def level(self) -> float:
        return self.inputs.confidence_level

    @property
    def labelled(self) -> list[PreparedSample]:
        return [s for s in self.samples.values() if s.has_outcomes]

    @property
    def primary(self) -> PreparedSample | None:
        """The sample single-sample views use: test, else out-of-time, else development."""
        for key in ("test", "out_of_time", "development"):
            s = self.samples.get(key)
            if s is not None and s.has_outcomes:
                return s
        return None

    def estimate(self, s: PreparedSample) -> m.AucEstimate | str:
        """DeLong estimate for a labelled sample, or the reason it cannot be computed."""
        if s.key not in self.estimates:
            try:
                self.estimates[s.key] = m.auc_ci(s.labels, s.known_pd, self.level)
            except ValueError as exc:
                self.estimates[s.key] = str(exc)
        return self.estimates[s.key]


def gather(inputs: ReportInputs) -> ReportContext:
    """Check the inputs and prepare every supplied sample, in the report's sample order.

    Raises ``ValueError`` for inconsistent inputs: a report on them would mislead.
    """
    if not 0.0 < inputs.confidence_level < 1.0:
        raise ValueError("confidence_level must be between 0 and 1")
    samples: dict[str, PreparedSample] = {
        k: prepare_sample(k, s) for k in SAMPLE_ORDER if (s := getattr(inputs, k)) is not None
    }
    return ReportContext(inputs, samples)
