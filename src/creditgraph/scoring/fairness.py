"""Fairness of approval decisions across groups (segment, region, gender or any column).

Two measures a risk and compliance team read side by side, computed with fairlearn's
``MetricFrame``:

- **Approval-rate ratio (four-fifths rule)**: each group's approval rate divided by the approval
  rate of the most-approved group. A ratio below 0.8 is the conventional sign of adverse impact.
- **Equal opportunity**: among people who repaid, the share who were approved — the true-positive
  rate when "positive" means *a good payer approved* — should not depend on the group. The
  difference is the largest minus the smallest such rate across groups.

Groups smaller than ``min_group_size`` are kept and flagged, not dropped: their rates are too noisy
to judge, but hiding them would hide exactly the people a fairness review is for. They neither
set the reference group nor enter the summary figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate

from creditgraph.scoring.metrics import MISSING_LABEL, is_missing

FOUR_FIFTHS = 0.8
DEFAULT_MIN_GROUP_SIZE = 30


@dataclass(frozen=True)
class GroupFairness:
    """Approval outcomes of one group."""

    group: str
    count: int
    approved: int
    approval_rate: float
    approval_ratio: float  # approval rate / the reference group's; NaN if that rate is 0
    four_fifths_flag: bool  # approval_ratio < 0.8
    good_payers: int  # labelled people in the group who repaid
    good_payer_approval_rate: float | None  # P(approved | repaid); None without good payers
    opportunity_gap: float | None  # best judged group's good-payer approval rate minus this one's
    small: bool  # fewer than min_group_size people: shown, not judged
    few_good_payers: bool  # fewer than min_group_size good payers: equal opportunity not judged


@dataclass(frozen=True)
class FairnessResult:
    """Fairness of approvals across the values of one attribute."""

    attribute: str
    min_group_size: int
    reference_group: str | None  # the most-approved group large enough to judge
    groups: tuple[GroupFairness, ...]
    min_approval_ratio: float | None  # over judged groups
    four_fifths_violations: tuple[str, ...]  # judged groups with a ratio below 0.8
    equal_opportunity_difference: float | None  # max − min good-payer approval rate, judged groups
    labelled: int  # people whose outcome is known


def group_labels(values: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Group values as strings; missing values become one explicit group rather than vanish."""
    arr = np.asarray(values, dtype=object)
    return np.array([MISSING_LABEL if is_missing(v) else str(v) for v in arr], dtype=str)


