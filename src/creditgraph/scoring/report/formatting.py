"""How numbers read in the report: fixed digits, percentages, counts and AUC intervals.

A missing value reads as a dash, so a table never shows ``nan``.
"""

from __future__ import annotations

import math

import numpy as np

from creditgraph.scoring import metrics as m

DASH = "—"


def fixed(x: float | None, digits: int = 4) -> str:
    return DASH if x is None or math.isnan(x) else f"{x:.{digits}f}"


def percent(x: float | None) -> str:
    return DASH if x is None or math.isnan(x) else f"{100.0 * x:.1f}%"


def count(x: int) -> str:
    return f"{x:,}"


def interval(est: m.AucEstimate | str, gini: bool = False) -> str:
    """AUC (or Gini) with its confidence interval; a dash where it could not be estimated."""
    if isinstance(est, str):
        return DASH
    if gini:
        return f"{est.gini:.4f} [{est.gini_lower:.4f}, {est.gini_upper:.4f}]"
    return f"{est.auc:.4f} [{est.lower:.4f}, {est.upper:.4f}]"


def supplied_cell(value: object) -> str:
    """A supplied table cell: numbers to four significant digits, missing as empty."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
