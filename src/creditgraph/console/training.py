"""How training results read on screen: ``creditgraph model train`` and the demo print the same
tables, so an AUC and its interval look alike wherever a model is trained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table


def auc_text(entry: Any) -> str:
    """``0.7312 [0.7101, 0.7523]``: an AUC with its 95% interval; ``-`` when there is none."""
    if not isinstance(entry, dict) or entry.get("auc") is None:
        return "-"
    return f"{entry['auc']:.4f} [{entry['auc_low']:.4f}, {entry['auc_high']:.4f}]"


def lift_text(entry: Any) -> str:
    """``+0.0210 [+0.0102, +0.0318]``: an AUC difference with its interval; ``-`` when none."""
    if not isinstance(entry, dict) or entry.get("difference") is None:
        return "-"
    return f"{entry['difference']:+.4f} [{entry['low']:+.4f}, {entry['high']:+.4f}]"


# (column heading, metric key, formatter) of the two training tables
_Column = tuple[str, str, Callable[[Any], str]]
_TRAINED: tuple[_Column, ...] = (
    ("test AUC", "test", auc_text),
    ("out-of-time AUC", "out_of_time", auc_text),
    ("OOT without graph", "out_of_time_without_graph", auc_text),
    ("network lift (OOT)", "network_lift_out_of_time", lift_text),
    ("network lift (test)", "network_lift_test", lift_text),
)
_NO_SOCIAL: tuple[_Column, ...] = (
    ("test AUC", "test", auc_text),
    ("out-of-time AUC", "out_of_time", auc_text),
    ("social adds (OOT)", "social_lift_out_of_time", lift_text),
    ("social adds (test)", "social_lift_test", lift_text),
)


def _metrics_table(
    title: str,
    columns: tuple[_Column, ...],
    metrics: dict[str, dict[str, Any]],
    ids: dict[str, str],
) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for name in ("model", *(c[0] for c in columns)):
        table.add_column(name)
    for family, m in metrics.items():
        table.add_row(escape(ids[family]), *(show(m.get(key)) for _, key, show in columns))
    return table


def training_table(metrics: dict[str, dict[str, Any]], ids: dict[str, str]) -> Table:
    """One row per family: AUC with intervals, without graph features, and the lift."""
    title = "trained models 训练结果 (AUC with 95% DeLong intervals)"
    return _metrics_table(title, _TRAINED, metrics, ids)


def no_social_table(metrics: dict[str, dict[str, Any]], ids: dict[str, str]) -> Table:
    """One row per family's no_social variant: its AUC and what the social data adds."""
    title = "without social data 无社交数据模型 (for applicants who withhold consent)"
    return _metrics_table(title, _NO_SOCIAL, metrics, ids)
