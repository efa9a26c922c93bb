"""The refund processor: the credit a closed loan holds paid back to the borrower, once an
officer approves it (Dr borrower_credit, Cr cash_clearing)."""

from __future__ import annotations

from datetime import date, timedelta

from creditgraph.money import from_fen
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.core.dates import date_rule
from creditgraph.servicing.core.plan import Lines, PostingPlan, RefundPayout, TransactionKind
from creditgraph.servicing.core.values import LoanSnapshot, RefundRecord
from creditgraph.servicing.errors import LoanInputError, RefundStateError


def refund_date(loan: LoanSnapshot, due: RefundRecord, requested: date | None) -> date:
    """The payout's business date: as given, else the open business date (the day the refund
    fell due when no end of day has run); never before it fell due, always open."""
    last = loan.books_closed_through
    if requested is None:
        on = due.due_on if last is None else max(due.due_on, last + timedelta(1))
    else:
        on = requested
    if on < due.due_on:
        raise LoanInputError(
            f"loan {loan.id}: refund date {on} is before the refund fell due on {due.due_on}"
        )
    date_rule(loan.id, on, "refund", last)
    return on


def refund_payout(
    loan: LoanSnapshot, due: RefundRecord, requested: date | None, *, by: str
) -> PostingPlan:
    """The plan that pays refund ``due`` as officer ``by`` approved it; the refund's id is the
    posting's idempotency key (the book's), so it is paid once however often it is approved."""
    if due.status != "due":
        raise RefundStateError(f"loan {loan.id}: no refund due")
    on = refund_date(loan, due, requested)
    fen = due.amount_fen
    if loan.credit_fen < fen:
        raise RefundStateError(
            f"loan {loan.id}: holds {from_fen(loan.credit_fen)} of credit, less than "
            f"the refund due {from_fen(fen)}"
        )
    lines = Lines()
    lines.dr(Account.BORROWER_CREDIT, fen)
    lines.cr(Account.CASH_CLEARING, fen)
    return PostingPlan(
        loan_id=loan.id,
        kind=TransactionKind.REFUND,
        business_date=on,
        amount_fen=fen,
        actor=by,
        lines=lines.lines(),
        detail={
            "refund_of": due.source_transaction_id,
            "refund_id": due.id,
            "approved_by": by,
            "reason": "loan closed with borrower credit",
        },
        loan_values={"credit_fen": loan.credit_fen - fen},
        refund_payout=RefundPayout(due.id, by, on),
    )
