"""Sequences that try to break the books: reversals after write-off, end of day or a later
payment; postings on closed or future business days; credit held while dues fall due; a closed
loan's residue; penalty during NPA; tiny remainders after a prepayment. Each docstring states the
rule the servicing code is held to.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import Engine

from creditgraph.servicing import book
from creditgraph.servicing.book import BusinessDateError
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.errors import IdempotencyConflictError
from creditgraph.servicing.ledger import trial_balance
from creditgraph.servicing.lifecycle import LoanStateError
from creditgraph.servicing.loans import LoanService
from creditgraph.store.db import make_engine, upgrade
from tests.loan_world import active_loan
from tests.loan_world import instalment_rows as _rows
from tests.loan_world import ledger_of as _ledger
from tests.loan_world import loan_row as _loan
from tests.loan_world import outstanding_through as _outstanding_due

FIRST_DUE = date(2026, 8, 1)
REFUSED = (LoanStateError, ValueError)  # LoanInputError and friends are ValueErrors


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """SQLite only: these sequences are about the rules, which do not depend on the database."""
    return sqlite_url


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def _assert_books(engine: Engine, loan_id: str) -> None:
    """Trial balance zero, row invariants, and sub-ledger == ledger for the loan (memo penalty,
    accrued off balance while NPA, is on the rows but not in penalty_receivable)."""
    assert trial_balance(engine)["balanced"]
    rows, loan, ledger = _rows(engine, loan_id), _loan(engine, loan_id), _ledger(engine, loan_id)
    for r in rows:
        assert 0 <= r["principal_paid_fen"] <= r["principal_due_fen"], r
        assert 0 <= r["interest_paid_fen"] <= r["interest_accrued_fen"] <= r["interest_due_fen"], r
        assert 0 <= r["penalty_paid_fen"] <= r["penalty_accrued_fen"], r
        assert 0 <= r["penalty_memo_fen"] <= r["penalty_accrued_fen"] - r["penalty_paid_fen"], r
    assert ledger.get("loans_receivable", 0) == sum(
        r["principal_due_fen"] - r["principal_paid_fen"] for r in rows
    )
    assert ledger.get("interest_receivable", 0) == sum(
        r["interest_accrued_fen"] - r["interest_paid_fen"] for r in rows
    )
    assert ledger.get("penalty_receivable", 0) == sum(
        r["penalty_accrued_fen"] - r["penalty_paid_fen"] - r["penalty_memo_fen"] for r in rows
    )
    assert -ledger.get("borrower_credit", 0) == loan["credit_fen"]


# --- defects ------------------------------------------------------------------------------------


def test_reversal_on_a_written_off_loan_is_refused(service: LoanService) -> None:
    """A written-off loan takes no postings (docs/servicing.md). ``_reverse`` never checks the
    state, so reversing an old repayment re-creates receivables on a written-off loan that no
    process will ever clear again: the loan's ledger and the write-off disagree for good."""
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 9))
    paid = service.repay(loan_id, "500.00", date(2026, 8, 10), key="wo-r1")
    run_eod(engine, date(2027, 3, 1))
    assert _loan(engine, loan_id)["state"] == "written_off"
    with pytest.raises(LoanStateError, match=f"loan {loan_id} is written_off: cannot reverse"):
        service.reverse(paid.transaction_id, key="wo-rev")
    ledger = _ledger(engine, loan_id)
    for account in ("loans_receivable", "interest_receivable", "penalty_receivable"):
        assert ledger.get(account, 0) == 0, (account, ledger)


def test_a_repayment_dated_after_the_books_business_date_is_refused(
    service: LoanService,
) -> None:
    """EOD has closed 2026-07-05. A repayment dated 2026-10-01 is accepted, pays three
    instalments that are not due yet, and books their whole interest (331.52) as income now:
    interest recognised before it is earned. Postings must be dated in the open business day
    (or at least not after the next one)."""
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 7, 5))
    income_before = -_ledger(engine, loan_id).get("interest_income", 0)
    with pytest.raises(BusinessDateError, match="open for 2026-07-06"):
        service.repay(loan_id, "3198.57", date(2026, 10, 1), key="future")
    assert -_ledger(engine, loan_id).get("interest_income", 0) == income_before


