"""Refunds of borrower credit: a closed loan's credit paid back once an officer approves it.

The rows (due, paid, cancelled) are the book's (:mod:`creditgraph.servicing.book.refunds`); the
payout is the core's refund processor applied by the book. ``listing`` and ``RefundStatus`` are
the refunds report's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from creditgraph.servicing.book import refunds as rows
from creditgraph.servicing.book.refunds import RefundStatus, as_dict, listing
from creditgraph.servicing.book.uow import UnitOfWork
from creditgraph.servicing.core.refund import refund_payout
from creditgraph.servicing.errors import LoanInputError, LoanNotFoundError, RefundStateError
from creditgraph.servicing.posting import check_name

__all__ = ["RefundStateError", "RefundStatus", "approve", "as_dict", "listing"]


def approve(
    uow: UnitOfWork, loan_id: str, by: str, business_date: date | None = None
) -> dict[str, Any]:
    """Officer ``by`` approves the payout of the refund due on ``loan_id`` (see
    :meth:`LoanService.approve_refund`); inside the caller's unit of work."""
    by = check_name(by, "the approving officer's name")
    loan = uow.lock(loan_id)
    if loan is None:
        raise LoanNotFoundError(f"loan {loan_id}: no such loan")
    due = rows.due_on_loan(uow.conn, loan_id)
    if due is None:
        raise RefundStateError(f"loan {loan_id}: no refund due")
    if business_date is not None and not isinstance(business_date, date):
        raise LoanInputError(f"loan {loan_id}: refund date must be a date, got {business_date!r}")
    plan = refund_payout(loan, rows.record(due), business_date, by=by)
    uow.apply(plan, key=f"refund:{due['id']}")
    paid = rows.of_source(uow.conn, due["source_transaction_id"])
    assert paid is not None
    return as_dict(paid)
