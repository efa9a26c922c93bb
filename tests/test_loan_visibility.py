"""A posting made for an applicant's app (``visible_to``) sees only that applicant's loans: the
owner is checked on the locked loan row inside the posting, and a loan of someone else reads
exactly as a loan that does not exist (nothing posted, nothing replayed)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, func, select

from creditgraph.servicing.book import TRANSACTIONS
from creditgraph.servicing.errors import LoanNotFoundError
from creditgraph.servicing.loans import LoanService
from tests.loan_world import START, active_loan, insert_decision

PAY_DAY = date(2026, 8, 1)


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def _postings(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one())


def _message(call: object) -> str:
    with pytest.raises(LoanNotFoundError) as caught:
        call()  # type: ignore[operator]
    return str(caught.value)


def test_the_owner_may_repay_and_prepay(service: LoanService) -> None:
    loan_id = active_loan(service, applicant_ref="app-1")
    paid = service.repay(loan_id, "100.00", PAY_DAY, key="own", visible_to="app-1")
    assert not paid.replayed and paid.loan_id == loan_id
    prepaid = service.prepay(loan_id, PAY_DAY, amount="1000.00", key="pre", visible_to="app-1")
    assert prepaid.kind == "prepayment"


def test_someone_elses_loan_reads_as_a_missing_one(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service, applicant_ref="app-1")
    before = _postings(engine)
    hidden = _message(lambda: service.repay(loan_id, "100.00", PAY_DAY, visible_to="app-2"))
    missing = _message(lambda: service.repay("LN-none", "100.00", PAY_DAY, visible_to="app-2"))
    assert hidden == missing.replace("LN-none", loan_id)
    _message(lambda: service.prepay(loan_id, PAY_DAY, full=True, visible_to="app-2"))
    assert _postings(engine) == before


def test_a_key_already_used_by_the_owner_replays_nothing_to_another(service: LoanService) -> None:
    loan_id = active_loan(service, applicant_ref="app-1")
    service.repay(loan_id, "100.00", PAY_DAY, key="k-owner", visible_to="app-1")
    with pytest.raises(LoanNotFoundError):
        service.repay(loan_id, "100.00", PAY_DAY, key="k-owner", visible_to="app-2")


def test_reversal_and_disbursement_check_the_owner_too(service: LoanService) -> None:
    loan_id = active_loan(service, applicant_ref="app-1")
    paid = service.repay(loan_id, "100.00", PAY_DAY, key="to-reverse")
    hidden = _message(lambda: service.reverse(paid.transaction_id, visible_to="app-2"))
    assert hidden == f"no such transaction {paid.transaction_id}"
    undone = service.reverse(paid.transaction_id, key="undo", visible_to="app-1")
    assert undone.kind == "reversal"

    decision = insert_decision(service.engine, applicant_ref="app-1")
    accepted = service.accept(decision, 0)["loan_id"]
    _message(lambda: service.disburse(accepted, START, visible_to="app-2"))
    assert service.disburse(accepted, START, visible_to="app-1").kind == "disbursement"


def test_accept_hides_another_applicants_decision(service: LoanService) -> None:
    decision = insert_decision(service.engine, applicant_ref="app-1")
    hidden = _message(lambda: service.accept(decision, 0, visible_to="app-2"))
    assert hidden == f"decision {decision}: no such decision"
    assert service.accept(decision, 0, visible_to="app-1")["state"] == "accepted"