def test_a_repayment_dated_inside_a_closed_business_day_is_refused(service: LoanService) -> None:
    """EOD has closed through 2026-08-20 with instalment 1 overdue (penalty charged daily). A
    repayment back-dated to 2026-08-03 is accepted: the borrower pays penalty for 08-04..08-20
    that the back-dated payment should have stopped, nothing is recomputed, and the loan's DPD
    history no longer matches its payments. Back-dated postings must be refused (or trigger a
    recomputation of the closed days)."""
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 20))
    with pytest.raises(BusinessDateError, match="2026-08-03 of the repayment is closed"):
        service.repay(loan_id, "1100.00", date(2026, 8, 3), key="backdated")
    assert service.repay(loan_id, "1100.00", date(2026, 8, 21), key="open").state == "active"


def test_borrower_credit_is_used_before_an_instalment_counts_as_overdue(
    service: LoanService,
) -> None:
    """The borrower overpays 2,200.00 in July (held as credit), enough for the 1,066.19
    instalments of 08-01 and 09-01. Without end of day applying credit on the due date, the
    08-01 instalment is 35 days past due on 09-05 (bucket M2, penalty charged) while the lender
    holds the borrower's money; with it, the loan is current and 67.62 of credit is left."""
    engine = service.engine
    loan_id = active_loan(service)
    service.repay(loan_id, "2200.00", date(2026, 7, 10), key="credit")
    assert _loan(engine, loan_id)["credit_fen"] == 220_000
    run_eod(engine, date(2026, 9, 5))
    loan = _loan(engine, loan_id)
    assert loan["dpd"] == 0, (loan["state"], loan["dpd"], loan["bucket"])
    assert loan["credit_fen"] == 220_000 - 2 * 106_619
    assert _ledger(engine, loan_id).get("penalty_receivable", 0) == 0
    _assert_books(engine, loan_id)


def test_a_closed_loan_carries_no_balance_once_its_refund_is_approved(
    service: LoanService,
) -> None:
    """Overpaying the last instalment closes the loan with credit in ``borrower_credit``; a
    closed loan takes no posting, so the liability stayed on it forever. It is now a refund due
    that an officer approves (issue #11: refunds are never paid out automatically); once paid,
    a closed loan carries no balance. (The overpayment is 0.50, within the tolerance: 50.00
    beyond what the loan owes is refused.)"""
    engine = service.engine
    loan_id = active_loan(service, amount="6000", term=3)
    schedule = service.show(loan_id)["schedule"]
    for k, row in enumerate(schedule):
        amount = Decimal(row["outstanding"]) + (Decimal("0.5") if k == len(schedule) - 1 else 0)
        service.repay(loan_id, str(amount), date.fromisoformat(row["due_date"]), key=f"cl-{k}")
    assert _loan(engine, loan_id)["state"] == "closed"
    assert _loan(engine, loan_id)["credit_fen"] == 50
    service.approve_refund(loan_id, by="officer-li")
    assert _loan(engine, loan_id)["credit_fen"] == 0
    refunds = [p for p in service.statement(loan_id)["postings"] if p["kind"] == "refund"]
    assert [r["amount"] for r in refunds] == ["0.50"]
    ledger = _ledger(engine, loan_id)
    residual = {
        a: v
        for a, v in ledger.items()
        if a in ("loans_receivable", "interest_receivable", "penalty_receivable", "borrower_credit")
        and v
    }
    assert residual == {}


