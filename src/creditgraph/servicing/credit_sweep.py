"""The end of day's sweep of borrower credit: dues paid from money the lender already holds.

Runs inside the end of day's chunk transaction, before DPD is worked out, so a borrower whose
credit covers what is due is never reported late nor charged penalty. Each payment is the same
repayment processor a channel's payment goes through (:func:`.core.repayment.repayment`, with
``source=borrower_credit``), applied by the same book.
"""

from __future__ import annotations

from datetime import date

from creditgraph.servicing.book import credit_holders
from creditgraph.servicing.book.uow import Connection, UnitOfWork
from creditgraph.servicing.core.repayment import Source, repayment

ACTOR = "eod"


def apply_credit(conn: Connection, day: date, first: str, last: str) -> tuple[int, int]:
    """Settle what is due on ``day`` from borrower credit, before DPD is worked out.

    The lender holding the borrower's money must not report them late or charge them penalty:
    the credit pays the dues like a repayment would. Returns (loans, fen used).
    """
    uow = UnitOfWork(conn)
    loans = used = 0
    for loan_id in credit_holders(conn, day, first, last):
        fen = pay_from_credit(uow, loan_id, day)
        loans += fen > 0
        used += fen
    return loans, used


def pay_from_credit(uow: UnitOfWork, loan_id: str, day: date) -> int:
    """One loan's due instalments paid from its credit: a ``repayment`` posting (Dr
    borrower_credit, Cr the receivables in the loan's allocation order), reversible like any
    repayment. When that settles the last instalment the loan closes and, as on every closing
    posting, credit still left is a refund due (paid only when an officer approves it). Returns
    the fen used."""
    loan = uow.lock(loan_id)
    if loan is None or loan.credit_fen <= 0:
        return 0
    due = uow.due_by(loan_id, day)
    if not due:
        return 0
    plan = repayment(loan, due, day, source=Source.BORROWER_CREDIT, actor=ACTOR)
    if plan is None:
        return 0
    uow.apply(plan)
    return plan.amount_fen
