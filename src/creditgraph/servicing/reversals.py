"""Reversals: a repayment or prepayment taken back, by the core's reversal processor over
what the book read under the loan's lock (the transaction, its lines, the rows it touched)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from creditgraph.servicing.book import refunds as refund_rows
from creditgraph.servicing.book.uow import UnitOfWork, reading
from creditgraph.servicing.core.plan import PostingPlan, TransactionKind
from creditgraph.servicing.core.reversal import ReversalContext, reversal
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.errors import LoanNotFoundError
from creditgraph.servicing.posting import PostingResult, check_date
from creditgraph.servicing.runner import PostingRunner


def _missing(transaction_id: str, loan_id: str | None) -> LoanNotFoundError:
    owner = f"loan {loan_id} has no" if loan_id is not None else "no such"
    return LoanNotFoundError(f"{owner} transaction {transaction_id}")


class Reversals(PostingRunner):
    """Reversals (the reversing half of :class:`LoanService`)."""

    def reverse(
        self,
        transaction_id: str,
        key: str | None = None,
        business_date: date | None = None,
        actor: str = "cli",
        note: str | None = None,
        loan_id: str | None = None,
        *,
        visible_to: str | None = None,
    ) -> PostingResult:
        """Reverse a repayment or prepayment: the mirror of its lines, its allocation undone and
        the loan's state restored. Refused (nothing posted) when a later posting depends on it,
        or, given ``loan_id``, when the transaction is not that loan's; with ``visible_to``,
        a loan that is not that applicant's reads as a missing transaction."""
        with reading(self.engine) as uow:
            found = uow.loan_of_transaction(transaction_id)
        if found is None or (loan_id is not None and found != loan_id):
            raise _missing(transaction_id, loan_id)
        body = {
            "op": "reverse",
            "transaction": transaction_id,
            "date": business_date.isoformat() if business_date else None,
        }
        config = self.config

        def plan_of(uow: UnitOfWork, loan: LoanSnapshot, _: Sequence[Instalment]) -> PostingPlan:
            tx = uow.transaction(transaction_id)
            assert tx is not None
            later = uow.later_payment(loan.id, tx)
            refund = None
            if "refund_due" in tx.detail:
                stored = refund_rows.of_source(uow.conn, tx.id)
                refund = None if stored is None else refund_rows.record(stored)
            first_run = None
            if loan.books_closed_through is not None and tx.detail.get("open_date", "") is None:
                first_run = uow.first_run_after(tx)
            superseded = (
                list(tx.detail["superseded"]) if tx.kind == TransactionKind.PREPAYMENT else []
            )
            context = ReversalContext(
                tx=tx,
                rows=uow.current_and(loan.id, superseded),
                later_payment=later,
                refund=refund,
                first_run_after=first_run,
                npa_dpd=config.for_product(loan.product_code).npa_dpd,
            )
            requested = (
                None
                if business_date is None
                else check_date(business_date, loan.id, "reversal date")
            )
            # The reversal's id first: ids sort by creation time, and the catch-up penalty
            # follows the reversal it catches up for on the statement.
            reversal_id = uow.new_transaction_id()
            return reversal(
                loan,
                context,
                requested,
                actor=actor,
                note=note,
                reversal_id=reversal_id,
                catch_up_id=uow.new_transaction_id(),
            )

        return self._posting(
            found,
            key,
            body,
            plan_of,
            visible_to=visible_to,
            hidden=lambda: _missing(transaction_id, loan_id),
        )
