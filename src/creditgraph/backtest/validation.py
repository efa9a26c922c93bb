"""Validation against outcomes: AUC with its interval, KS, calibration by grade, and the report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from creditgraph.backtest.errors import BacktestError
from creditgraph.backtest.result import BacktestResult


def validation(
    y: npt.NDArray[np.float64], pd: npt.NDArray[np.float64], grade: list[str | None]
) -> dict[str, Any]:
    """AUC (with its DeLong interval), KS and calibration by grade on the labelled rows."""
    from creditgraph.scoring import metrics as m

    known = ~np.isnan(y) & ~np.isnan(pd)
    labels, risk = y[known].astype(np.int64), pd[known]
    out: dict[str, Any] = {"labelled": int(known.sum()), "bads": int(labels.sum())}
    if 0 < labels.sum() < labels.size:
        out |= {"auc": m.auc(labels, risk), "auc_low": None, "auc_high": None}
        out["ks"] = m.ks_statistic(labels, risk)
        try:  # DeLong's interval needs two bads and two goods
            est = m.auc_ci(labels, risk)
            out |= {"auc_low": est.lower, "auc_high": est.upper}
        except ValueError:
            pass
    else:
        out |= {"auc": None, "auc_low": None, "auc_high": None, "ks": None}
    grades = np.array([g or "" for g in grade], dtype=object)[known]
    rows = []
    for g in sorted({str(x) for x in grades}):
        mask = grades == g
        rows.append(
            {
                "grade": g,
                "applications": int(mask.sum()),
                "bads": int(labels[mask].sum()),
                "expected_bad_rate": float(risk[mask].mean()),
                "observed_bad_rate": float(labels[mask].mean()),
            }
        )
    out["calibration_by_grade"] = rows
    return out


def write_validation_report(result: BacktestResult, path: Any) -> Any:
    """The validation report (the training report's machinery) on the labelled backtest rows."""
    from creditgraph.scoring.report import ModelInfo, ReportInputs, Sample, write_report

    if result.y is None:
        raise BacktestError("--report needs --labels: the report measures against outcomes")
    keep = ~np.isnan(result.pd)
    if not keep.any():
        raise BacktestError("no application could be scored, so there is nothing to report")
    applied = result.rows["applied_at"].to_pylist()
    dates = [applied[i].date().isoformat() for i in np.flatnonzero(keep)]
    record = result.record
    info = ModelInfo(
        model_id=result.model_id,
        version=result.model_id,
        family=result.family,
        created_at=record.created_at if record is not None else datetime.now(UTC),
        feature_set_version=record.feature_set_version if record is not None else "1",
        training_data_hash=record.training_data_sha256 if record is not None else "-",
    )
    sample = Sample(
        pd=result.pd[keep],
        y_bad=result.y[keep],
        score=result.score[keep],
        period=f"backtest {min(dates)} .. {max(dates)}",
    )
    return write_report(ReportInputs(model=info, out_of_time=sample), path)
