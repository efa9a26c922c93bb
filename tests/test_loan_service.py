"""LoanService end to end on SQLite and PostgreSQL: lifecycle, repayment allocation, credit,
prepayment, reversal, idempotency, bad input, and the journal balancing after every step."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from creditgraph.servicing.book import JOURNAL, TRANSACTIONS
from creditgraph.servicing.errors import (
    IdempotencyConflictError,
    LoanInputError,
    LoanNotFoundError,
)
from creditgraph.servicing.ledger import trial_balance
from creditgraph.servicing.lifecycle import LoanStateError
from creditgraph.servicing.loans import LoanService
from tests.loan_world import START, active_loan, insert_decision


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        txs = conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one()
        lines = conn.execute(select(func.count()).select_from(JOURNAL)).scalar_one()
    return txs, lines


def test_accept_disburse_and_show_with_the_all_in_rate(service: LoanService) -> None:
    decision_id = insert_decision(service.engine)
    loan = service.accept(decision_id, 0)
    assert loan["state"] == "accepted" and loan["schedule"] == []
    assert service.accept(decision_id, 0)["loan_id"] == loan["loan_id"]  # same offer: same loan
    result = service.disburse(loan["loan_id"], START, key="d1")
    assert result.state == "active" and result.kind == "disbursement"
    shown = service.show(loan["loan_id"])
    assert len(shown["schedule"]) == 12
    assert sum(Decimal(r["principal"]) for r in shown["schedule"]) == Decimal("12000.00")
    assert Decimal(shown["all_in_rate"]) > Decimal(shown["nominal_rate"])  # upfront fee counts
    tb = trial_balance(service.engine)
    assert tb["balanced"]
    balances = {r["account"]: r["balance"] for r in tb["accounts"]}
    assert balances["loans_receivable"] == "12000.00"
    assert balances["fee_income"] == "120.00"  # JYD: 1% upfront
    assert balances["cash_clearing"] == "-11880.00"
    with pytest.raises(LoanStateError, match="cannot disburse"):
        service.disburse(loan["loan_id"], START, key="d2")


def test_only_approved_decisions_and_existing_offers_are_accepted(service: LoanService) -> None:
    with pytest.raises(LoanInputError, match="only approved"):
        service.accept(insert_decision(service.engine, outcome="refer"), 0)
    with pytest.raises(LoanInputError, match="offer index 3"):
        service.accept(insert_decision(service.engine), 3)
    with pytest.raises(LoanNotFoundError):
        service.accept("DC-nope", 0)


def test_repayment_allocates_oldest_first_and_holds_overpayment_as_credit(
    service: LoanService,
) -> None:
    loan_id = active_loan(service)
    first = service.show(loan_id)["schedule"][0]
    instalment = Decimal(first["principal"]) + Decimal(first["interest"])
    due_day = date.fromisoformat(first["due_date"])
    # Partial: before the due date nothing is due, so it all becomes credit.
    early = service.repay(loan_id, "100", START, key="r0")
    assert early.detail["credit_after_fen"] == 10000
    # On the due date: credit plus the payment settle instalment 1, the rest is credit.
    paid = service.repay(loan_id, str(instalment), due_day, key="r1")
    assert paid.detail["paid"]["interest"] == int(Decimal(first["interest"]) * 100)
    assert paid.detail["credit_after_fen"] == 10000
    shown = service.show(loan_id)
    assert shown["schedule"][0]["outstanding"] == "0.00"
    assert shown["credit"] == "100.00"
    assert trial_balance(service.engine)["balanced"]


def test_idempotency_same_body_replays_different_body_is_refused(service: LoanService) -> None:
    loan_id = active_loan(service)
    first = service.repay(loan_id, "500", date(2026, 8, 1), key="k-1")
    before = _counts(service.engine)
    again = service.repay(loan_id, "500", date(2026, 8, 1), key="k-1")
    assert again.replayed and again.transaction_id == first.transaction_id
    with pytest.raises(IdempotencyConflictError, match="k-1"):
        service.repay(loan_id, "501", date(2026, 8, 1), key="k-1")
    assert _counts(service.engine) == before
    generated = service.repay(loan_id, "1", date(2026, 8, 1))
    assert generated.idempotency_key.startswith("idem-")


@pytest.mark.parametrize(
    ("amount", "match"),
    [("-5", "positive"), ("0", "positive"), ("1.005", "more than 2 decimals"), ("abc", "number")],
)
def test_bad_amounts_are_refused_and_nothing_is_posted(
    service: LoanService, amount: str, match: str
) -> None:
    loan_id = active_loan(service)
    before = _counts(service.engine)
    with pytest.raises(LoanInputError, match=match):
        service.repay(loan_id, amount, date(2026, 8, 1), key="bad")
    assert _counts(service.engine) == before


def test_unknown_loan_and_closed_loan_are_refused(service: LoanService) -> None:
    with pytest.raises(LoanNotFoundError, match="LN-NOPE"):
        service.repay("LN-NOPE", "10", date(2026, 8, 1), key="x")
    loan_id = active_loan(service)
    closed = service.prepay(loan_id, date(2026, 7, 15), full=True, key="payoff")
    assert closed.state == "closed"
    before = _counts(service.engine)
    with pytest.raises(LoanStateError, match="closed"):
        service.repay(loan_id, "10", date(2026, 8, 1), key="late")
    assert _counts(service.engine) == before
    with pytest.raises(IdempotencyConflictError):
        service.repay(loan_id, "10", date(2026, 8, 1), key="payoff")


def test_full_prepayment_charges_interest_only_to_the_day_and_the_fee(
    service: LoanService,
) -> None:
    loan_id = active_loan(service)
    first = service.show(loan_id)["schedule"][0]
    result = service.prepay(loan_id, date(2026, 7, 16), full=True, key="full")
    paid = result.detail["paid"]
    assert paid["prepaid_principal"] == 1_200_000
    assert paid["prepayment_fee"] == 12_000  # JYD: 1% of the prepaid principal
    # 15 of 31 days of the first period's interest, no more.
    expected = (Decimal(first["interest"]) * 100 * 15 / 31).to_integral_value()
    assert abs(paid["prepayment_interest"] - int(expected)) <= 1
    assert result.amount == Decimal(1_200_000 + 12_000 + paid["prepayment_interest"]) / 100
    tb = {r["account"]: r["balance"] for r in trial_balance(service.engine)["accounts"]}
    assert tb["loans_receivable"] == "0.00" and tb["interest_receivable"] == "0.00"


@pytest.mark.parametrize("mode", ["shorter_term", "lower_instalment"])
def test_partial_prepayment_reschedules_the_remainder(service: LoanService, mode: str) -> None:
    loan_id = active_loan(service)
    before = service.show(loan_id)
    result = service.prepay(loan_id, date(2026, 9, 1), amount="5000", mode=mode, key="pp")
    after = service.show(loan_id)
    principal = sum(Decimal(r["principal"]) for r in after["schedule"])
    assert principal + Decimal("5000") == Decimal("12000.00")  # paid rows and the new schedule
    assert Decimal(after["principal_outstanding"]) == Decimal("12000.00") - Decimal(
        before["schedule"][0]["principal"]
    ) - Decimal(before["schedule"][1]["principal"]) - Decimal("5000")
    if mode == "shorter_term":
        assert len(after["schedule"]) < 12
        assert after["maturity"] < before["maturity"]
    else:
        assert len(after["schedule"]) == 12
        assert after["maturity"] == before["maturity"]
        assert Decimal(after["schedule"][-1]["principal"]) < Decimal(
            before["schedule"][-1]["principal"]
        )
    assert result.detail["paid"]["principal"] > 0  # the two instalments due were paid first
    assert trial_balance(service.engine)["balanced"]


def test_reversal_restores_the_loan_and_mirrors_the_lines(service: LoanService) -> None:
    loan_id = active_loan(service)
    shown = service.show(loan_id)
    payoff = service.prepay(loan_id, date(2026, 7, 20), full=True, key="p")
    assert service.show(loan_id)["state"] == "closed"
    reversal = service.reverse(payoff.transaction_id, key="rev-p")
    assert reversal.state == "active"
    restored = service.show(loan_id)
    assert restored["schedule"] == shown["schedule"]
    assert restored["principal_outstanding"] == "12000.00"
    again = service.reverse(payoff.transaction_id, key="rev-p")
    assert again.replayed
    with pytest.raises(LoanInputError, match="already reversed"):
        service.reverse(payoff.transaction_id, key="rev-p2")
    with pytest.raises(LoanInputError, match="only repayments and prepayments"):
        service.reverse(reversal.transaction_id, key="rev-rev")
    statement = service.statement(loan_id)
    assert [p["kind"] for p in statement["postings"]] == ["disbursement", "prepayment", "reversal"]
    assert trial_balance(service.engine)["balanced"]


def test_a_reversal_that_would_take_back_used_credit_is_refused(service: LoanService) -> None:
    loan_id = active_loan(service)
    first = service.show(loan_id)["schedule"][0]
    credit = service.repay(loan_id, "3000", START, key="c")  # all credit: nothing is due yet
    use = service.repay(loan_id, "0.01", date.fromisoformat(first["due_date"]), key="use")
    # Reversals go latest first: the payment that used the credit must be reversed before.
    with pytest.raises(LoanInputError, match=f"later payment {use.transaction_id}"):
        service.reverse(credit.transaction_id, key="rev-c")
    assert trial_balance(service.engine)["balanced"]
    service.reverse(use.transaction_id, key="rev-use")
    service.reverse(credit.transaction_id, key="rev-c")
    assert service.show(loan_id)["credit"] == "0.00"
    assert trial_balance(service.engine)["balanced"]


def test_a_prepayment_cannot_be_dated_before_payments_it_would_supersede(
    service: LoanService,
) -> None:
    loan_id = active_loan(service)
    first = service.show(loan_id)["schedule"][0]
    service.repay(loan_id, "500", date.fromisoformat(first["due_date"]), key="paid")
    with pytest.raises(LoanInputError, match="instalment 1"):
        service.prepay(loan_id, date(2026, 7, 20), amount="1000", key="backdated")
