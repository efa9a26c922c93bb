"""The report's figures, drawn with matplotlib's Agg renderer and embedded as PNG.

Text in plots is English: no CJK font can be assumed on the machine rendering them. No software
tag is written into the PNG, so equal inputs give equal bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from creditgraph.scoring import metrics as m
from creditgraph.scoring.fairness import FOUR_FIFTHS, FairnessResult
from creditgraph.scoring.report.blocks import Image
from creditgraph.scoring.report.inputs import PreparedSample, measure_name

BLUE, RED, GREY, PURPLE = "#1f77b4", "#d62728", "#7f7f7f", "#9467bd"
LIGHT = "#c7c7c7"  # groups too small to judge
SAMPLE_COLOURS = {"development": BLUE, "test": "#ff7f0e", "recent": "#2ca02c", "out_of_time": RED}
DPI = 96
MAX_POINTS = 2000  # curve points drawn per line; the numbers always use the full curve


def colour(s: PreparedSample) -> str:
    """Each sample keeps its colour in every figure."""
    return SAMPLE_COLOURS.get(s.key, GREY)


def _figure(height: float = 4.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(6.4, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _image(fig: Figure, alt: str) -> Image:
    """The figure as an inline PNG; no software tag, so equal inputs give equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return Image(base64.b64encode(buffer.getvalue()).decode("ascii"), alt)


def _thin(n: int, keep: int = 0) -> npt.NDArray[np.int64]:
    """At most ``MAX_POINTS`` evenly spaced indices into a curve, both ends and ``keep`` kept:
    a million-point curve draws the same at a fraction of the cost."""
    if n <= MAX_POINTS:
        return np.arange(n, dtype=np.int64)
    picks = np.linspace(0, n - 1, MAX_POINTS).round().astype(np.int64)
    return np.unique(np.r_[picks, keep])


def _label(ax: Axes, title: str, x: str, y: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def roc_plot(samples: Sequence[PreparedSample]) -> Image:
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1)
    for s in samples:
        roc = m.roc_points(s.labels, s.known_pd)
        i = _thin(roc.thresholds.size)
        label = f"{s.short} (AUC {m.auc(s.labels, s.known_pd):.3f})"
        ax.plot(roc.false_positive_rate[i], roc.true_positive_rate[i], color=colour(s), label=label)
    _label(ax, "ROC", "share of goods declined (FPR)", "share of bads declined (TPR)")
    ax.legend(loc="lower right")
    return _image(fig, "ROC curves")


def ks_plot(s: PreparedSample, curve: m.KsCurve) -> Image:
    fig, ax = _figure()
    i = _thin(curve.thresholds.size, keep=curve.at)
    ax.plot(curve.population_share[i], curve.bad_share[i], color=RED, label="bads")
    ax.plot(curve.population_share[i], curve.good_share[i], color=BLUE, label="goods")
    x, top = curve.population_share[curve.at], curve.bad_share[curve.at]
    ax.vlines(x, curve.good_share[curve.at], top, colors="black")
    ax.annotate(
        f"KS = {curve.statistic:.3f}", (x, top), textcoords="offset points", xytext=(8, -14)
    )
    _label(ax, f"KS curve ({s.short})", "share declined, riskiest first", "cumulative share")
    ax.legend(loc="lower right")
    return _image(fig, "KS curve")


def _edges(values: Sequence[m.FloatArray], bins: int = 30) -> list[float]:
    return [float(x) for x in np.histogram_bin_edges(np.concatenate(values), bins=bins)]


def outcome_plot(s: PreparedSample, use_score: bool) -> Image:
    values = s.display(use_score)[s.known]
    goods, bads = values[s.labels == 0], values[s.labels == 1]
    edges = _edges([goods, bads])
    fig, ax = _figure()
    ax.hist(goods, bins=edges, density=True, alpha=0.55, color=BLUE, label="goods")
    ax.hist(bads, bins=edges, density=True, alpha=0.55, color=RED, label="bads")
    _label(ax, f"Distribution by outcome ({s.short})", measure_name(use_score), "density")
    ax.legend()
    return _image(fig, "score distribution by outcome")


def population_plot(samples: Sequence[PreparedSample], use_score: bool) -> Image:
    edges = _edges([s.display(use_score) for s in samples])
    fig, ax = _figure()
    for s in samples:
        values = s.display(use_score)
        ax.hist(values, bins=edges, density=True, histtype="step", color=colour(s), label=s.short)
    _label(ax, "Distribution by sample", measure_name(use_score), "density")
    ax.legend()
    return _image(fig, "score distribution by sample")


def calibration_plot(items: Sequence[tuple[PreparedSample, m.Calibration]]) -> Image:
    fig, ax = _figure()
    top = 0.0
    for s, cal in items:
        x = [b.mean_predicted for b in cal.bins]
        y = [b.observed_rate for b in cal.bins]
        top = max(top, *x, *y)
        ax.plot(x, y, marker="o", color=colour(s), label=s.short)
    top = min(1.0, top * 1.05 + 1e-3)
    ax.plot([0, top], [0, top], color=GREY, linestyle=":", linewidth=1, label="perfect")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    _label(ax, "Calibration", "mean predicted PD", "observed bad rate")
    ax.legend(loc="upper left")
    return _image(fig, "calibration plot")


def lift_plot(rows: Sequence[tuple[str, m.AucEstimate, m.AucEstimate]]) -> Image:
    fig, ax = _figure(3.6)
    x = np.arange(len(rows), dtype=np.float64)
    series = (
        (-0.1, [b for _, _, b in rows], GREY, "without graph features"),
        (0.1, [a for _, a, _ in rows], PURPLE, "with graph features"),
    )
    for offset, est, line_colour, label in series:
        centre = np.array([e.auc for e in est])
        spread = [centre - [e.lower for e in est], [e.upper for e in est] - centre]
        ax.errorbar(
            x + offset, centre, yerr=spread, fmt="o", capsize=4, color=line_colour, label=label
        )
    ax.set_xticks(x, [name for name, _, _ in rows])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    _label(ax, "Network lift", "sample", "AUC")
    fig.legend(loc="outside lower center", ncols=2)
    return _image(fig, "AUC with and without graph features")


def fairness_plot(result: FairnessResult) -> Image:
    rows = result.groups
    fig, ax = _figure(max(2.4, 0.35 * len(rows) + 1.6))
    y = np.arange(len(rows))
    colours = [LIGHT if r.small else (RED if r.four_fifths_flag else BLUE) for r in rows]
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
    return _image(fig, f"approval rate by {result.attribute}")
