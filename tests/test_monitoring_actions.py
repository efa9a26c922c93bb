"""Alerts act through the decision and servicing services: a frozen limit stops acceptance until
lifted, a lowered limit caps it, a review referral lands in the review queue, a collections entry
names each active loan; every action is audited with the policy's version and hash, and no action
posts money. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from creditgraph.decision.config_files import load_catalogue
from creditgraph.decision.controls import LimitControl, apply_control
from creditgraph.decision.engine import Decision
from creditgraph.decision.offers import make_offer
from creditgraph.decision.pricing import Price, schedule_for
from creditgraph.decision.review import ReviewWorkflow
from creditgraph.decision.rules import Outcome
from creditgraph.monitoring.action_policy import ActionPolicy, parse_action_policy
from creditgraph.monitoring.alerts import (
    AlertNotFoundError,
    get_alert,
    lift_control,
    record_findings,
)
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.servicing import Method, schedule_all_in_rate
from creditgraph.servicing.errors import LimitControlError, LoanInputError
from creditgraph.servicing.loans import LoanService
from creditgraph.store.db import write_transaction
from creditgraph.store.models import (
    AlertAction,
    CollectionsEntry,
    CreditLimitControl,
    DecisionEvent,
    DecisionRecord,
    JournalLine,
)
from tests.loan_world import START, active_loan, insert_decision, loan_row

NOW = datetime(2026, 7, 20, 10)
AT = datetime(2026, 7, 20, 8)


def policy(*rules: dict[str, Any]) -> ActionPolicy:
    return parse_action_policy({"version": "test-1", "rules": list(rules)})


FREEZE = policy({"type": "fraud_ring", "min_severity": "high", "actions": ["freeze_undrawn_limit"]})


def person_of(engine: Engine, decision_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(DecisionRecord.person_id).where(DecisionRecord.id == decision_id)
            ).scalar_one()
        )


def alert_for(
    engine: Engine,
    person: str,
    rules: ActionPolicy,
    detector: Detector = Detector.FRAUD_RING,
    severity: Severity = Severity.HIGH,
) -> str:
    found = Finding(
        type=detector,
        rule="ring",
        severity=severity,
        person_id=person,
        occurred_at=AT,
        dedup_key=f"{detector.value}:ring:{person}",
        evidence={"events": ["ev-1"], "nodes": ["n1", "n2"]},
    )
    with write_transaction(engine) as conn:
        (recorded,) = record_findings(conn, [found], now=NOW, policy=rules)
    return recorded.alert_id


def rows(engine: Engine, model: type, **where: Any) -> list[dict[str, Any]]:
    table = model.__table__  # type: ignore[attr-defined]
    stmt = select(table).where(*(table.c[k] == v for k, v in where.items()))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt.order_by(table.c.id)).mappings()]


def journal_lines(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalLine)).scalar_one())


def test_a_frozen_limit_refuses_acceptance_until_lifted(engine: Engine) -> None:
    loans = LoanService(engine)
    decision_id = insert_decision(engine)
    person = person_of(engine, decision_id)
    alert_id = alert_for(engine, person, FREEZE)

    (control,) = rows(engine, CreditLimitControl, person_id=person)
    assert control["kind"] == "frozen" and control["alert_id"] == alert_id
    assert control["lifted_at"] is None
    with pytest.raises(LimitControlError, match="frozen by risk monitoring") as refused:
        loans.accept(decision_id, 0)
    assert "冻结" in str(refused.value) and alert_id in str(refused.value)

    lifted = lift_control(engine, person, by="officer-1", note="ring cleared after a visit")
    assert [c["kind"] for c in lifted] == ["frozen"]
    loan = loans.accept(decision_id, 0)
    assert loan["state"] == "accepted"
    with pytest.raises(AlertNotFoundError, match="no active limit control"):
        lift_control(engine, person, by="officer-1", note="again")

    audit = rows(engine, AlertAction, person_id=person)
    assert [(a["action"], a["outcome"], a["actor"]) for a in audit] == [
        ("freeze_undrawn_limit", "frozen", "risk-monitoring"),
        ("lift_control", "lifted", "officer-1"),
    ]
    assert audit[0]["policy_version"] == "test-1"
    assert audit[0]["policy_hash"] == FREEZE.hash
    actions = get_alert(engine, alert_id)["actions"]
    assert [(a["action"], a["outcome"]) for a in actions] == [("freeze_undrawn_limit", "frozen")]
    assert journal_lines(engine) == 0  # no action posted money


def test_a_second_freeze_for_the_same_person_is_audited_not_repeated(engine: Engine) -> None:
    person = person_of(engine, insert_decision(engine))
    anything = policy({"type": "*", "min_severity": "high", "actions": ["freeze_undrawn_limit"]})
    first = alert_for(engine, person, anything)
    second = alert_for(engine, person, anything, detector=Detector.CONTAGION)
    assert second != first
    assert get_alert(engine, second)["actions"][0]["outcome"] == "already_frozen"
    assert len(rows(engine, CreditLimitControl, person_id=person)) == 1
    # a medium finding matches no rule: an alert without actions
    quiet = alert_for(engine, person, anything, Detector.MULTI_LENDING, Severity.MEDIUM)
    assert get_alert(engine, quiet)["actions"] == []
    outcomes = [a["outcome"] for a in rows(engine, AlertAction, person_id=person)]
    assert outcomes == ["frozen", "already_frozen"]


def test_a_lowered_limit_caps_acceptance(engine: Engine) -> None:
    loans = LoanService(engine)
    big = insert_decision(engine)  # limit 50,000.00; offer 12,000.00
    person = person_of(engine, big)
    lower = policy(
        {
            "type": "multi_lending",
            "min_severity": "medium",
            "actions": ["lower_limit"],
            "factor": "0.1",
        }
    )
    alert_for(engine, person, lower, detector=Detector.MULTI_LENDING, severity=Severity.MEDIUM)
    (control,) = rows(engine, CreditLimitControl, person_id=person)
    assert control["kind"] == "lowered" and control["cap_fen"] == 500_000
    with pytest.raises(LimitControlError, match=r"above the limit of 5000\.00") as refused:
        loans.accept(big, 0)
    assert "调低" in str(refused.value)
    (audit,) = rows(engine, AlertAction, person_id=person)
    assert audit["params"] == {"factor": "0.1", "limit_fen": 5_000_000, "cap_fen": 500_000}
    lift_control(engine, person, by="officer-1", note="new income documents")
    assert loans.accept(big, 0)["state"] == "accepted"


def test_a_lower_limit_without_an_approved_decision_is_skipped_and_audited(
    engine: Engine,
) -> None:
    lower = policy(
        {"type": "*", "min_severity": "low", "actions": ["lower_limit"], "factor": "0.5"}
    )
    alert_id = alert_for(engine, "p-nobody", lower)
    assert rows(engine, CreditLimitControl) == []
    (audit,) = rows(engine, AlertAction, alert_id=alert_id)
    assert audit["outcome"] == "skipped:no_approved_limit"


def test_a_review_referral_appears_in_the_review_queue(engine: Engine) -> None:
    decision_id = insert_decision(engine)
    person = person_of(engine, decision_id)
    refer = policy(
        {"type": "activity_collapse", "min_severity": "high", "actions": ["refer_review"]}
    )
    alert_id = alert_for(engine, person, refer, detector=Detector.ACTIVITY_COLLAPSE)
    queue = ReviewWorkflow(engine, lambda: NOW).queue("open")
    (review,) = [r for r in queue if r["decision_id"] == decision_id]
    assert review["kind"] == "monitoring"
    assert alert_id in review["note"]
    events = rows(engine, DecisionEvent, decision_id=decision_id)
    assert [e["event"] for e in events] == ["review_opened:monitoring"]
    (action,) = get_alert(engine, alert_id)["actions"]
    assert action["outcome"] == "referred"
    assert action["params"] == {"decision_id": decision_id, "review_id": review["id"]}
    # a repeat alert (outside suppression: a new key) finds the review pending
    again = alert_for(engine, person, refer, detector=Detector.ACTIVITY_COLLAPSE)
    assert again == alert_id  # folded: no second referral
    other = alert_for(engine, person, policy({"type": "*", "actions": ["refer_review"]}))
    assert get_alert(engine, other)["actions"][0]["outcome"] == "already_referred"
    assert len(ReviewWorkflow(engine, lambda: NOW).queue("open")) == 1


def test_an_approved_monitoring_review_does_not_make_a_declined_decision_acceptable(
    engine: Engine,
) -> None:
    declined = insert_decision(engine, outcome="decline")
    person = person_of(engine, declined)
    alert_for(engine, person, policy({"type": "*", "actions": ["refer_review"]}))
    workflow = ReviewWorkflow(engine, lambda: NOW)
    (review,) = workflow.queue("open")
    workflow.resolve(review["id"], "officer-1", approve=True, note="borrower is fine")
    with pytest.raises(LoanInputError, match="only approved decisions"):
        LoanService(engine).accept(declined, 0)


def test_collections_list_names_each_active_loan(engine: Engine) -> None:
    loans = LoanService(engine)
    loan_id = active_loan(loans, START)
    person = str(loan_row(engine, loan_id)["person_id"])
    lines = journal_lines(engine)
    collect = policy(
        {"type": "repayment_stress", "min_severity": "high", "actions": ["collections_list"]}
    )
    alert_id = alert_for(engine, person, collect, detector=Detector.REPAYMENT_STRESS)
    (entry,) = rows(engine, CollectionsEntry, person_id=person)
    assert entry["loan_id"] == loan_id and entry["alert_id"] == alert_id
    assert entry["status"] == "open"
    assert journal_lines(engine) == lines  # listing posts nothing
    # a person with no active loan is listed once, without a loan
    alert_for(engine, "p-no-loan", collect, detector=Detector.REPAYMENT_STRESS)
    (bare,) = rows(engine, CollectionsEntry, person_id="p-no-loan")
    assert bare["loan_id"] is None
    outcomes = [a["outcome"] for a in rows(engine, AlertAction)]
    assert outcomes == ["listed", "listed"]


def test_the_packaged_policy_runs_every_action_once(engine: Engine) -> None:
    from creditgraph.monitoring.action_policy_file import load_action_policy

    packaged = load_action_policy()
    loans = LoanService(engine)
    loan_id = active_loan(loans, START)
    person = str(loan_row(engine, loan_id)["person_id"])
    alert_id = alert_for(engine, person, packaged, detector=Detector.REPAYMENT_STRESS)
    taken = [(a["action"], a["outcome"]) for a in get_alert(engine, alert_id)["actions"]]
    assert taken == [
        ("freeze_undrawn_limit", "frozen"),
        ("refer_review", "referred"),
        ("collections_list", "listed"),
    ]
    audit = rows(engine, AlertAction, alert_id=alert_id)
    assert {a["policy_hash"] for a in audit} == {packaged.hash}
    assert {a["policy_version"] for a in audit} == {packaged.version}


# -- the decision service honours the controls (pure) ---------------------------------------------


def _decision(*amounts: str) -> Decision:
    product = load_catalogue().get("JYD")
    assert product is not None
    offers = []
    for amount in amounts:
        schedule = schedule_for(
            product, Decimal(amount), 12, Method.EQUAL_INSTALLMENT, Decimal("0.12"), START
        )
        price = Price(
            Decimal("0.12"),
            schedule_all_in_rate(schedule),
            Decimal("0.24"),
            Decimal("0.12"),
            schedule,
        )
        offers.append(make_offer(product, price, requested=True))
    return Decision(
        outcome=Outcome.APPROVE,
        person_id="p1",
        product_code="JYD",
        social_data_used=False,
        limit=Decimal("50000.00"),
        limit_detail=None,
        offers=tuple(offers),
        reasons=(),
        fired_rules=(),
        score=650.0,
        pd=0.02,
        grade="B",
        model_version=None,
        features={},
        inputs_hash="0" * 64,
        policy_version="t",
        policy_hash="0" * 64,
        catalogue_version="t",
        catalogue_hash="0" * 64,
        config_version="t",
        config_hash="0" * 64,
    )


def test_new_decisions_are_declined_when_frozen_and_capped_when_lowered() -> None:
    decision = _decision("12000", "4000")
    assert apply_control(decision, None) is decision
    frozen = apply_control(decision, LimitControl(frozen=True, cap_fen=None))
    assert frozen.outcome is Outcome.DECLINE and frozen.offers == ()
    assert frozen.limit == 0
    assert frozen.reasons[-1].code == "monitoring_limit_frozen"
    assert "冻结" in frozen.reasons[-1].zh
    capped = apply_control(decision, LimitControl(frozen=False, cap_fen=500_000))
    assert capped.outcome is Outcome.APPROVE
    assert capped.limit == Decimal("5000.00")
    assert [o.amount for o in capped.offers] == [Decimal("4000")]
    assert capped.reasons[-1].code == "monitoring_limit_lowered"
    nothing_left = apply_control(decision, LimitControl(frozen=False, cap_fen=100_000))
    assert nothing_left.outcome is Outcome.DECLINE
    declined = dataclasses.replace(decision, outcome=Outcome.DECLINE, offers=())
    assert apply_control(declined, LimitControl(frozen=True, cap_fen=None)) is declined


# -- the decision service honours the controls (a scored world) ----------------------------------


@pytest.mark.slow
def test_the_decision_service_declines_or_caps_a_controlled_person(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from creditgraph.decision.service import DecisionService
    from creditgraph.store.db import make_engine
    from creditgraph.store.models import OnlineFeatures
    from tests.scored_world import scored_world

    world = scored_world(tmp_path_factory.mktemp("controls"), people=600, seed=5)
    engine = make_engine(world.database_url)
    try:
        service = DecisionService(engine, world)
        with engine.connect() as conn:
            people = list(
                conn.execute(
                    select(OnlineFeatures.person_id).order_by(OnlineFeatures.person_id).limit(300)
                ).scalars()
            )
        approved = next(
            record
            for person in people
            if (record := service.decide_for(person, "XFD-MED", "8000", 12, purpose="medical"))[
                "outcome"
            ]
            == "approve"
        )
        person = approved["person_id"]
        alert_for(engine, person, FREEZE)
        frozen = service.decide_for(person, "XFD-MED", "8000", 12, purpose="medical")
        assert frozen["outcome"] == "decline" and frozen["offers"] == []
        assert "monitoring_limit_frozen" in [r["code"] for r in frozen["reasons"]]
        path = tmp_path / "apps.csv"
        path.write_text(f"person,product,amount,term,purpose\n{person},XFD-MED,8000,12,medical\n")
        (batched,) = service.decide_batch(path).decisions
        assert batched["outcome"] == "decline"
        lift_control(engine, person, by="officer-1", note="cleared")

        lower = policy(
            {"type": "*", "min_severity": "low", "actions": ["lower_limit"], "factor": "0.1"}
        )
        alert_for(engine, person, lower, detector=Detector.MULTI_LENDING)
        (control,) = [
            c for c in rows(engine, CreditLimitControl, person_id=person) if c["lifted_at"] is None
        ]
        capped = service.decide_for(person, "XFD-MED", "8000", 12, purpose="medical")
        assert "monitoring_limit_lowered" in [r["code"] for r in capped["reasons"]]
        assert Decimal(capped["limit"]) * 100 <= control["cap_fen"]
        assert all(Decimal(o["amount"]) * 100 <= control["cap_fen"] for o in capped["offers"])
    finally:
        engine.dispose()
