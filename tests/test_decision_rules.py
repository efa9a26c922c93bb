"""The rules engine and each knock-out of the default policy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from creditgraph.decision.config_files import load_policy
from creditgraph.decision.errors import PolicyError
from creditgraph.decision.rules import Outcome, evaluate, parse_policy

POLICY = load_policy()

GOOD: dict[str, Any] = {
    "age": 30,
    "consent_credit_assessment": True,
    "ext_overdue_loans": 0,
    "ext_max_dpd": 0,
    "ext_open_loans": 1,
    "fraud_ring_member": False,
    "pd": 0.03,
    "thin_file": False,
}


def _ids(context: dict[str, Any]) -> list[str]:
    return [rule.id for rule in evaluate(POLICY, context).fired]


def test_clean_applicant_is_approved_by_the_score_rule() -> None:
    result = evaluate(POLICY, GOOD)
    assert result.outcome is Outcome.APPROVE
    assert _ids(GOOD) == ["SC-APPROVE"]
    assert result.limit_factor == 1 and not result.no_social


@pytest.mark.parametrize(
    ("change", "rule_id"),
    [
        ({"age": 17}, "KO-AGE"),
        ({"ext_overdue_loans": 1}, "KO-OVERDUE"),
        ({"ext_max_dpd": 31}, "KO-OVERDUE"),
        ({"fraud_ring_member": True}, "KO-FRAUD-RING"),
        ({"ext_open_loans": 6}, "KO-MULTI-LENDING"),
        ({"pd": 0.25}, "SC-DECLINE"),
    ],
)
def test_each_knockout_declines(change: dict[str, Any], rule_id: str) -> None:
    context = {**GOOD, **change}
    result = evaluate(POLICY, context)
    assert result.outcome is Outcome.DECLINE
    hit = next(rule for rule in result.fired if rule.id == rule_id)
    assert hit.outcome is Outcome.DECLINE and hit.zh and hit.en


def test_boundaries_do_not_fire() -> None:
    context = {**GOOD, "age": 18, "ext_max_dpd": 30, "ext_open_loans": 5}
    assert _ids(context) == ["SC-APPROVE"]


def test_consent_withheld_routes_without_social_data_and_does_not_decline() -> None:
    result = evaluate(POLICY, {**GOOD, "consent_credit_assessment": False})
    assert result.outcome is Outcome.APPROVE
    assert result.no_social
    assert "KO-CONSENT" in [rule.id for rule in result.fired]


def test_score_bands_and_missing_values() -> None:
    assert evaluate(POLICY, {**GOOD, "pd": 0.08}).outcome is Outcome.APPROVE
    assert evaluate(POLICY, {**GOOD, "pd": 0.0801}).outcome is Outcome.REFER
    assert evaluate(POLICY, {**GOOD, "pd": 0.20}).outcome is Outcome.REFER
    missing = {k: v for k, v in GOOD.items() if k not in ("pd", "age")}
    result = evaluate(POLICY, missing)
    assert result.outcome is Outcome.REFER
    assert [r.id for r in result.fired] == ["KO-AGE-MISSING", "SC-PD-MISSING"]


def test_thin_file_lowers_the_limit_or_refers() -> None:
    thin = evaluate(POLICY, {**GOOD, "thin_file": True})
    assert thin.outcome is Outcome.APPROVE and thin.limit_factor == Decimal("0.5")
    riskier = evaluate(POLICY, {**GOOD, "thin_file": True, "pd": 0.06})
    assert riskier.outcome is Outcome.REFER
    assert [r.id for r in riskier.fired] == ["SC-APPROVE", "TF-THIN-REFER", "TF-THIN-LIMIT"]


def test_fired_rules_keep_policy_order_and_worst_outcome_wins() -> None:
    context = {**GOOD, "age": 16, "fraud_ring_member": True, "pd": 0.5}
    assert _ids(context) == ["KO-AGE", "KO-FRAUD-RING", "SC-DECLINE"]
    assert evaluate(POLICY, context) == evaluate(POLICY, dict(reversed(context.items())))


def _policy(rules: list[dict[str, Any]], default: str = "refer") -> Any:
    return parse_policy({"version": "t", "default_outcome": default, "rules": rules})


def test_operators_and_any_match() -> None:
    policy = _policy(
        [
            {
                "id": "R-IN",
                "stage": "t",
                "when": [{"field": "grade", "op": "in", "value": ["D", "E"]}],
                "outcome": "decline",
                "zh": "等级",
                "en": "grade",
            },
            {
                "id": "R-ANY",
                "stage": "t",
                "match": "any",
                "when": [
                    {"field": "a", "op": "ge", "value": 3},
                    {"field": "b", "op": "eq", "value": "x"},
                ],
                "outcome": "approve",
                "zh": "任一",
                "en": "any",
            },
        ]
    )
    assert evaluate(policy, {"grade": "E"}).outcome is Outcome.DECLINE
    assert evaluate(policy, {"grade": "A", "b": "x"}).outcome is Outcome.APPROVE
    assert evaluate(policy, {"grade": "A", "a": 2}).outcome is Outcome.REFER  # default
    assert evaluate(policy, {"a": "3"}).outcome is Outcome.REFER  # text never compares as number


def test_rule_validation() -> None:
    bad = {"id": "R-1", "stage": "t", "outcome": "decline", "zh": "x", "en": "x"}
    with pytest.raises(PolicyError, match="op is_true takes no value"):
        _policy([{**bad, "when": [{"field": "f", "op": "is_true", "value": 1}]}])
    with pytest.raises(PolicyError, match="needs a value"):
        _policy([{**bad, "when": [{"field": "f", "op": "lt"}]}])
    with pytest.raises(PolicyError, match="default_outcome"):
        _policy([{**bad, "when": [{"field": "f", "op": "missing"}]}], default="flag")
