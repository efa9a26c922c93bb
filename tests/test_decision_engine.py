"""``decide`` end to end: input errors, consent-withheld path, declines, offers, determinism."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.decision.engine import Application, Decision, decide
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.rules import Outcome

CATALOGUE = load_catalogue()
POLICY = load_policy()
CONFIG = load_config()

APP = Application(
    person_id="p-001",
    product_code="XFD-GEN",
    amount=Decimal("20000"),
    term_months=12,
    purpose="general_consumption",
    schedule_type="equal_installment",
    as_of=date(2026, 1, 15),
)
CONTEXT: dict[str, Any] = {
    "age": 30,
    "consent_credit_assessment": True,
    "ext_loans": 2,
    "ext_open_loans": 1,
    "ext_overdue_loans": 0,
    "ext_max_dpd": 0,
    "ext_open_amount_fen": 500_000,
    "fraud_ring_member": False,
    "pd": 0.03,
    "score": 610.0,
    "grade": "B",
    "income_monthly_fen": 800_000,
    "degree": 40,
    "social_age_days": 900,
    "account_age_days": 200,
    "consented_sources": 2,
    "segment": "salaried",
    "model_version": "card-1",
    "reasons": [{"code": "X:ext_loans-H", "zh": "其他机构贷款较多", "en": "Many loans elsewhere"}],
}


def run(app: Application = APP, **change: Any) -> Decision:
    return decide(app, {**CONTEXT, **change}, CATALOGUE, POLICY, CONFIG)


def test_approved_application_gets_the_requested_offer_with_its_schedule() -> None:
    decision = run()
    assert decision.outcome is Outcome.APPROVE
    (offer,) = decision.offers
    assert offer.requested and offer.amount == Decimal("20000.00")
    assert offer.amount <= decision.limit
    assert offer.all_in_rate > offer.nominal_rate  # the upfront fee counts
    assert offer.all_in_rate <= CONFIG.pricing.rate_cap
    assert len(offer.schedule.rows) == 12
    assert offer.net_disbursement == Decimal("19700.00")
    payload = json.loads(json.dumps(decision.to_dict(), ensure_ascii=False))
    assert payload["offers"][0]["all_in_rate"] == str(offer.all_in_rate)
    assert payload["policy"]["version"] == POLICY.version
    assert payload["catalogue"]["hash"] == CATALOGUE.hash
    assert len(payload["offers"][0]["schedule"]["rows"]) == 12


def test_amount_above_limit_offers_the_largest_allowed() -> None:
    decision = run(replace(APP, amount=Decimal("50000")))
    (offer,) = decision.offers
    assert not offer.requested
    assert offer.amount == decision.limit < Decimal("50000")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"product_code": "NOPE"}, "product_code"),
        ({"amount": Decimal("999")}, "amount"),
        ({"amount": Decimal("50001")}, "amount"),
        ({"amount": Decimal("2000.001")}, "amount"),
        ({"amount": 2000.5}, "amount"),
        ({"term_months": 7}, "term_months"),
        ({"schedule_type": "bullet"}, "schedule_type"),
        ({"schedule_type": "balloon"}, "schedule_type"),
        ({"purpose": "travel"}, "purpose"),
        ({"person_id": " "}, "person_id"),
    ],
)
def test_bad_application_is_a_clear_input_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(DecisionInputError) as info:
        run(replace(APP, **change))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_bad_context_values_are_input_errors() -> None:
    with pytest.raises(DecisionInputError, match="pd: must be between 0 and 1"):
        run(pd=1.5)
    with pytest.raises(DecisionInputError, match="income_monthly_fen"):
        run(income_monthly_fen="8000")


def test_consent_withheld_gets_a_decision_without_social_features() -> None:
    decision = run(consent_credit_assessment=False)
    assert decision.outcome is Outcome.APPROVE
    assert not decision.social_data_used
    assert "KO-CONSENT" in [rule.id for rule in decision.fired_rules]
    assert not {"degree", "social_age_days", "consented_sources"} & set(decision.features)
    assert decision.limit_detail is not None
    assert decision.limit_detail.depth_multiplier == CONFIG.limits.depth.no_social
    assert decision.offers
    # Social values the person did not consent to cannot change the decision or its hash.
    other = run(consent_credit_assessment=False, degree=1, social_age_days=1)
    assert other.inputs_hash == decision.inputs_hash
    assert other.to_dict() == decision.to_dict()
    with pytest.raises(DecisionInputError, match="score_uses_social"):
        run(consent_credit_assessment=False, score_uses_social=True)


def test_missing_consent_is_treated_as_withheld() -> None:
    context = {k: v for k, v in CONTEXT.items() if k != "consent_credit_assessment"}
    decision = decide(APP, context, CATALOGUE, POLICY, CONFIG)
    assert not decision.social_data_used


@pytest.mark.parametrize(
    ("change", "rule_id"),
    [
        ({"age": 17}, "KO-AGE"),
        ({"ext_overdue_loans": 2}, "KO-OVERDUE"),
        ({"fraud_ring_member": True}, "KO-FRAUD-RING"),
        ({"ext_open_loans": 9}, "KO-MULTI-LENDING"),
        ({"pd": 0.4}, "SC-DECLINE"),
        ({"segment": "student"}, "PRD-SEGMENT"),
        ({"degree": 2}, "PRD-DATA-DEPTH"),
        ({"income_monthly_fen": 10_000}, "LIM-BELOW-MIN"),
    ],
)
def test_declines_carry_the_reason_first(change: dict[str, Any], rule_id: str) -> None:
    decision = run(**change)
    assert decision.outcome is Outcome.DECLINE
    assert decision.offers == () and decision.limit == 0
    assert decision.reasons[0].code == rule_id
    assert decision.reasons[0].zh and decision.reasons[0].en
    assert len(decision.reasons) <= 4


def test_product_requiring_social_data_declines_without_consent() -> None:
    app = replace(APP, product_code="CYD", purpose="business_startup", amount=Decimal("10000"))
    decision = run(app, consent_credit_assessment=False, segment="young_entrepreneur")
    assert decision.outcome is Outcome.DECLINE
    assert decision.reasons[0].code == "PRD-SOCIAL-REQUIRED"


def test_refer_keeps_a_provisional_offer_and_thin_file_halves_the_limit() -> None:
    referred = run(pd=0.12)
    assert referred.outcome is Outcome.REFER and referred.offers
    assert referred.reasons[0].code == "SC-REFER"
    thin = run(thin_file=True, pd=0.03)
    full = run(pd=0.03)
    assert thin.limit_detail is not None and full.limit_detail is not None
    assert thin.limit_detail.rule_factor == Decimal("0.5")
    assert thin.limit < full.limit


def test_farmer_interest_first_offer() -> None:
    app = Application(
        person_id="f-1",
        product_code="NHD",
        amount=Decimal("30000"),
        term_months=9,
        purpose="agriculture",
        schedule_type="interest_first",
        as_of=date(2026, 3, 1),
    )
    decision = run(app, segment="farmer", income_monthly_fen=900_000)
    (offer,) = decision.offers
    rows = offer.schedule.rows
    assert all(row.principal == 0 for row in rows[:-1]) and rows[-1].principal == offer.amount


def test_same_inputs_same_hash_and_decision() -> None:
    first, second = run(), run()
    assert first.inputs_hash == second.inputs_hash
    assert first.to_dict() == second.to_dict()
    reordered = decide(APP, dict(reversed(CONTEXT.items())), CATALOGUE, POLICY, CONFIG)
    assert reordered.inputs_hash == first.inputs_hash
    assert run(pd=0.031).inputs_hash != first.inputs_hash
    assert run(replace(APP, term_months=24)).inputs_hash != first.inputs_hash
