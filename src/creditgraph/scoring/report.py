"""The model validation report: one self-contained HTML file a risk team and a regulator can read.

Everything the file needs is inside it — inline CSS, plots as base64 PNG images drawn with
matplotlib's Agg renderer — so it can be archived, mailed or attached to a model-approval record
and still open years later without the network. Every section either shows its figures or says
why they are not available; a missing sample never fails the whole report. All text is escaped.
Output is deterministic for equal inputs apart from the generation timestamp.

Pure presentation: the caller gathers samples and model facts into :class:`ReportInputs`; the
numbers come from :mod:`creditgraph.scoring.metrics` and :mod:`creditgraph.scoring.fairness`.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from creditgraph.scoring import metrics as m
from creditgraph.scoring.fairness import (
    DEFAULT_MIN_GROUP_SIZE,
    FOUR_FIFTHS,
    FairnessResult,
    group_fairness,
)

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
_BLUE, _RED, _GREY, _PURPLE = "#1f77b4", "#d62728", "#7f7f7f", "#9467bd"
_LIGHT = "#c7c7c7"  # groups too small to judge
_COLOURS = {"development": _BLUE, "test": "#ff7f0e", "recent": "#2ca02c", "out_of_time": _RED}
_DPI = 96
_MAX_POINTS = 2000  # curve points drawn per line; the numbers always use the full curve


# ---------------------------------------------------------------------------------------------
# inputs


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
class _Prepared:
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

    @property
    def colour(self) -> str:
        return _COLOURS.get(self.key, _GREY)

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


def _what(use_score: bool) -> str:
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


def _prepare(key: str, sample: Sample) -> _Prepared:
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
    return _Prepared(key, pd, y, score, variables, groups, approved, sample.period)


@dataclass(frozen=True)
class _Context:
    inputs: ReportInputs
    samples: dict[str, _Prepared]
    estimates: dict[str, m.AucEstimate | str] = field(default_factory=dict)

    @property
    def level(self) -> float:
        return self.inputs.confidence_level

    @property
    def labelled(self) -> list[_Prepared]:
        return [s for s in self.samples.values() if s.has_outcomes]

    @property
    def primary(self) -> _Prepared | None:
        """The sample single-sample views use: test, else out-of-time, else development."""
        for key in ("test", "out_of_time", "development"):
            s = self.samples.get(key)
            if s is not None and s.has_outcomes:
                return s
        return None

    def estimate(self, s: _Prepared) -> m.AucEstimate | str:
        """DeLong estimate for a labelled sample, or the reason it cannot be computed."""
        if s.key not in self.estimates:
            try:
                self.estimates[s.key] = m.auc_ci(s.labels, s.known_pd, self.level)
            except ValueError as exc:
                self.estimates[s.key] = str(exc)
        return self.estimates[s.key]


# ---------------------------------------------------------------------------------------------
# HTML helpers


class Markup(str):
    """Text that is already HTML; everything else is escaped on output."""


def _e(value: object) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value), quote=True)


def _na(reason: str) -> Markup:
    return Markup(f'<p class="na">不可用 / not available: {_e(reason)}</p>')


def _p(text: str, cls: str = "") -> Markup:
    attr = f' class="{_e(cls)}"' if cls else ""
    return Markup(f"<p{attr}>{_e(text)}</p>")


def _h3(text: str) -> Markup:
    return Markup(f"<h3>{_e(text)}</h3>")


def _cols(spec: str) -> list[str]:
    """Column headings written as one ``|``-separated string."""
    return spec.split("|")


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> Markup:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _badge(text: str, cls: str) -> Markup:
    return Markup(f'<span class="badge {_e(cls)}">{_e(text)}</span>')


def _f(x: float | None, digits: int = 4) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{100.0 * x:.1f}%"


def _n(x: int) -> str:
    return f"{x:,}"


def _ci(est: m.AucEstimate | str, gini: bool = False) -> str:
    if isinstance(est, str):
        return "—"
    if gini:
        return f"{est.gini:.4f} [{est.gini_lower:.4f}, {est.gini_upper:.4f}]"
    return f"{est.auc:.4f} [{est.lower:.4f}, {est.upper:.4f}]"


def _cell(value: object) -> str:
    """A supplied table cell: numbers to four significant digits, missing as empty."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _records(rows: Rows) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names (first-seen order) and row dicts of a supplied table."""
    if isinstance(rows, pa.Table):
        return list(rows.column_names), rows.to_pylist()
    records = [dict(r) for r in rows]
    columns: list[str] = []
    for record in records:
        columns.extend(str(k) for k in record if str(k) not in columns)
    return columns, records