def test_reversal_is_refused_when_a_later_posting_paid_the_same_instalment(
    service: LoanService,
) -> None:
    """docs/servicing.md: a reversal is refused when "an instalment it paid has since been paid
    further". ``posting.reversible`` only checks that paid amounts stay non-negative, so after
    a later prepayment settled the rest of instalment 1, the first partial repayment is still
    reversed: instalment 1 then has principal paid and interest unpaid (allocation order
    broken) and the loan is `active` with DPD 0 while instalment 1 is 19 days late."""
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 9))
    first = service.repay(loan_id, "500.00", date(2026, 8, 10), key="pf-r1")
    run_eod(engine, date(2026, 8, 19))
    later = service.prepay(loan_id, date(2026, 8, 20), amount="3000.00", key="pf-p1")
    with pytest.raises(REFUSED, match=f"later payment {later.transaction_id}"):
        service.reverse(first.transaction_id, key="pf-rev")
    service.reverse(later.transaction_id, key="pf-rev-p1")
    service.reverse(first.transaction_id, key="pf-rev")
    _assert_books(engine, loan_id)


def test_reversal_after_eod_puts_back_the_penalty_of_the_days_in_between(
    service: LoanService,
) -> None:
    """A payment that cured the loan on 08-06 is reversed on 08-16 (e.g. it bounced). EOD ran
    08-07..08-16 while the instalment looked paid, so no penalty was charged for those ten
    days, and nothing charges it afterwards: the reversed loan ends up with less penalty than
    an identical loan that never paid. The reversal also restores ``dpd`` 5 / M1 as seen on
    08-06 although it is 15 on 08-16. Reversal should catch up what EOD skipped (penalty,
    DPD) or EOD should recompute from the row dates."""
    engine = service.engine
    paid = active_loan(service)
    unpaid = active_loan(service)
    run_eod(engine, date(2026, 8, 5))
    amount = _outstanding_due(service, paid, date(2026, 8, 6))
    payment = service.repay(paid, str(amount), date(2026, 8, 6), key="bounce")
    assert payment.state == "active"
    run_eod(engine, date(2026, 8, 15))
    reversal = service.reverse(payment.transaction_id, key="bounce-rev")
    assert reversal.business_date == date(2026, 8, 16)  # the open date
    assert reversal.detail["value_date"] == "2026-08-06"
    restored = _loan(engine, paid)
    assert (restored["state"], restored["dpd"], restored["bucket"]) == ("overdue", 14, "M1")
    assert restored["overdue_since"] == date(2026, 8, 2)
    assert (
        _rows(engine, paid)[0]["penalty_accrued_fen"]
        == (_rows(engine, unpaid)[0]["penalty_accrued_fen"])
    )
    _assert_books(engine, paid)
    run_eod(engine, date(2026, 8, 20))
    penalty_paid = _rows(engine, paid)[0]["penalty_accrued_fen"]
    penalty_unpaid = _rows(engine, unpaid)[0]["penalty_accrued_fen"]
    assert (penalty_paid, _loan(engine, paid)["dpd"]) == (penalty_unpaid, 19)
    assert _ledger(engine, paid) == _ledger(engine, unpaid)


def test_penalty_for_npa_days_is_still_owed_by_the_borrower(service: LoanService) -> None:
    """NPA stops *recognising* penalty as income; it must not forgive it. EOD simply stops
    accruing penalty from 90 DPD, and a repayment only collects penalty that was accrued, so
    the borrower who pays everything at 120 DPD pays no penalty at all for the NPA days
    (instalment 1 alone: 946.19 x 18% / 360 = 0.47 a day). Keep the contractual penalty on the
    rows (memo, off balance sheet) and recognise it on payment (cash basis), as interest is."""
    engine = service.engine
    loan_id = active_loan(service)
    on = date(2026, 11, 29)  # instalment 1 (due 08-01) is 120 days past due
    run_eod(engine, on)
    assert _loan(engine, loan_id)["npa"]
    contractual = 0
    for row in _rows(engine, loan_id):
        if row["due_date"] < on:
            daily = (Decimal(row["principal_due_fen"]) * Decimal("0.18") / 360).quantize(
                Decimal(1), ROUND_HALF_UP
            )
            contractual += int(daily) * (on - row["due_date"]).days
    _assert_books(engine, loan_id)
    income_before = -_ledger(engine, loan_id).get("penalty_income", 0)
    rows = _rows(engine, loan_id)
    assert sum(r["penalty_accrued_fen"] for r in rows) == contractual  # owed in full
    booked = sum(r["penalty_accrued_fen"] - r["penalty_memo_fen"] for r in rows)
    memo = sum(r["penalty_memo_fen"] for r in rows)
    assert memo > 0
    pay_on = on + timedelta(days=1)  # the open business date
    paid = service.repay(
        loan_id, str(_outstanding_due(service, loan_id, pay_on)), pay_on, key="npa-pay"
    )
    collected = -_ledger(engine, loan_id).get("penalty_income", 0) - income_before
    assert (collected, booked + collected) == (memo, contractual)  # memo is income when paid
    assert all(r["penalty_memo_fen"] == 0 for r in _rows(engine, loan_id))
    _assert_books(engine, loan_id)
    service.reverse(paid.transaction_id, key="npa-rev")
    assert sum(r["penalty_memo_fen"] for r in _rows(engine, loan_id)) == memo
    assert -_ledger(engine, loan_id).get("penalty_income", 0) == income_before
    _assert_books(engine, loan_id)


