"""The tail every payment shares (repayment, prepayment, payment from credit): whether it
closes or cures the loan, the detail a reversal needs, and the plan itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from creditgraph.money import from_fen
from creditgraph.servicing.core.plan import (
    CURRENT,
    NewInstalment,
    PostingPlan,
    StateEvent,
    TransactionKind,
)
from creditgraph.servicing.core.settlement import Settlement, position
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.servicing.lifecycle import LoanEvent, LoanState, transition


@dataclass(frozen=True)
class PaymentOutcome:
    """What a payment did before its tail is settled: the settlement, the rows it read, the
    cash it took and the credit it leaves, and what its kind adds to the detail."""

    kind: TransactionKind
    on: date
    actor: str
    rows: Sequence[Instalment]
    settlement: Settlement
    amount_fen: int
    credit_after_fen: int
    extra: Mapping[str, Any] = field(default_factory=dict)
    superseded: tuple[int, ...] = ()
    new_rows: tuple[NewInstalment, ...] = ()
    loan_values: Mapping[str, Any] = field(default_factory=dict)
    closes: bool | None = None
    more_to_come: bool = False
    cures: bool = True


def restore_of(loan: LoanSnapshot) -> dict[str, Any]:
    """The loan's status before the payment, kept so a reversal can put it back."""
    return {
        "dpd": loan.dpd,
        "bucket": loan.bucket,
        "overdue_since": loan.overdue_since.isoformat() if loan.overdue_since else None,
        "closed_on": None,
        "maturity": loan.maturity.isoformat() if loan.maturity else None,
        "schedule_version": loan.schedule_version,
        "npa": bool(loan.npa),
    }


def finish_payment(loan: LoanSnapshot, state: LoanState, p: PaymentOutcome) -> PostingPlan:
    """Settle the state (closed, cured) and build the plan. ``p.rows`` must include every
    unsettled current row, or ``p.more_to_come`` says that rows not given fall due later. A
    payment that closes the loan with credit left makes a refund due (the credit stays until
    an officer approves its payout)."""
    out = p.settlement
    settled_all, arrears = position(p.rows, out.deltas, p.superseded, p.new_rows, p.on)
    closes = p.closes if p.closes is not None else settled_all and not p.more_to_come
    values: dict[str, Any] = {"credit_fen": p.credit_after_fen}
    events: tuple[StateEvent, ...] = ()
    target = state
    refund_due = 0
    if closes:
        target = transition(state, LoanEvent.REPAY_IN_FULL, loan.id)
        # A closed loan is current: no days past due, no bucket, no NPA flag left behind
        # (the reversal restores them from ``restore``).
        values.update(state=target.value, closed_on=p.on, **CURRENT)
        events = (StateEvent(state.value, target.value, LoanEvent.REPAY_IN_FULL.value),)
        refund_due = p.credit_after_fen
    elif p.cures and state is LoanState.OVERDUE and not arrears:
        target = transition(state, LoanEvent.CURE, loan.id)
        values.update(state=target.value, dpd=0, bucket="M0", overdue_since=None)
        events = (StateEvent(state.value, target.value, LoanEvent.CURE.value),)
    detail: dict[str, Any] = {
        "actor": p.actor,
        "state_before": state.value,
        "state_after": target.value,
        "restore": restore_of(loan),
        "paid": out.paid,
        "credit_before_fen": loan.credit_fen,
        "credit_after_fen": p.credit_after_fen,
        "deltas": out.records(),
        **p.extra,
    }
    if refund_due:
        detail["refund_due"] = str(from_fen(refund_due))
    detail["version_after"] = loan.version + 1
    values.update(p.loan_values)
    return PostingPlan(
        loan_id=loan.id,
        kind=p.kind,
        business_date=p.on,
        amount_fen=p.amount_fen,
        actor=p.actor or "service",
        lines=out.lines.lines(),
        detail=detail,
        deltas=out.frozen_deltas(),
        new_instalments=p.new_rows,
        supersede=p.superseded,
        loan_values=values,
        events=events,
        refund_due_fen=refund_due,
        created_instalments_key="created" if p.new_rows else None,
    )