def _people(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    """People in a group, each row standing for ``sample_weight`` identical people."""
    return float(np.sum(sample_weight))


def _predicted(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    """People with a positive prediction (approved)."""
    return float(np.sum(sample_weight * y_pred))


def _actual(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    """People with a positive outcome (repaid)."""
    return float(np.sum(sample_weight * y_true))


def _by_group(
    labels: npt.NDArray[np.str_],
    y_true: npt.NDArray[np.bool_],
    y_pred: npt.NDArray[np.bool_],
    metrics: dict[str, Callable[..., float]],
) -> dict[str, dict[str, float]]:
    """A ``MetricFrame`` by group, over the distinct (group, outcome, decision) rows weighted by
    how many people share each: exact for these counting metrics, and fairlearn's per-row cost
    no longer grows with the population."""
    names, index = np.unique(labels, return_inverse=True)
    keys, weights = np.unique(index * 4 + y_true * 2 + y_pred, return_counts=True)
    if keys.size == 1:
        # fairlearn squeezes a one-row input to a scalar and refuses it: repeat the row with no
        # weight (one group, everyone decided alike) so the counts stay exact
        keys, weights = np.repeat(keys, 2), np.array([weights[0], 0])
    frame = MetricFrame(
        metrics=metrics,
        y_true=(keys // 2) % 2,
        y_pred=keys % 2,
        sensitive_features=names[keys // 4],
        sample_params={name: {"sample_weight": weights} for name in metrics},
    )
    table = frame.by_group
    return {str(g): {k: float(table.loc[g, k]) for k in metrics} for g in table.index}


def group_fairness(
    attribute: str,
    groups: npt.ArrayLike,
    approved: npt.ArrayLike,
    y_bad: npt.ArrayLike | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> FairnessResult:
    """Approval rate, four-fifths ratio and equal-opportunity gap per group of ``attribute``.

    ``approved`` is the decision per person; ``y_bad`` the outcome where known (1 bad, 0 repaid,
    NaN unknown) — without it only the approval-rate measures are computed.
    """
    if min_group_size < 1:
        raise ValueError("min_group_size must be at least 1")
    labels = group_labels(groups)
    decision = np.asarray(approved).astype(bool)
    if decision.shape != labels.shape:
        raise ValueError(f"groups ({labels.size}) and approvals ({decision.size}) differ in length")
    if labels.size == 0:
        raise ValueError("no people to assess")
    outcome = _outcomes(y_bad, labels.size)
    labelled = ~np.isnan(outcome)
    good = labelled & (outcome == 0.0)

    # y_true is unused by these metrics; the frame requires one
    selection = _by_group(
        labels,
        decision,
        decision,
        {"approval_rate": selection_rate, "count": _people, "approved": _predicted},
    )
    rates = {g: v["approval_rate"] for g, v in selection.items()}
    counts = {g: round(v["count"]) for g, v in selection.items()}
    # "positive" = repaid; the true-positive rate is the approval rate among good payers
    opportunity: dict[str, dict[str, float]] = {}
    if good.any():
        opportunity = _by_group(
            labels[labelled],
            good[labelled],
            decision[labelled],
            {"tpr": partial(true_positive_rate, pos_label=1), "good_payers": _actual},
        )
    goods = {g: round(opportunity[g]["good_payers"]) if g in opportunity else 0 for g in rates}
    tpr = {g: opportunity[g]["tpr"] for g in rates if goods[g] > 0}

    names = sorted(rates)
    judged = [g for g in names if counts[g] >= min_group_size]
    reference = max(judged, key=lambda g: (rates[g], -names.index(g))) if judged else None
    ref_rate = rates[reference] if reference is not None else max(rates.values())
    opportunity_judged = [g for g in judged if goods[g] >= min_group_size]
    best_tpr = max((tpr[g] for g in opportunity_judged), default=None)

    rows = []
    for g in names:
        ratio = rates[g] / ref_rate if ref_rate > 0 else float("nan")
        rate_good = tpr.get(g)
        rows.append(
            GroupFairness(
                group=g,
                count=counts[g],
                approved=round(selection[g]["approved"]),
                approval_rate=rates[g],
                approval_ratio=ratio,
                four_fifths_flag=bool(ratio < FOUR_FIFTHS),
                good_payers=goods[g],
                good_payer_approval_rate=rate_good,
                opportunity_gap=(
                    best_tpr - rate_good if best_tpr is not None and rate_good is not None else None
                ),
                small=counts[g] < min_group_size,
                few_good_payers=goods[g] < min_group_size,
            )
        )
    judged_rows = [r for r in rows if r.group in judged]
    eo_rates = [tpr[g] for g in opportunity_judged]
    return FairnessResult(
        attribute=attribute,
        min_group_size=min_group_size,
        reference_group=reference,
        groups=tuple(rows),
        min_approval_ratio=min((r.approval_ratio for r in judged_rows), default=None),
        four_fifths_violations=tuple(r.group for r in judged_rows if r.four_fifths_flag),
        equal_opportunity_difference=(max(eo_rates) - min(eo_rates) if eo_rates else None),
        labelled=int(labelled.sum()),
    )


def _outcomes(y_bad: npt.ArrayLike | None, size: int) -> npt.NDArray[np.float64]:
    """Outcomes as floats with NaN for unknown; only 0, 1 and NaN are accepted."""
    if y_bad is None:
        return np.full(size, np.nan)
    y: npt.NDArray[Any] = np.asarray(y_bad, dtype=np.float64)
    if y.shape != (size,):
        raise ValueError(f"outcomes ({y.size}) and groups ({size}) differ in length")
    known = y[~np.isnan(y)]
    if not np.all((known == 0.0) | (known == 1.0)):
        raise ValueError("outcomes must be 0 (repaid), 1 (bad) or NaN (unknown)")
    return y
