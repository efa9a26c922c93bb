"""Closed days and closed loans: a loan end of day has already processed takes no posting for
that day while the run goes on; a loan that closes while overdue is left current (both databases)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from creditgraph.servicing.book import BusinessDateError
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.loans import LoanService
from tests.loan_world import active_loan
from tests.loan_world import instalment_rows as _rows
from tests.loan_world import loan_row as _loan
from tests.loan_world import outstanding_through as _due_through


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def test_a_loan_end_of_day_has_done_takes_no_posting_for_that_day_while_the_run_goes_on(
    service: LoanService, engine: Engine
) -> None:
    """End of day commits chunk by chunk while the books stay open for its date. A loan whose
    chunk has committed is closed for that date already: a repayment dated that date is refused
    (it would otherwise escape the day's penalty, and a later reversal would charge that day
    twice). Once the run completes the payment posts on the next day, and reversing it charges
    each overdue day exactly once."""
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 5))  # instalment 1 (due 1 Aug) overdue 2..5 Aug: 4 days
    row1 = _rows(engine, loan_id)[0]
    four_days = row1["penalty_accrued_fen"]
    assert four_days > 0 and four_days % 4 == 0
    daily = four_days // 4
    refused: list[Exception] = []

    def after_chunk(label: str, done: int, total: int) -> None:
        if label == "end of day 2026-08-06" and done == total and not refused:
            amount = _due_through(service, loan_id, date(2026, 8, 6))
            try:
                service.repay(loan_id, amount, date(2026, 8, 6), key="pay-mid-eod")
            except BusinessDateError as exc:
                refused.append(exc)

    run_eod(engine, date(2026, 8, 6), chunk_loans=1, progress=after_chunk)
    assert refused and "closed" in str(refused[0])
    amount = _due_through(service, loan_id, date(2026, 8, 7))
    paid = service.repay(loan_id, amount, date(2026, 8, 7), key="pay-after-eod")
    run_eod(engine, date(2026, 8, 7))
    service.reverse(paid.transaction_id, key="rev-after-eod", business_date=date(2026, 8, 8))
    row1 = _rows(engine, loan_id)[0]
    # Overdue (and unpaid, once the payment is reversed) 2..7 Aug: six days of penalty.
    assert row1["penalty_accrued_fen"] == 6 * daily


def test_closing_an_overdue_loan_clears_its_delinquency_status(
    service: LoanService, engine: Engine
) -> None:
    """A repayment that clears all arrears cures the loan (DPD 0, M0, no overdue_since, not NPA:
    docs/servicing.md). When the same payment closes the loan (a full prepayment while overdue),
    the loan is closed but keeps the DPD, bucket and overdue_since of the day before."""
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 5))
    assert _loan(engine, loan_id)["dpd"] == 4
    service.prepay(loan_id, date(2026, 8, 6), full=True, key="close-overdue")
    loan = _loan(engine, loan_id)
    assert loan["state"] == "closed"
    assert (loan["dpd"], loan["bucket"], loan["overdue_since"], loan["npa"]) == (
        0,
        "M0",
        None,
        False,
    )
