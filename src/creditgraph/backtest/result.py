"""What a backtest returns: one row per application and the figures about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa


@dataclass
class BacktestResult:
    model_id: str
    family: str
    variant: str
    rows: pa.Table  # one per application, in input order
    scored: int
    without_features: int
    feature_dates: int
    seconds: float
    grades: dict[str, int]
    outcomes: dict[str, int] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    unmatched_labels: int = 0
    pd: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    score: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    y: npt.NDArray[np.float64] | None = None
    record: Any = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (no rows)."""
        n = self.rows.num_rows
        return {
            "model_id": self.model_id,
            "family": self.family,
            "variant": self.variant,
            "applications": n,
            "scored": self.scored,
            "without_features": self.without_features,
            "feature_dates": self.feature_dates,
            "seconds": round(self.seconds, 3),
            "applications_per_second": round(n / self.seconds, 1) if self.seconds else None,
            "grades": self.grades,
            "decisions": self.outcomes or None,
            "validation": self.validation,
            "unmatched_labels": self.unmatched_labels if self.validation is not None else None,
        }