def test_lower_instalment_with_a_tiny_remainder_has_no_empty_rows(service: LoanService) -> None:
    """Prepaying all but 0.01 with ``lower_instalment`` keeps all 12 due dates: 11 rows of
    0.00 principal and 0.00 interest and one of 0.01. Rows with nothing due are noise in the
    schedule, the statement and the DPD logic; drop them (or fold a remainder below one
    instalment's rounding into the prepayment)."""
    engine = service.engine
    loan_id = active_loan(service)
    service.prepay(
        loan_id, date(2026, 7, 15), amount="11999.99", mode="lower_instalment", key="tiny"
    )
    rows = _rows(engine, loan_id)
    empty = [r["number"] for r in rows if r["principal_due_fen"] + r["interest_due_fen"] == 0]
    assert empty == [], empty
    future = [r for r in rows if r["due_date"] > date(2026, 7, 15)]
    assert sum(r["principal_due_fen"] for r in future) == 1


# --- checks that pass and are worth keeping -----------------------------------------------------


def test_the_long_sequence_keeps_the_books_and_charges_prepayment_to_the_day(
    service: LoanService,
) -> None:
    """Disburse, EOD through an overdue period, partial repayment, EOD, prepayment, EOD, to
    write-off: the journal balances and the sub-ledger equals the ledger at every step; the
    prepayment charges interest to the day only and 1% fee, and the new schedule is sensible."""
    engine = service.engine
    loan_id = active_loan(service)  # 12,000.00, 12 x 1,066.19, 12% (JYD, 1% prepayment fee)
    run_eod(engine, date(2026, 8, 10))
    _assert_books(engine, loan_id)
    assert _loan(engine, loan_id)["dpd"] == 9 and _loan(engine, loan_id)["bucket"] == "M1"
    service.repay(loan_id, "500.00", date(2026, 8, 11), key="seq-r1")
    _assert_books(engine, loan_id)
    run_eod(engine, date(2026, 8, 19))
    _assert_books(engine, loan_id)
    before = _rows(engine, loan_id)[1]
    assert before["interest_accrued_fen"] == 11054 * 18 // 31  # 6418, pro rata by day
    result = service.prepay(
        loan_id, date(2026, 8, 20), amount="3000.00", mode="shorter_term", key="seq-p1"
    )
    # Interest on 3,000.00 of the 11,053.81 not yet due, for 19 of 31 days: 6775 x 3000/11053.81
    assert result.detail["paid"]["prepayment_interest"] == 1839
    assert result.detail["paid"]["prepayment_fee"] == 3000
    assert result.state == "active"
    _assert_books(engine, loan_id)
    rows = _rows(engine, loan_id)
    future = [r for r in rows if r["due_date"] > date(2026, 8, 20)]
    assert sum(r["principal_due_fen"] for r in future) == 1_105_381 - 300_000
    assert all(r["principal_due_fen"] > 0 and r["due_date"] > r["period_start"] for r in future)
    assert future[0]["principal_due_fen"] + future[0]["interest_due_fen"] == 106_619  # kept
    assert future[0]["interest_accrued_fen"] == 6418 - 1839  # carried, not accrued again
    assert len(future) == 8  # shorter term: 11 left became 8
    run_eod(engine, date(2026, 9, 15))
    _assert_books(engine, loan_id)
    run_eod(engine, date(2027, 3, 15))
    loan = _loan(engine, loan_id)
    assert loan["state"] == "written_off"
    ledger = _ledger(engine, loan_id)
    assert all(
        ledger.get(a, 0) == 0
        for a in ("loans_receivable", "interest_receivable", "penalty_receivable")
    )
    assert trial_balance(engine)["balanced"]


