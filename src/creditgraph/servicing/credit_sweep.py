"""The end of day's sweep of borrower credit: dues paid from money the lender already holds.

Runs inside the end of day's chunk transaction, before DPD is worked out, so a borrower whose
credit covers what is due is never reported late nor charged penalty.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from creditgraph.money import from_fen
from creditgraph.servicing import book, refunds
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.allocation import AllocationRule
from creditgraph.servicing.book import (
    LOANS,
    TransactionKind,
    lock_loan,
    pending_filter,
    post_lines,
    unsettled_due,
    update_loan,
)
from creditgraph.servicing.lifecycle import LoanEvent, LoanState, transition
from creditgraph.servicing.posting import Settlement, apply_deltas, position, settle

ACTOR = "eod"


def _credit_holders(conn: Connection, day: date, first: str, last: str) -> list[str]:
    """Loans of the chunk holding borrower credit: the few that can pay dues without cash."""
    statement = (
        select(LOANS.c.id)
        .where(
            LOANS.c.id >= first,
            LOANS.c.id <= last,
            LOANS.c.credit_fen > 0,
            pending_filter(day, by_state_index=False),
        )
        .order_by(LOANS.c.id)
    )
    return [row[0] for row in conn.execute(statement)]


def apply_credit(conn: Connection, day: date, first: str, last: str) -> tuple[int, int]:
    """Settle what is due on ``day`` from borrower credit, before DPD is worked out.

    The lender holding the borrower's money must not report them late or charge them penalty:
    the credit pays the dues like a repayment would. Returns (loans, fen used).
    """
    loans = used = 0
    for loan_id in _credit_holders(conn, day, first, last):
        fen = _pay_from_credit(conn, loan_id, day)
        loans += fen > 0
        used += fen
    return loans, used


def _pay_from_credit(conn: Connection, loan_id: str, day: date) -> int:
    """One loan's due instalments paid from its credit: a ``repayment`` posting (Dr
    borrower_credit, Cr the receivables in the loan's allocation order), reversible like any
    repayment. When that settles the last instalment the loan closes and, as on every closing
    posting, credit still left is a refund due (paid only when an officer approves it). Returns
    the fen used."""
    loan = lock_loan(conn, loan_id)
    if loan is None or loan["credit_fen"] <= 0:
        return 0
    due = unsettled_due(conn, loan_id, day)
    if not due:
        return 0
    out = Settlement()
    before = int(loan["credit_fen"])
    left = settle(due, before, AllocationRule.decode(loan["allocation_order"]), out)
    if left == before:
        return 0
    out.lines.dr(Account.BORROWER_CREDIT, before - left)
    apply_deltas(conn, out.deltas.values())
    state = LoanState(loan["state"])
    settled_all, _ = position(due, out.deltas, (), (), day)
    closes = settled_all and loan["maturity"] is not None and loan["maturity"] <= day
    target = transition(state, LoanEvent.REPAY_IN_FULL, loan_id) if closes else state
    detail = _credit_detail(loan, out, left, target)
    refund_due = left if closes else 0
    if refund_due:
        detail["refund_due"] = str(from_fen(refund_due))
    tx_id = post_lines(
        conn,
        loan_id,
        TransactionKind.REPAYMENT,
        day,
        out.lines.lines(),
        ACTOR,
        detail,
        amount_fen=before - left,
    )
    values: dict[str, Any] = {"credit_fen": left}
    if closes:
        values.update(
            state=target.value,
            closed_on=day,
            dpd=0,
            bucket="M0",
            overdue_since=None,
            npa=False,
        )
        event = book.eod_event(
            loan_id, state.value, target.value, LoanEvent.REPAY_IN_FULL.value, tx_id
        )
        book.insert_events(conn, [event])
    if refund_due:
        refunds.record_due(conn, loan_id, refund_due, day, tx_id)
    update_loan(conn, loan_id, values)
    return before - left


def _credit_detail(
    loan: Any, out: Settlement, credit_after: int, target: LoanState
) -> dict[str, Any]:
    """The detail a repayment carries, so the posting service can show and reverse it."""
    since = loan["overdue_since"]
    return {
        "actor": ACTOR,
        "source": "borrower_credit",
        "state_before": loan["state"],
        "state_after": target.value,
        "restore": {
            "dpd": loan["dpd"],
            "bucket": loan["bucket"],
            "overdue_since": since.isoformat() if since else None,
            "closed_on": None,
            "maturity": loan["maturity"].isoformat() if loan["maturity"] else None,
            "schedule_version": loan["schedule_version"],
            "npa": bool(loan["npa"]),
        },
        "paid": out.paid,
        "credit_before_fen": int(loan["credit_fen"]),
        "credit_after_fen": credit_after,
        "deltas": list(out.deltas.values()),
        "version_after": loan["version"] + 1,
    }
