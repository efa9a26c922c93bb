"""Fairness of the decisions actually made: approval-rate ratios by group, the four-fifths rule
and equal opportunity, from plain values (no database here; ``fairness_store`` reads them).

The numbers come from ``scoring.fairness.group_fairness`` — the same definition the model's
validation report uses, so a model judged fair before deployment is measured the same way after.
This module adds what monitoring real decisions needs: the attribute values as of the decision
(age band from the birth year at the decision date), the pack's threshold, and a status per
group that tells a small group ("insufficient": too few people to judge, never failed) from a
judged one. The four-fifths comparison is exact (integer counts), so a ratio of exactly 0.8
passes whatever the float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Literal

import numpy as np

from creditgraph.compliance.pack import FairnessRules
from creditgraph.scoring.fairness import GroupFairness, group_fairness

Status = Literal["reference", "pass", "fail", "insufficient"]
UNKNOWN = "unknown"
"""The group of a person whose attribute is not recorded (e.g. gender left blank)."""


@dataclass(frozen=True, slots=True)
class DecisionFacts:
    """One person's decision and what fairness groups them by; no identifier is needed."""

    decided_on: date
    approved: bool
    gender: str | None
    birth_year: int | None
    region_tier: str | None
    segment: str | None
    bad: bool | None = None
    """The outcome once known: True defaulted, False repaid or performing, None not yet known."""


@dataclass(frozen=True, slots=True)
class GroupResult:
    attribute: str
    group: str
    people: int
    approved: int
    approval_rate: float
    ratio: float | None
    """Approval rate over the reference group's; None when no group approves anyone."""
    status: Status
    good_payers: int
    good_payer_approval_rate: float | None
    opportunity_gap: float | None
    """The best judged group's approval rate among good payers minus this group's."""


@dataclass(frozen=True, slots=True)
class AttributeResult:
    attribute: str
    reference_group: str | None
    groups: tuple[GroupResult, ...]
    equal_opportunity_difference: float | None
    """Largest minus smallest approval rate among good payers, over groups large enough."""
    labelled: int

    @property
    def failing(self) -> tuple[GroupResult, ...]:
        return tuple(g for g in self.groups if g.status == "fail")


@dataclass(frozen=True, slots=True)
class FairnessReport:
    decisions: int
    min_ratio: Decimal
    min_group_size: int
    attributes: tuple[AttributeResult, ...]

    @property
    def failing(self) -> tuple[GroupResult, ...]:
        return tuple(g for a in self.attributes for g in a.failing)


def age_band(birth_year: int | None, on: date, edges: Sequence[int]) -> str:
    """The age band of a person born in ``birth_year`` on ``on`` (age by calendar year, the
    precision the birth year allows): ``<25``, ``25-34``, ..., ``55+`` for edges 25..55."""
    if birth_year is None:
        return UNKNOWN
    age = on.year - birth_year
    if age < edges[0]:
        return f"<{edges[0]}"
    for low, high in pairwise(edges):
        if low <= age < high:
            return f"{low}-{high - 1}"
    return f"{edges[-1]}+"


def group_of(facts: DecisionFacts, attribute: str, rules: FairnessRules) -> str:
    """The group of ``facts`` by ``attribute`` (age band as of the decision date)."""
    if attribute == "age_band":
        return age_band(facts.birth_year, facts.decided_on, rules.age_band_edges)
    value = getattr(facts, attribute)
    return UNKNOWN if value is None or value == "" else str(value)


def passes_four_fifths(
    approved: int, people: int, ref_approved: int, ref_people: int, min_ratio: Decimal
) -> bool:
    """Whether approved/people over ref_approved/ref_people reaches ``min_ratio``, exactly."""
    if ref_approved == 0:
        return True  # nobody approved anywhere: no group fares worse than another
    ratio = Fraction(approved * ref_people, people * ref_approved)
    return ratio >= Fraction(min_ratio)


def _status(g: GroupFairness, ref: GroupFairness | None, rules: FairnessRules) -> Status:
    if g.count < rules.min_group_size or ref is None:
        return "insufficient"
    if g.group == ref.group:
        return "reference"
    ok = passes_four_fifths(g.approved, g.count, ref.approved, ref.count, rules.min_ratio)
    return "pass" if ok else "fail"


def assess_attribute(
    facts: Sequence[DecisionFacts], attribute: str, rules: FairnessRules
) -> AttributeResult:
    """Approval ratios, statuses and equal opportunity by ``attribute`` over ``facts``."""
    groups = [group_of(f, attribute, rules) for f in facts]
    approved = np.array([f.approved for f in facts], dtype=bool)
    bad = np.array([np.nan if f.bad is None else float(f.bad) for f in facts], dtype=np.float64)
    result = group_fairness(attribute, groups, approved, bad, min_group_size=rules.min_group_size)
    by_name = {g.group: g for g in result.groups}
    ref = by_name.get(result.reference_group) if result.reference_group else None
    judged_eo = [
        g.good_payer_approval_rate
        for g in result.groups
        if g.count >= rules.min_group_size
        and g.good_payers >= rules.min_outcome_group_size
        and g.good_payer_approval_rate is not None
    ]
    best = max(judged_eo, default=None)
    rows = []
    for g in result.groups:
        status = _status(g, ref, rules)
        eo_judged = (
            status != "insufficient"
            and g.good_payers >= rules.min_outcome_group_size
            and g.good_payer_approval_rate is not None
        )
        rows.append(
            GroupResult(
                attribute=attribute,
                group=g.group,
                people=g.count,
                approved=g.approved,
                approval_rate=g.approval_rate,
                ratio=None if ref is None or ref.approved == 0 else g.approval_ratio,
                status=status,
                good_payers=g.good_payers,
                good_payer_approval_rate=g.good_payer_approval_rate,
                opportunity_gap=(
                    best - g.good_payer_approval_rate
                    if eo_judged and best is not None and g.good_payer_approval_rate is not None
                    else None
                ),
            )
        )
    return AttributeResult(
        attribute=attribute,
        reference_group=result.reference_group,
        groups=tuple(rows),
        equal_opportunity_difference=(max(judged_eo) - min(judged_eo) if judged_eo else None),
        labelled=result.labelled,
    )


def assess(facts: Sequence[DecisionFacts], rules: FairnessRules) -> FairnessReport:
    """Every attribute the rules name, over one set of decisions (one per person)."""
    attributes = tuple(assess_attribute(facts, a, rules) for a in rules.attributes) if facts else ()
    return FairnessReport(
        decisions=len(facts),
        min_ratio=rules.min_ratio,
        min_group_size=rules.min_group_size,
        attributes=attributes,
    )