def test_a_second_eod_run_changes_nothing(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, date(2026, 8, 12))
    snapshot = (_ledger(engine, loan_id), _rows(engine, loan_id), _loan(engine, loan_id))
    again = run_eod(engine, date(2026, 8, 12))
    assert again.already_done
    assert (_ledger(engine, loan_id), _rows(engine, loan_id), _loan(engine, loan_id)) == snapshot


def test_eod_dpd_and_bucket_edges_and_cure(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    expected = {
        FIRST_DUE: (0, "M0"),
        FIRST_DUE + timedelta(days=1): (1, "M1"),
        FIRST_DUE + timedelta(days=30): (30, "M1"),
        FIRST_DUE + timedelta(days=31): (31, "M2"),
    }
    for day, (dpd, bucket) in expected.items():
        run_eod(engine, day)
        loan = _loan(engine, loan_id)
        assert (loan["dpd"], loan["bucket"]) == (dpd, bucket), day
    on = FIRST_DUE + timedelta(days=32)
    amount = _outstanding_due(service, loan_id, on - timedelta(days=1))
    service.repay(loan_id, str(amount + Decimal("5")), on, key="cure")
    run_eod(engine, on)
    loan = _loan(engine, loan_id)
    assert (loan["state"], loan["dpd"], loan["bucket"], loan["overdue_since"]) == (
        "active",
        0,
        "M0",
        None,
    )
    assert loan["credit_fen"] == 500
    _assert_books(engine, loan_id)


def test_same_key_other_body_is_refused_and_nothing_is_posted(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    first = service.repay(loan_id, "100.00", date(2026, 7, 10), key="same")
    ledger = _ledger(engine, loan_id)
    assert service.repay(loan_id, "100.00", date(2026, 7, 10), key="same").replayed
    with pytest.raises(IdempotencyConflictError):
        service.repay(loan_id, "100.01", date(2026, 7, 10), key="same")
    other = active_loan(service)
    with pytest.raises(IdempotencyConflictError):
        service.repay(other, "100.00", date(2026, 7, 10), key="same")
    assert _ledger(engine, loan_id) == ledger
    assert first.transaction_id


@pytest.mark.postgres
def test_eod_and_concurrent_repayments_keep_every_loan_consistent(postgres_url: str) -> None:
    """EOD (small chunks) and repayments from another thread on PostgreSQL: afterwards the
    journal balances and every loan's sub-ledger equals its ledger."""
    import threading

    engine = make_engine(postgres_url)
    upgrade(engine)
    service = LoanService(engine)
    loans = [active_loan(service) for _ in range(6)]
    errors: list[BaseException] = []

    def pay() -> None:
        """Pay on the open business date; a day closed by end of day in between is refused
        (nothing posted) and paid again on the new open date."""
        try:
            for k in range(60):
                while True:
                    with engine.connect() as conn:
                        day = book.open_business_date(conn) or date(2026, 7, 28)
                    try:
                        service.repay(loans[k % len(loans)], "37.21", day, key=f"cc-{k}")
                        break
                    except BusinessDateError:
                        continue
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    payer = threading.Thread(target=pay)
    payer.start()
    for k in range(35):
        run_eod(engine, date(2026, 7, 28) + timedelta(days=k), chunk_loans=2)
    payer.join()
    assert not errors, errors
    for loan_id in loans:
        _assert_books(engine, loan_id)
    engine.dispose()
