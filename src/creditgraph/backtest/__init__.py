"""Backtesting: score (and optionally decide) past applications, each with its person's features
as of its own date, then validate against outcomes. Nothing is stored.

Sits above both ``scoring`` and ``decision`` (it uses the scorer and the pure decision engine),
so neither of them needs to know about it. One module per concern: ``applications`` (reading
the files), ``features`` (point-in-time features), ``decisions``, ``validation``, ``result``,
``run`` (end to end).
"""

from creditgraph.backtest.applications import (
    Applications,
    feature_date,
    match_labels,
    parse_instant,
    read_applications,
)
from creditgraph.backtest.errors import BacktestError
from creditgraph.backtest.features import FeatureSource, point_in_time_features
from creditgraph.backtest.result import BacktestResult
from creditgraph.backtest.run import pseudonyms, run_backtest
from creditgraph.backtest.validation import validation, write_validation_report

__all__ = [
    "Applications",
    "BacktestError",
    "BacktestResult",
    "FeatureSource",
    "feature_date",
    "match_labels",
    "parse_instant",
    "point_in_time_features",
    "pseudonyms",
    "read_applications",
    "run_backtest",
    "validation",
    "write_validation_report",
]
