"""The prepayment processor: everything due paid first, then principal ahead of schedule with
its interest to the day and the product's prepayment fee; a partial prepayment reschedules the
remainder (the maths is :mod:`creditgraph.servicing.prepayment`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from creditgraph.money import from_fen
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.core.dates import (
    check_open_date,
    not_before_disbursement,
    open_date_note,
)
from creditgraph.servicing.core.payment import PaymentOutcome, finish_payment
from creditgraph.servicing.core.plan import NewInstalment, PostingPlan, TransactionKind
from creditgraph.servicing.core.settlement import Settlement, settle
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.errors import LoanInputError, ScheduleError
from creditgraph.servicing.lifecycle import require_serviced
from creditgraph.servicing.model import Method
from creditgraph.servicing.prepayment import (
    PrepayMode,
    Terms,
    fee_fen,
    prorata_fen,
    reschedule,
    share_fen,
)


def prepayment(
    loan: LoanSnapshot,
    rows: Sequence[Instalment],
    on: date,
    principal_fen: int | None,
    mode: PrepayMode,
    *,
    actor: str,
    channel: str | None = None,
) -> PostingPlan:
    """The plan of prepaying ``principal_fen`` (all of it when None) on ``on``; ``rows`` are
    the loan's current instalments. The borrower's credit is used first; the posting's amount
    is the cash taken."""
    state = require_serviced(loan.state, loan.id, "take a prepayment")
    not_before_disbursement(loan, on)
    closed = check_open_date(loan, on, "prepayment")
    due = [r for r in rows if r.due_date <= on]
    future = [r for r in rows if r.due_date > on]
    outstanding = sum(r.principal_left_fen for r in future)
    if not future or outstanding <= 0:
        raise LoanInputError(
            f"loan {loan.id}: nothing is left to prepay on {on}; pay what is due with repay"
        )
    paid_ahead = [r.number for r in future if r.has_payments]
    if paid_ahead:
        raise LoanInputError(
            f"loan {loan.id}: instalment {paid_ahead[0]} (due after {on}) already has "
            "payments; a prepayment cannot be dated before them"
        )
    prepaid = outstanding if principal_fen is None else principal_fen
    if prepaid > outstanding:
        raise LoanInputError(
            f"loan {loan.id}: amount {from_fen(prepaid)} is more than the principal not yet "
            f"due ({from_fen(outstanding)}); prepay in full instead"
        )
    full = prepaid == outstanding
    out = Settlement()
    arrears = sum(r.owed_fen for r in due)
    left = settle(due, arrears, loan.allocation, out)
    assert left == 0

    current = future[0]
    target_interest = prorata_fen(
        current.interest_due_fen, current.period_start, current.due_date, on
    )
    accrued_unpaid = current.interest_accrued_fen - current.interest_paid_fen
    interest = target_interest if full else share_fen(target_interest, prepaid, outstanding)
    if full:
        interest = max(interest, accrued_unpaid)
    fee = fee_fen(prepaid, loan.prepayment_fee_rate)
    new_rows: tuple[NewInstalment, ...] = ()
    carry = 0
    loan_values: dict[str, Any] = {}
    if not full:
        terms = Terms(
            rate=loan.nominal_rate,
            method=Method(loan.method),
            frequency=Frequency(loan.frequency),
            day_count=DayCount(loan.day_count),
            fee_per_period_fen=loan.fee_per_period_fen,
        )
        try:
            planned = reschedule(
                outstanding - prepaid,
                terms,
                current.period_start,
                [r.due_date for r in future],
                current.number,
                mode,
                current.principal_due_fen + current.interest_due_fen,
                current.principal_due_fen,
            )
        except ScheduleError as exc:
            raise LoanInputError(f"loan {loan.id}: {exc}") from None
        carry = max(0, accrued_unpaid - min(accrued_unpaid, interest))
        if carry > planned[0].interest_fen:
            interest += carry - planned[0].interest_fen
            carry = planned[0].interest_fen
        version = loan.schedule_version + 1
        new_rows = tuple(
            NewInstalment(
                number=r.number,
                due_date=r.due_date,
                period_start=r.period_start,
                principal_due_fen=r.principal_fen,
                interest_due_fen=r.interest_fen,
                fee_due_fen=r.fee_fen,
                interest_accrued_fen=carry if k == 0 else 0,
                schedule_version=version,
            )
            for k, r in enumerate(planned)
        )
        loan_values = {"schedule_version": version, "maturity": new_rows[-1].due_date}
    # Interest on the prepaid principal to the day: use what was accrued, accrue the rest.
    d = out.delta(current.id)
    used = min(accrued_unpaid, interest)
    extra_accrual = interest - used
    d[2] += interest
    d[5] += extra_accrual - carry
    out.lines.dr(Account.INTEREST_RECEIVABLE, extra_accrual)
    out.lines.cr(Account.INTEREST_INCOME, extra_accrual)
    out.lines.cr(Account.INTEREST_RECEIVABLE, interest)
    out.lines.cr(Account.LOANS_RECEIVABLE, prepaid)
    out.lines.cr(Account.FEE_INCOME, fee)
    out.paid["prepaid_principal"] = prepaid
    out.paid["prepayment_interest"] = interest
    out.paid["prepayment_fee"] = fee

    total = arrears + prepaid + interest + fee
    credit_used = min(loan.credit_fen, total)
    cash = total - credit_used
    out.lines.dr(Account.CASH_CLEARING, cash)
    out.lines.dr(Account.BORROWER_CREDIT, credit_used)
    superseded = tuple(r.id for r in future)
    extra: dict[str, Any] = {
        "mode": mode.value,
        "full": full,
        "superseded": list(superseded),
        "created": [],  # the ids of the new rows, filled in by the book as it inserts them
        "total_fen": total,
        "open_date": open_date_note(closed, on),
    }
    if channel is not None:
        extra["channel"] = channel
    return finish_payment(
        loan,
        state,
        PaymentOutcome(
            kind=TransactionKind.PREPAYMENT,
            on=on,
            actor=actor,
            rows=rows,
            settlement=out,
            amount_fen=cash,
            credit_after_fen=loan.credit_fen - credit_used,
            extra=extra,
            superseded=superseded,
            new_rows=new_rows,
            loan_values=loan_values,
            closes=full,
        ),
    )