def _supplied_table(rows: Rows, extra: tuple[str, Callable[[Any], str]] | None = None) -> Markup:
    """A table as supplied; ``extra`` adds one derived column (heading, row → text)."""
    columns, records = _records(rows)
    body = [[_cell(r.get(c)) for c in columns] for r in records]
    if extra is None:
        return _html_table(columns, body)
    heading, derive = extra
    return _html_table(
        [*columns, heading], [[*b, derive(r)] for b, r in zip(body, records, strict=True)]
    )


# ---------------------------------------------------------------------------------------------
# plots (text in plots is English: no CJK font can be assumed on the machine rendering them)


def _figure(height: float = 4.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(6.4, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _img(fig: Figure, alt: str) -> Markup:
    """The figure as an inline PNG; no software tag, so equal inputs give equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Markup(f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">')


def _thin(n: int, keep: int = 0) -> npt.NDArray[np.int64]:
    """At most ``_MAX_POINTS`` evenly spaced indices into a curve, both ends and ``keep`` kept:
    a million-point curve draws the same at a fraction of the cost."""
    if n <= _MAX_POINTS:
        return np.arange(n, dtype=np.int64)
    picks = np.linspace(0, n - 1, _MAX_POINTS).round().astype(np.int64)
    return np.unique(np.r_[picks, keep])


def _label(ax: Axes, title: str, x: str, y: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def _roc_plot(samples: Sequence[_Prepared]) -> Markup:
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle=":", linewidth=1)
    for s in samples:
        roc = m.roc_points(s.labels, s.known_pd)
        i = _thin(roc.thresholds.size)
        label = f"{s.short} (AUC {m.auc(s.labels, s.known_pd):.3f})"
        ax.plot(roc.false_positive_rate[i], roc.true_positive_rate[i], color=s.colour, label=label)
    _label(ax, "ROC", "share of goods declined (FPR)", "share of bads declined (TPR)")
    ax.legend(loc="lower right")
    return _img(fig, "ROC curves")


def _ks_plot(s: _Prepared, curve: m.KsCurve) -> Markup:
    fig, ax = _figure()
    i = _thin(curve.thresholds.size, keep=curve.at)
    ax.plot(curve.population_share[i], curve.bad_share[i], color=_RED, label="bads")
    ax.plot(curve.population_share[i], curve.good_share[i], color=_BLUE, label="goods")
    x, top = curve.population_share[curve.at], curve.bad_share[curve.at]
    ax.vlines(x, curve.good_share[curve.at], top, colors="black")
    ax.annotate(
        f"KS = {curve.statistic:.3f}", (x, top), textcoords="offset points", xytext=(8, -14)
    )
    _label(ax, f"KS curve ({s.short})", "share declined, riskiest first", "cumulative share")
    ax.legend(loc="lower right")
    return _img(fig, "KS curve")


def _edges(values: Sequence[m.FloatArray], bins: int = 30) -> list[float]:
    return [float(x) for x in np.histogram_bin_edges(np.concatenate(values), bins=bins)]


def _outcome_plot(s: _Prepared, use_score: bool) -> Markup:
    values = s.display(use_score)[s.known]
    goods, bads = values[s.labels == 0], values[s.labels == 1]
    edges = _edges([goods, bads])
    fig, ax = _figure()
    ax.hist(goods, bins=edges, density=True, alpha=0.55, color=_BLUE, label="goods")
    ax.hist(bads, bins=edges, density=True, alpha=0.55, color=_RED, label="bads")
    _label(ax, f"Distribution by outcome ({s.short})", _what(use_score), "density")
    ax.legend()
    return _img(fig, "score distribution by outcome")


def _population_plot(samples: Sequence[_Prepared], use_score: bool) -> Markup:
    edges = _edges([s.display(use_score) for s in samples])
    fig, ax = _figure()
    for s in samples:
        values = s.display(use_score)
        ax.hist(values, bins=edges, density=True, histtype="step", color=s.colour, label=s.short)
    _label(ax, "Distribution by sample", _what(use_score), "density")
    ax.legend()
    return _img(fig, "score distribution by sample")


def _calibration_plot(items: Sequence[tuple[_Prepared, m.Calibration]]) -> Markup:
    fig, ax = _figure()
    top = 0.0
    for s, cal in items:
        x = [b.mean_predicted for b in cal.bins]
        y = [b.observed_rate for b in cal.bins]
        top = max(top, *x, *y)
        ax.plot(x, y, marker="o", color=s.colour, label=s.short)
    top = min(1.0, top * 1.05 + 1e-3)
    ax.plot([0, top], [0, top], color=_GREY, linestyle=":", linewidth=1, label="perfect")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    _label(ax, "Calibration", "mean predicted PD", "observed bad rate")
    ax.legend(loc="upper left")
    return _img(fig, "calibration plot")


def _lift_plot(rows: Sequence[tuple[str, m.AucEstimate, m.AucEstimate]]) -> Markup:
    fig, ax = _figure(3.6)
    x = np.arange(len(rows), dtype=np.float64)
    series = (
        (-0.1, [b for _, _, b in rows], _GREY, "without graph features"),
        (0.1, [a for _, a, _ in rows], _PURPLE, "with graph features"),
    )
    for offset, est, colour, label in series:
        centre = np.array([e.auc for e in est])
        spread = [centre - [e.lower for e in est], [e.upper for e in est] - centre]
        ax.errorbar(x + offset, centre, yerr=spread, fmt="o", capsize=4, color=colour, label=label)
    ax.set_xticks(x, [name for name, _, _ in rows])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    _label(ax, "Network lift", "sample", "AUC")
    fig.legend(loc="outside lower center", ncols=2)
    return _img(fig, "AUC with and without graph features")


def _fairness_plot(result: FairnessResult) -> Markup:
    rows = result.groups
    fig, ax = _figure(max(2.4, 0.35 * len(rows) + 1.6))
    y = np.arange(len(rows))
    colours = [_LIGHT if r.small else (_RED if r.four_fifths_flag else _BLUE) for r in rows]
    ax.barh(y, [r.approval_rate for r in rows], color=colours)
    ax.set_yticks(y, [r.group if r.group.isascii() else f"#{i + 1}" for i, r in enumerate(rows)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    reference = next((r for r in rows if r.group == result.reference_group), None)
    if reference is not None:
        line = FOUR_FIFTHS * reference.approval_rate
        ax.axvline(line, color="black", linestyle="--", linewidth=1, label="4/5 of the top group")
        fig.legend(loc="outside lower center")
    name = result.attribute if result.attribute.isascii() else "group"
    _label(ax, f"Approval rate by {name}", "approval rate", "")
    return _img(fig, f"approval rate by {result.attribute}")


# ---------------------------------------------------------------------------------------------
# sections

_NO_OUTCOMES = "no sample has both good and bad outcomes"


def _summary(ctx: _Context) -> list[str]:
    info = ctx.inputs.model
    created = info.created_at
    model_rows = [
        ("模型 / model id", info.model_id),
        ("版本 / version", info.version),
        ("模型类别 / family", info.family),
        (
            "创建时间 / created at",
            created.isoformat() if isinstance(created, datetime) else created,
        ),
        ("特征集版本 / feature-set version", info.feature_set_version),
        ("训练数据哈希 / training-data hash", info.training_data_hash),
    ]
    out: list[str] = [_h3("模型 / Model"), _html_table(_cols("项目 / item|值 / value"), model_rows)]
    out.append(_h3("样本 / Samples"))
    if not ctx.samples:
        return [*out, _na("no samples were supplied")]
    rows = []
    for s in ctx.samples.values():
        y = s.labels
        bad_rate = _pct(float(y.mean())) if y.size else "—"
        mean_pd = _pct(float(s.pd.mean()))
        rows.append(
            [
                s.title,
                s.period or "—",
                _n(s.pd.size),
                _n(y.size),
                _n(int(y.sum())),
                bad_rate,
                mean_pd,
            ]
        )
    headers = "样本 / sample|期间 / period|人数 / count|已知结果 / labelled|坏客户 / bads"
    out.append(_html_table(_cols(f"{headers}|坏账率 / bad rate|平均预测PD / mean PD"), rows))
    out.append(_h3("表现 / Performance"))
    if not ctx.labelled:
        return [*out, _na(_NO_OUTCOMES)]
    level = f"{ctx.level:.0%}"
    perf = []
    for s in ctx.labelled:
        est = ctx.estimate(s)
        ks = _f(m.ks_statistic(s.labels, s.known_pd))
        perf.append(
            [s.title, _ci(est), _ci(est, gini=True), ks, est if isinstance(est, str) else ""]
        )
    headers = f"样本 / sample|AUC [{level} CI]|Gini [{level} CI]|KS|备注 / note"
    out.append(_html_table(_cols(headers), perf))
    out.append(_p(f"Confidence intervals: DeLong's method, {level} two-sided.", "note"))
    return out


def _discrimination(ctx: _Context) -> list[str]:
    s = ctx.primary
    if s is None:
        return [_na(_NO_OUTCOMES)]
    curve = m.ks_curve(s.labels, s.known_pd)
    declined = _pct(float(curve.population_share[curve.at]))
    return [
        _h3("ROC 曲线 / ROC curves"),
        _roc_plot(ctx.labelled),
        _h3(f"KS 曲线 / KS curve — {s.title}"),
        _ks_plot(s, curve),
        _p(
            f"KS = {curve.statistic:.4f} at PD cut-off {curve.threshold:.4g} ({declined} declined)."
        ),
        _h3(f"按结果的分数分布 / Score distribution by outcome — {s.title}"),
        _outcome_plot(s, s.score is not None),
    ]


def _calibration(ctx: _Context) -> list[str]:
    primary = ctx.primary
    if primary is None:
        return [_na(_NO_OUTCOMES)]
    bins = ctx.inputs.calibration_bins
    items = [(s, m.calibration(s.labels, s.known_pd, bins)) for s in ctx.labelled]
    overall = [
        [
            s.title,
            _pct(c.mean_predicted),
            _pct(c.observed_rate),
            _f(c.brier),
            _f(c.expected_calibration_error),
        ]
        for s, c in items
    ]
    cal = next(c for s, c in items if s is primary)
    by_bin = [
        [
            f"{b.lower:.4f} – {b.upper:.4f}",
            _n(b.count),
            _n(b.bads),
            _pct(b.mean_predicted),
            _pct(b.observed_rate),
            f"{100 * (b.observed_rate - b.mean_predicted):+.1f} pp",
        ]
        for b in cal.bins
    ]
    headers = "PD 范围 / PD range|人数 / count|坏客户 / bads|平均预测 / predicted|实际 / observed"
    return [
        _calibration_plot(items),
        _html_table(
            _cols("样本 / sample|平均预测PD / mean PD|实际坏账率 / observed|Brier|ECE"), overall
        ),
        _h3(f"分箱校准 / Calibration by bin — {primary.title}"),
        _html_table(_cols(f"{headers}|差 / gap"), by_bin),
    ]


def _lift(ctx: _Context) -> list[str]:
    s = ctx.primary
    if s is None:
        return [_na(_NO_OUTCOMES)]
    rows = [
        [
            str(r.group),
            _n(r.count),
            f"{r.min_risk:.4f} – {r.max_risk:.4f}",
            _n(r.bads),
            _pct(r.bad_rate),
            _n(r.cumulative_bads),
            _pct(r.capture),
            f"{r.lift:.2f}",
            f"{r.cumulative_lift:.2f}",
        ]
        for r in m.lift_table(s.labels, s.known_pd, ctx.inputs.lift_groups)
    ]
    headers = (
        "组 / group|人数 / count|PD 范围 / PD range|坏客户 / bads|坏账率 / bad rate|"
        "累计坏客户 / cum. bads|累计捕获率 / cum. capture|提升 / lift|累计提升 / cum. lift"
    )
    note = f"{s.title}: equal-size groups by predicted PD, riskiest first; ties stay together."
    return [_p(note), _html_table(_cols(headers), rows)]


def _iv_strength(value: object) -> str:
    """Conventional reading of an information value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return ""
    for bound, text in (
        (0.02, "无预测力 / not predictive"),
        (0.1, "弱 / weak"),
        (0.3, "中 / medium"),
        (0.5, "强 / strong"),
    ):
        if value < bound:
            return text
    return "过强，检查泄漏 / suspicious, check for leakage"


def _find(columns: Sequence[str], *names: str) -> str | None:
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def _bin_groups(bins: Mapping[str, Rows] | Rows) -> list[tuple[str | None, Rows]]:
    """Bin tables per variable: as given, or split from one long table by its variable column
    (a table without one is shown whole, under no name)."""
    if isinstance(bins, Mapping):
        return [(str(k), v) for k, v in bins.items()]
    columns, records = _records(bins)
    var = _find(columns, "variable", "feature", "name")
    if var is None:
        return [(None, bins)]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        grouped.setdefault(str(r.get(var)), []).append({k: v for k, v in r.items() if k != var})
    return [(name, rows) for name, rows in grouped.items()]


def _variables(ctx: _Context) -> list[str]:
    out: list[str] = [_h3("信息值 / Information value (IV)")]
    iv = ctx.inputs.iv_table
    if iv is None:
        out.append(_na("no IV table was supplied (scorecard models provide one)"))
    else:
        col = _find(_records(iv)[0], "iv", "information_value", "information value")
        strength = ("强度 / strength", lambda r: _iv_strength(r.get(col)))
        out.append(_supplied_table(iv, strength if col else None))
        out.append(
            _p(
                "IV < 0.02 not predictive, 0.02–0.1 weak, 0.1–0.3 medium, 0.3–0.5 strong, "
                "> 0.5 suspiciously strong (check for leakage).",
                "note",
            )
        )
    out.append(_h3("分箱表 / Bin tables"))
    bins = ctx.inputs.bin_tables
    if bins is None:
        return [*out, _na("no bin tables were supplied (scorecard models provide them)")]
    for name, rows in _bin_groups(bins):
        table = _supplied_table(rows)
        named = f"<details><summary>{_e(name)}</summary>{table}</details>"
        out.append(table if name is None else Markup(named))
    return out


_PSI_TEXT = {"stable": "稳定 / stable", "watch": "关注 / watch", "alert": "显著偏移 / shift"}


def _psi_badge(value: float) -> Markup:
    status = m.psi_status(value)
    return _badge(f"{value:.4f} {_PSI_TEXT[status]}", status)


def _stability(ctx: _Context) -> list[str]:
    ref = ctx.samples.get("development")
    if ref is None:
        return [_na("the development sample is the reference for PSI and was not supplied")]
    others = [s for s in ctx.samples.values() if s.key != "development"]
    if not others:
        return [_na("no test, recent or out-of-time sample to compare with development")]
    use_score = all(s.score is not None for s in ctx.samples.values())
    bins = ctx.inputs.psi_bins
    score_rows = [
        [
            f"development → {s.short}",
            _psi_badge(m.psi(ref.display(use_score), s.display(use_score), bins).value),
            _n(s.pd.size),
        ]
        for s in others
    ]
    out: list[str] = [
        _h3(f"分数 PSI / Score PSI ({_what(use_score)}, bins: development deciles)"),
        _html_table(_cols("比较 / comparison|PSI|人数 / count"), score_rows),
        _population_plot([ref, *others], use_score),
        _h3("变量 PSI / PSI per variable"),
    ]
    comparable = [s for s in others if s.variables is not None]
    if ref.variables is None or not comparable:
        return [*out, _na("development and at least one other sample need a table of variables")]
    psi: dict[tuple[str, str], float] = {}
    for s in comparable:
        for v in m.variable_psi(ref.variables, s.variables or {}, bins=bins):
            psi[(s.key, v.name)] = v.value
    rows = [
        [
            name,
            *(_psi_badge(psi[(s.key, name)]) if (s.key, name) in psi else "—" for s in comparable),
        ]
        for name in ref.variables
    ]
    headers = ["变量 / variable", *(f"development → {s.short}" for s in comparable)]
    return [*out, _html_table(headers, rows)]


def _out_of_time(ctx: _Context) -> list[str]:
    oot = ctx.samples.get("out_of_time")
    if oot is None:
        return [_na("no out-of-time sample was supplied")]
    if not oot.has_outcomes:
        return [_na("the out-of-time sample has no known good and bad outcomes yet")]
    base = next(
        (
            ctx.samples[k]
            for k in ("test", "development")
            if k in ctx.samples and ctx.samples[k].has_outcomes
        ),
        None,
    )
    rows = []
    for s in [oot] if base is None else [base, oot]:
        cal = m.calibration(s.labels, s.known_pd, ctx.inputs.calibration_bins)
        ks = _f(m.ks_statistic(s.labels, s.known_pd))
        rows.append(
            [
                s.title,
                s.period or "—",
                _n(s.labels.size),
                _pct(cal.observed_rate),
                _pct(cal.mean_predicted),
                _ci(ctx.estimate(s)),
                ks,
                _f(cal.brier),
            ]
        )
    headers = (
        "样本 / sample|期间 / period|已知结果 / labelled|坏账率 / bad rate|平均预测PD / mean PD"
    )
    out: list[str] = [_html_table(_cols(f"{headers}|AUC [CI]|KS|Brier"), rows)]
    if base is None:
        return out
    now, before = ctx.estimate(oot), ctx.estimate(base)
    if isinstance(now, m.AucEstimate) and isinstance(before, m.AucEstimate):
        d = m.independent_auc_difference(now, before, ctx.level)
        out.append(
            _p(
                f"AUC change, out-of-time − {base.short}: {d.difference:+.4f} "
                f"[{d.lower:+.4f}, {d.upper:+.4f}], p = {d.p_value:.3g} "
                "(independent samples, DeLong variances)."
            )
        )
    return out


def _verdict(d: m.AucDifference, target: float) -> Markup:
    if d.lower > 0 and d.difference >= target:
        return _badge("达到目标 / meets target", "stable")
    if d.lower > 0:
        return _badge("显著但低于目标 / significant, below target", "watch")
    return _badge("不显著 / not significant", "alert")


def _network(ctx: _Context) -> list[str]:
    lift = ctx.inputs.network_lift
    if lift is None:
        return [
            _na("no comparison of the model family with and without graph features was supplied")
        ]
    if not lift.samples:
        return [_na("the network-lift comparison holds no samples")]
    rows: list[list[object]] = []
    plotted = []
    for item in lift.samples:
        name = SAMPLE_TITLES.get(item.sample, item.sample)
        try:
            with_g = m.auc_ci(item.y_bad, item.pd_with_graph, ctx.level)
            without = m.auc_ci(item.y_bad, item.pd_without_graph, ctx.level)
            d = m.paired_auc_difference(
                item.y_bad, item.pd_with_graph, item.pd_without_graph, ctx.level
            )
        except ValueError as exc:
            rows.append([name, "—", "—", "—", "—", str(exc)])
            continue
        diff = f"{d.difference:+.4f} [{d.lower:+.4f}, {d.upper:+.4f}]"
        rows.append(
            [name, _ci(without), _ci(with_g), diff, f"{d.p_value:.3g}", _verdict(d, lift.target)]
        )
        plotted.append((item.sample.replace("_", "-"), with_g, without))
    headers = (
        "样本 / sample|无图特征 AUC / without graph|含图特征 AUC / with graph|"
        "差值 / difference [CI]|p|结论 / verdict"
    )
    intro = (
        f"Model family: {lift.family}. Target: graph features add at least +{lift.target:.2f} "
        f"AUC. Difference with DeLong's paired {ctx.level:.0%} interval (same people)."
    )
    out: list[str] = [_p(intro), _html_table(_cols(headers), rows)]
    return [*out, _lift_plot(plotted)] if plotted else out


def _fairness(ctx: _Context) -> list[str]:
    key, cutoff = ctx.inputs.fairness_sample, ctx.inputs.approval_cutoff
    s = ctx.samples.get(key)
    if s is None:
        return [_na(f"the {key} sample, on which fairness is assessed, was not supplied")]
    if s.groups is None:
        return [_na(f"the {key} sample has no group columns")]
    if s.approved is not None:
        approved, basis = s.approved, "decisions as taken"
    elif cutoff is not None:
        approved, basis = s.pd <= cutoff, f"approve when PD <= {cutoff:.4g}"
    else:
        return [_na("the sample has no approval decisions and no PD cut-off was given")]
    out: list[str] = [
        _p(
            f"{s.title}; {basis}. Groups under {ctx.inputs.min_group_size} people are shown but not "
            "judged. Equal opportunity compares approval rates among people who repaid."
        )
    ]
    for attribute in ctx.inputs.fairness_attributes:
        out.append(_h3(f"按 {attribute} / By {attribute}"))
        if attribute not in s.groups:
            out.append(_na(f"column {attribute!r} is not among the sample's group columns"))
            continue
        result = group_fairness(
            attribute, s.groups[attribute], approved, s.y, ctx.inputs.min_group_size
        )
        out.extend(_fairness_block(result))
    return out


def _fairness_block(r: FairnessResult) -> list[str]:
    summary = [
        ("参照组 / reference group (most approved)", r.reference_group or "— (all groups small)"),
        ("最低批准率比 / lowest approval-rate ratio", _f(r.min_approval_ratio, 3)),
        ("低于五分之四 / below four-fifths", ", ".join(r.four_fifths_violations) or "none / 无"),
        ("机会均等差 / equal-opportunity difference", _f(r.equal_opportunity_difference, 3)),
        ("已知结果 / labelled people", _n(r.labelled)),
    ]
    rows = []
    for i, g in enumerate(r.groups, start=1):
        note = (
            "样本过小 / small group"
            if g.small
            else ("还款人过少 / few good payers" if g.few_good_payers else "")
        )
        flag: object = (
            ("< 0.8" if g.small else _badge("< 0.8", "alert")) if g.four_fifths_flag else ""
        )
        rows.append(
            [
                i,
                g.group,
                _n(g.count),
                _n(g.approved),
                _pct(g.approval_rate),
                _f(g.approval_ratio, 3),
                flag,
                _n(g.good_payers),
                _pct(g.good_payer_approval_rate),
                _f(g.opportunity_gap, 3),
                note,
            ]
        )
    headers = (
        "#|组 / group|人数 / count|批准 / approved|批准率 / approval rate|比率 / ratio|4/5|"
        "还款人 / good payers|还款人批准率 / TPR|差距 / gap|备注 / note"
    )
    return [
        _html_table(_cols("指标 / measure|值 / value"), summary),
        _html_table(_cols(headers), rows),
        _fairness_plot(r),
    ]


_METHODS = f"""<ul>
<li>AUC: probability a random bad has a higher predicted PD than a random good (ties count ½);
Gini = 2·AUC − 1. KS: max over cut-offs of |share of bads declined − share of goods declined|.</li>
<li>PSI = Σ (a<sub>i</sub> − e<sub>i</sub>)·ln(a<sub>i</sub>/e<sub>i</sub>) over bins cut at the
development sample's deciles; an empty bin's share is replaced by {m.PSI_EPSILON:g}.
&lt; {m.PSI_WATCH} stable, {m.PSI_WATCH}–{m.PSI_ALERT} watch, ≥ {m.PSI_ALERT} significant shift.</li>
<li>Confidence intervals: DeLong's nonparametric variance; for two models on the same people the
paired covariance is used.</li>
<li>Four-fifths rule: a group's approval rate below {FOUR_FIFTHS:.0%} of the most-approved group's.
Equal-opportunity difference: largest minus smallest approval rate among people who repaid.</li>
<li>ECE: Σ<sub>b</sub> (n<sub>b</sub>/n)·|observed<sub>b</sub> − predicted<sub>b</sub>| over
equal-count PD bins; Brier: mean (PD − outcome)².</li>
</ul>"""


def _refit(ctx: _Context) -> list[str]:
    r = ctx.inputs.refit
    if r is None:
        return [_na("no training-lifecycle summary (windows, refit) was supplied")]
    if r.refit is not None:
        intro = (
            "The specification (variables, binning, regularisation) was chosen on the development "
            "sample and judged on test and out-of-time data (the sections above). It was then "
            "refitted on every labelled application up to the as-of date: the deployed model is "
            "the refit, whose metrics below are in-sample."
        )
    else:
        intro = "The deployed model is the development fit (no refit was asked for)."
    out: list[str] = [_p(f"Deployed / 部署: {r.deployed}. {intro}")]
    rows = [
        [name, w.get("from") or "—", w.get("to") or "—", _n(int(w.get("rows") or 0))]
        for name, w in r.windows.items()
    ]
    out.append(_html_table(_cols("样本 / sample|从 / from|到 / to|行数 / rows"), rows))
    if r.refit is not None:
        f = r.refit
        auc = f.get("auc")
        auc_text = (
            "—"
            if auc is None
            else f"{auc:.4f} [{f.get('auc_low', float('nan')):.4f}, "
            f"{f.get('auc_high', float('nan')):.4f}]"
        )
        items = [
            ("in-sample AUC / 样本内AUC", auc_text),
            ("rows / 行数", _n(int(f.get("rows", 0)))),
            ("bad rate / 坏账率", _pct(f.get("bad_rate"))),
            ("effective rows (weights) / 有效行数", _f(f.get("effective_rows"), 0)),
            ("recency half-life, months / 时间衰减半衰期", f.get("recency_halflife_months") or "—"),
            (
                "variables (refit / development) / 变量数",
                f"{f.get('variables', '—')} / {f.get('development_variables', '—')}",
            ),
        ]
        out.append(_html_table(_cols("项目 / item|值 / value"), items))
    if r.lifecycle:
        out.append(_p("Options: " + ", ".join(f"{k} = {v}" for k, v in r.lifecycle.items())))
    if r.excluded:
        rows = [[reason, _n(count)] for reason, count in r.excluded.items()]
        out.append(_h3("未使用的申请 / Applications not used"))
        out.append(_html_table(_cols("原因 / reason|申请数 / applications"), rows))
    if r.dropped:
        shown = list(r.dropped[: r.max_listed])
        more = len(r.dropped) - len(shown)
        note = f" (first {len(shown)} of {len(r.dropped):,})" if more > 0 else ""
        out.append(_h3(f"无特征而未用的申请 / Applications without features{note}"))
        out.append(_html_table(_cols("贷款 / loan|申请时间 / applied at|原因 / reason"), shown))
    return out


def _methods(ctx: _Context) -> list[str]:
    return [Markup(_METHODS)]


_SECTIONS: tuple[tuple[str, str, Callable[[_Context], list[str]]], ...] = (
    ("summary", "摘要 / Summary", _summary),
    ("discrimination", "区分能力 / Discrimination", _discrimination),
    ("calibration", "校准 / Calibration", _calibration),
    ("lift", "提升与捕获 / Lift and gains", _lift),
    ("variables", "变量与分箱 / Variables: IV and bins", _variables),
    ("stability", "稳定性 / Population stability (PSI)", _stability),
    ("out-of-time", "跨期表现 / Out-of-time performance", _out_of_time),
    ("network-lift", "网络增益 / Network lift", _network),
    ("fairness", "公平性 / Fairness", _fairness),
    ("refit", "训练周期与部署 / Training lifecycle and refit", _refit),
    ("methods", "方法说明 / Methods", _methods),
)
SECTION_IDS: tuple[str, ...] = tuple(sid for sid, _, _ in _SECTIONS)

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",Helvetica,Arial,sans-serif;
margin:2rem auto;max-width:1100px;color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;border-bottom:2px solid #333;padding-bottom:.3rem}
h2{font-size:1.3rem;margin-top:2.2rem;border-bottom:1px solid #bbb;padding-bottom:.2rem}
h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}
img{max-width:100%;height:auto;display:block;margin:.6rem 0}
nav ol{columns:2;font-size:.9rem}
.na{color:#8a6d3b;background:#fcf8e3;padding:.4rem .6rem;border-left:4px solid #f0ad4e}
.note,.meta{color:#555;font-size:.85rem}
.badge{padding:.05rem .4rem;border-radius:.3rem;white-space:nowrap}
.stable{background:#d4edda}.watch{background:#fff3cd}.alert{background:#f8d7da}
details{margin:.3rem 0}summary{cursor:pointer;font-weight:600}
"""


# ---------------------------------------------------------------------------------------------
# entry points


def render_report(inputs: ReportInputs, *, generated_at: datetime | None = None) -> str:
    """The validation report as one HTML document.

    Raises ``ValueError`` for inconsistent inputs (arrays of different lengths, PDs outside
    [0, 1]); a section whose numbers cannot be computed says so instead of failing the report.
    """
    if not 0.0 < inputs.confidence_level < 1.0:
        raise ValueError("confidence_level must be between 0 and 1")
    samples: dict[str, _Prepared] = {
        k: _prepare(k, s) for k in SAMPLE_ORDER if (s := getattr(inputs, k)) is not None
    }
    ctx = _Context(inputs, samples)
    info = inputs.model
    stamp = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    title = f"模型验证报告 / Model validation report — {info.model_id} {info.version}"
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        "<header><h1>模型验证报告 / Model validation report</h1>",
        _p(f"{info.model_id} · version {info.version} · {info.family} · generated {stamp}", "meta"),
        "</header><nav><ol>",
        *(f'<li><a href="#{sid}">{_e(heading)}</a></li>' for sid, heading, _ in _SECTIONS),
        "</ol></nav>",
    ]
    for sid, heading, build in _SECTIONS:
        try:
            body = build(ctx)
        except ValueError as exc:  # data a section cannot use; the rest of the report stands
            body = [_na(f"could not be computed: {exc}")]
        parts.append(f'<section id="{sid}"><h2>{_e(heading)}</h2>{"".join(body)}</section>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    inputs: ReportInputs, path: str | Path, *, generated_at: datetime | None = None
) -> Path:
    """Render the report and write it as UTF-8 to ``path`` (parents created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(inputs, generated_at=generated_at), encoding="utf-8")
    return target
