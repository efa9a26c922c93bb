"""The posting rules of the servicing review on SQLite and PostgreSQL: the open business date,
refund due on closure, reversals latest first and on serviced loans only, memo penalty paid as
income, and no empty rows after a small lower-instalment prepayment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update

from creditgraph.servicing import book
from creditgraph.servicing.book import INSTALMENTS, LOANS, BusinessDateError
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.errors import LoanInputError
from creditgraph.servicing.ledger import trial_balance
from creditgraph.servicing.loans import LoanService
from creditgraph.servicing.model import Method
from creditgraph.servicing.prepayment import PrepayMode, Terms, reschedule
from tests.loan_world import active_loan, insert_decision
from tests.loan_world import instalment_rows as _rows
from tests.loan_world import ledger_of as _ledger


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def test_postings_take_the_open_business_date_only(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    waiting = service.accept(insert_decision(engine))["loan_id"]
    run_eod(engine, date(2026, 7, 10))
    with engine.connect() as conn:
        assert book.open_business_date(conn) == date(2026, 7, 11)
    refused = [
        lambda: service.repay(loan_id, "10", date(2026, 7, 10), key="closed"),
        lambda: service.repay(loan_id, "10", date(2026, 7, 12), key="ahead"),
        lambda: service.prepay(loan_id, date(2026, 7, 9), amount="100", key="p-closed"),
        lambda: service.disburse(waiting, date(2026, 7, 12), key="d-ahead"),
    ]
    for attempt in refused:
        with pytest.raises(BusinessDateError, match="open for 2026-07-11"):
            attempt()
    with pytest.raises(BusinessDateError, match="run end of day up to 2026-07-11 first"):
        service.repay(loan_id, "10", date(2026, 7, 12), key="ahead-2")
    assert _ledger(engine, loan_id).get("cash_clearing", 0) < 0  # only the disbursement
    paid = service.repay(loan_id, "10", date(2026, 7, 11), key="open")
    assert service.disburse(waiting, date(2026, 7, 11), key="d-open").state == "active"
    with pytest.raises(LoanInputError, match="before the value date 2026-07-11"):
        service.reverse(paid.transaction_id, key="r-closed", business_date=date(2026, 7, 10))
    assert service.reverse(paid.transaction_id, key="r").business_date == date(2026, 7, 11)
    assert trial_balance(engine)["balanced"]


def test_closing_with_credit_leaves_a_refund_due_and_reversal_cancels_it(
    service: LoanService,
) -> None:
    """Credit left when a loan closes is owed back but no longer paid out automatically (issue
    #11: a huge overpayment became a refund to cash_clearing): it stays in borrower_credit as a
    refund due until an officer approves it. Reversing the closing payment cancels a refund
    still due; once paid out, the payment can no longer be reversed."""
    engine = service.engine
    loan_id = active_loan(service, amount="6000", term=3)
    schedule = service.show(loan_id)["schedule"]
    closing = None
    for k, row in enumerate(schedule):
        extra = Decimal("0.50") if k == len(schedule) - 1 else Decimal(0)
        day = date.fromisoformat(row["due_date"])
        closing = service.repay(loan_id, str(Decimal(row["outstanding"]) + extra), day, key=f"{k}")
    assert closing is not None and closing.state == "closed"
    assert closing.detail["refund_due"] == "0.50"
    loan = service.show(loan_id)
    assert (loan["state"], loan["credit"]) == ("closed", "0.50")
    ledger = _ledger(engine, loan_id)
    assert {a: v for a, v in ledger.items() if v and a.endswith(("receivable", "credit"))} == {
        "borrower_credit": -50
    }
    assert [p for p in service.statement(loan_id)["postings"] if p["kind"] == "refund"] == []
    reversal = service.reverse(closing.transaction_id, key="undo")
    assert reversal.state == "active"
    assert service.show(loan_id)["credit"] == "0.00"
    assert _ledger(engine, loan_id).get("borrower_credit", 0) == 0
    assert [r["status"] for r in service.refunds(loan_id=loan_id)] == ["cancelled"]
    last = schedule[-1]
    again = service.repay(
        loan_id, str(Decimal(last["outstanding"]) + Decimal("0.50")), closing.business_date, "re"
    )
    assert again.state == "closed"
    paid = service.approve_refund(loan_id, by="officer-li")
    assert paid["amount"] == "0.50" and _ledger(engine, loan_id).get("borrower_credit", 0) == 0
    with pytest.raises(ValueError, match="was paid out"):
        service.reverse(again.transaction_id, key="undo-2")
    assert trial_balance(engine)["balanced"]


def test_reversals_go_latest_first_and_eod_in_between_does_not_block(
    service: LoanService,
) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 4))
    first = service.repay(loan_id, "300.00", date(2026, 8, 5), key="a")
    second = service.repay(loan_id, "300.00", date(2026, 8, 5), key="b")
    with pytest.raises(LoanInputError, match=f"later payment {second.transaction_id}"):
        service.reverse(first.transaction_id, key="ra")
    run_eod(engine, date(2026, 8, 7))
    service.reverse(second.transaction_id, key="rb")
    reversal = service.reverse(first.transaction_id, key="ra")
    assert reversal.business_date == date(2026, 8, 8)
    loan = service.show(loan_id)
    assert (loan["state"], loan["dpd"], loan["bucket"]) == ("overdue", 6, "M1")
    assert trial_balance(engine)["balanced"]


def test_memo_penalty_is_income_when_paid_and_restored_on_reversal(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 9))
    row = _rows(engine, loan_id)[0]
    assert row["penalty_accrued_fen"] > 0
    memo = 40  # as end of day leaves it for days the loan was NPA
    with engine.begin() as conn:
        conn.execute(
            update(INSTALMENTS)
            .where(INSTALMENTS.c.id == row["id"])
            .values(
                penalty_accrued_fen=INSTALMENTS.c.penalty_accrued_fen + memo,
                penalty_memo_fen=memo,
            )
        )
    receivable = _ledger(engine, loan_id)["penalty_receivable"]
    income = -_ledger(engine, loan_id).get("penalty_income", 0)
    paid = service.repay(loan_id, "1200.00", date(2026, 8, 10), key="pay")
    assert paid.detail["deltas"][0][6] == memo
    assert -_ledger(engine, loan_id)["penalty_income"] == income + memo
    assert _ledger(engine, loan_id).get("penalty_receivable", 0) == 0
    assert _rows(engine, loan_id)[0]["penalty_memo_fen"] == 0
    service.reverse(paid.transaction_id, key="undo")
    assert _rows(engine, loan_id)[0]["penalty_memo_fen"] == memo
    assert _ledger(engine, loan_id)["penalty_receivable"] == receivable
    assert -_ledger(engine, loan_id)["penalty_income"] == income


@pytest.mark.parametrize("method", [Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL])
@pytest.mark.parametrize("remaining", [1, 5, 37, 1_000])
def test_a_small_remainder_never_gets_empty_rows(method: Method, remaining: int) -> None:
    terms = Terms(Decimal("0.12"), method, Frequency.MONTHLY, DayCount.PERIODIC, 0)
    dues = [date(2026, 8 + k, 1) for k in range(5)] + [date(2027, 1 + k, 1) for k in range(6)]
    rows = reschedule(
        remaining, terms, date(2026, 7, 1), dues, 2, PrepayMode.LOWER_INSTALMENT, 0, 0
    )
    assert rows and all(r.principal_fen + r.interest_fen > 0 for r in rows)
    assert sum(r.principal_fen for r in rows) == remaining
    assert [r.due_date for r in rows] == dues[: len(rows)]


def test_a_written_off_loan_takes_no_reversal(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    paid = service.repay(loan_id, "100.00", date(2026, 8, 10), key="p")
    run_eod(engine, date(2027, 3, 1))
    with engine.connect() as conn:
        state = conn.execute(select(LOANS.c.state).where(LOANS.c.id == loan_id)).scalar()
    assert state == "written_off"
    before = _ledger(engine, loan_id)
    with pytest.raises(ValueError, match="only active, overdue or closed loans take reversals"):
        service.reverse(paid.transaction_id, key="r")
    assert _ledger(engine, loan_id) == before
