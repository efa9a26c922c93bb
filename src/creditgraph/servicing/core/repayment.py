"""The repayment processor: money applied to what is due, from a payment channel's cash or
from the borrower's credit (the end of day's sweep), by one function.

Funds are the cash received plus the credit held; they pay what is due on the day in the
loan's allocation order, oldest due first; what is left is the borrower's credit. A payment
that settles the last instalment at or after maturity closes the loan, and credit still left
is a refund due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from creditgraph.servicing.accounts import Account
from creditgraph.servicing.ceiling import OverpaymentError, ceiling_of
from creditgraph.servicing.core.dates import (
    check_open_date,
    not_before_disbursement,
    open_date_note,
)
from creditgraph.servicing.core.payment import PaymentOutcome, finish_payment
from creditgraph.servicing.core.plan import PostingPlan, TransactionKind
from creditgraph.servicing.core.settlement import Settlement, credit_lines, settle
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.lifecycle import require_serviced


class Source(StrEnum):
    """Where a repayment's money comes from."""

    CHANNEL = "channel"  # cash a payment channel received
    BORROWER_CREDIT = "borrower_credit"  # credit the lender already holds (end of day)


def check_repayment(
    loan: LoanSnapshot,
    owing: Sequence[Instalment],
    cash_fen: int,
    on: date,
    tolerance: Decimal,
) -> date | None:
    """The checks a channel's payment passes before any money moves: the loan takes payments,
    the date is on or after disbursement and open, and the amount is within the ceiling.
    Returns the last closed business date (None when no end of day has run)."""
    require_serviced(loan.state, loan.id, "take a repayment")
    not_before_disbursement(loan, on)
    closed = check_open_date(loan, on, "repayment")
    ceiling = ceiling_of(owing, on, loan.prepayment_fee_rate, loan.credit_fen, tolerance)
    if cash_fen > ceiling.most_fen:
        raise OverpaymentError(loan.id, ceiling)
    return closed


def repayment(
    loan: LoanSnapshot,
    owing: Sequence[Instalment],
    on: date,
    *,
    source: Source,
    actor: str,
    cash_fen: int = 0,
    channel: str | None = None,
    closed_through: date | None = None,
) -> PostingPlan | None:
    """The plan of a repayment on ``on`` (None when it would move nothing: credit that pays no
    due).

    ``owing`` are the loan's current rows with anything left to pay (those due after ``on`` are
    left alone). From a channel, ``cash_fen`` arrives and is the posting's amount (Dr
    cash_clearing); from the borrower's credit there is no cash and the amount is the credit
    used. Either way the credit held joins the funds. A payment from credit is made by the end
    of day just before its DPD step, which decides whether the loan is cured; a channel's
    payment cures an overdue loan whose arrears it clears.
    """
    state = require_serviced(loan.state, loan.id, "take a repayment")
    from_credit = source is Source.BORROWER_CREDIT
    if from_credit and cash_fen:
        raise ValueError("a payment from borrower credit brings no cash")
    due = [row for row in owing if row.due_date <= on]
    before = loan.credit_fen
    out = Settlement()
    left = settle(due, cash_fen + before, loan.allocation, out)
    if from_credit and left == before:
        return None
    out.lines.dr(Account.CASH_CLEARING, cash_fen)
    credit_lines(out.lines, before, left)
    extra: dict[str, Any]
    if from_credit:
        extra = {"source": source.value}
    else:
        extra = {"open_date": open_date_note(closed_through, on)}
        if channel is not None:
            extra["channel"] = channel
    return finish_payment(
        loan,
        state,
        PaymentOutcome(
            kind=TransactionKind.REPAYMENT,
            on=on,
            actor=actor,
            rows=due,
            settlement=out,
            amount_fen=before - left if from_credit else cash_fen,
            credit_after_fen=left,
            extra=extra,
            more_to_come=loan.maturity is None or loan.maturity > on,
            cures=not from_credit,
        ),
    )
