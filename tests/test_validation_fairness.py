"""Fairness of approvals on a constructed population whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from fairlearn.metrics import demographic_parity_ratio, equal_opportunity_difference

from creditgraph.scoring.fairness import FOUR_FIFTHS, group_fairness
from creditgraph.scoring.metrics import MISSING_LABEL

Arrays = tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_], npt.NDArray[np.float64]]


def _group(name: str, people: int, approved: int, goods: int, goods_approved: int) -> Arrays:
    """``people`` rows of ``name``: the first ``goods`` repaid, ``goods_approved`` of them approved;
    the remaining approvals go to people who defaulted."""
    groups = np.full(people, name, dtype=object)
    y_bad = np.r_[np.zeros(goods), np.ones(people - goods)]
    decision = np.zeros(people, dtype=bool)
    decision[:goods_approved] = True
    decision[goods : goods + approved - goods_approved] = True
    return groups, decision, y_bad


def _population() -> Arrays:
    # urban: 100 people, 80 approved; 60 repaid, 54 of them approved → 0.9
    # rural: 100 people, 50 approved; 60 repaid, 36 of them approved → 0.6
    # tiny:  10 people, all approved; 8 repaid                      → small group, not judged
    parts = [
        _group("urban", 100, 80, 60, 54),
        _group("rural", 100, 50, 60, 36),
        _group("tiny", 10, 10, 8, 8),
    ]
    groups, decision, y_bad = (np.concatenate(p) for p in zip(*parts, strict=True))
    return groups, decision.astype(bool), y_bad


def test_known_four_fifths_violation_and_equal_opportunity_gap() -> None:
    groups, decision, y_bad = _population()
    result = group_fairness("region", groups, decision, y_bad, min_group_size=30)
    by = {g.group: g for g in result.groups}

    assert [g.group for g in result.groups] == ["rural", "tiny", "urban"]
    assert by["urban"].approval_rate == pytest.approx(0.8)
    assert by["rural"].approval_rate == pytest.approx(0.5)
    # the tiny group is the most approved but too small to be the reference
    assert result.reference_group == "urban"
    assert by["rural"].approval_ratio == pytest.approx(0.5 / 0.8)
    assert by["rural"].four_fifths_flag and not by["urban"].four_fifths_flag
    assert result.four_fifths_violations == ("rural",)
    assert result.min_approval_ratio == pytest.approx(0.625)

    assert by["urban"].good_payer_approval_rate == pytest.approx(0.9)
    assert by["rural"].good_payer_approval_rate == pytest.approx(0.6)
    assert result.equal_opportunity_difference == pytest.approx(0.3)
    assert by["rural"].opportunity_gap == pytest.approx(0.3)

    tiny = by["tiny"]
    assert tiny.small and tiny.count == 10 and tiny.approval_rate == 1.0
    assert tiny.good_payers == 8 and tiny.few_good_payers
    assert (by["urban"].count, by["urban"].approved, by["urban"].good_payers) == (100, 80, 60)
    assert result.labelled == 210


def test_agrees_with_fairlearn_on_judged_groups() -> None:
    groups, decision, y_bad = _population()
    judged = groups != "tiny"
    result = group_fairness("region", groups, decision, y_bad, min_group_size=30)
    good = (y_bad == 0).astype(int)
    assert result.min_approval_ratio == pytest.approx(
        demographic_parity_ratio(good[judged], decision[judged], sensitive_features=groups[judged])
    )
    assert result.equal_opportunity_difference == pytest.approx(
        equal_opportunity_difference(
            good[judged], decision[judged], sensitive_features=groups[judged]
        )
    )


def test_ratio_exactly_four_fifths_is_not_flagged() -> None:
    groups = np.repeat(["a", "b"], 50)
    decision = np.r_[np.ones(50), np.ones(40), np.zeros(10)].astype(bool)
    result = group_fairness("g", groups, decision, min_group_size=30)
    b = result.groups[1]
    assert b.approval_ratio == pytest.approx(FOUR_FIFTHS)
    assert not b.four_fifths_flag and result.four_fifths_violations == ()


def test_without_outcomes_only_approval_measures() -> None:
    groups, decision, _ = _population()
    result = group_fairness("region", groups, decision, None)
    assert result.labelled == 0
    assert result.equal_opportunity_difference is None
    assert all(g.good_payer_approval_rate is None for g in result.groups)
    assert result.four_fifths_violations == ("rural",)


def test_unknown_outcomes_are_left_out_of_equal_opportunity() -> None:
    groups, decision, y_bad = _population()
    y = y_bad.copy()
    y[(groups == "urban") & (y == 0) & ~decision] = np.nan  # the 6 unapproved urban good payers
    result = group_fairness("region", groups, decision, y)
    urban = next(g for g in result.groups if g.group == "urban")
    assert urban.good_payers == 54 and urban.good_payer_approval_rate == 1.0
    assert result.labelled == 204


def test_missing_group_values_form_a_flagged_group() -> None:
    groups = np.array(["f"] * 40 + ["m"] * 40 + [None] * 3, dtype=object)
    decision = np.ones(groups.size, dtype=bool)
    result = group_fairness("gender", groups, decision, min_group_size=30)
    missing = next(g for g in result.groups if g.group == MISSING_LABEL)
    assert missing.count == 3 and missing.small


def test_all_groups_small_leaves_summary_unjudged() -> None:
    result = group_fairness("g", ["a", "b", "b"], [True, False, True], [0, 0, 1])
    assert result.reference_group is None
    assert result.min_approval_ratio is None and result.four_fifths_violations == ()
    assert result.equal_opportunity_difference is None
    assert all(g.small for g in result.groups)
    assert result.groups[1].approval_ratio == pytest.approx(0.5)  # still shown against the best


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        group_fairness("g", ["a", "b"], [True])
    with pytest.raises(ValueError, match="outcomes"):
        group_fairness("g", ["a", "b"], [True, False], [0, 2])
    with pytest.raises(ValueError, match="min_group_size"):
        group_fairness("g", ["a"], [True], min_group_size=0)
