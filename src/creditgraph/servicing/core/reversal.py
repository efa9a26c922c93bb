"""The reversal processor: a repayment or prepayment taken back exactly (the mirror of its
lines, its stored instalment deltas undone, the loan's state restored), and the penalty the end
of day could not charge on the principal the reversal puts back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from creditgraph.money import from_fen
from creditgraph.servicing.accounts import Account, Line
from creditgraph.servicing.core.dates import date_rule
from creditgraph.servicing.core.plan import (
    REVERSIBLE_KINDS,
    InstalmentDelta,
    PenaltyCharge,
    PostingPlan,
    StateEvent,
    TransactionKind,
)
from creditgraph.servicing.core.settlement import (
    apply_delta,
    arrears_status,
    position,
    reversible,
)
from creditgraph.servicing.core.values import (
    Instalment,
    LoanSnapshot,
    PostedTransaction,
    RefundRecord,
)
from creditgraph.servicing.delinquency import bucket, daily_basis, daily_penalty_fen
from creditgraph.servicing.errors import LoanInputError, RefundStateError
from creditgraph.servicing.lifecycle import LoanEvent, LoanState, LoanStateError, transition

REVERSIBLE_STATES = frozenset({LoanState.ACTIVE, LoanState.OVERDUE, LoanState.CLOSED})
"""States in which a payment can be reversed (a closed loan is reopened by it)."""
REFUND_PAID, REFUND_CANCELLED = "paid", "cancelled"


@dataclass(frozen=True)
class ReversalContext:
    """What the book read for a reversal besides the loan.

    ``rows``: the loan's current instalments plus, for a prepayment, the rows it superseded
    (flagged); ``later_payment``: a later repayment or prepayment not reversed, if any;
    ``refund``: the refund the payment left due, if it closed the loan with credit;
    ``first_run_after``: the first completed end of day started after the payment was posted
    (read only for payments posted before any end of day); ``npa_dpd``: the product's NPA rule.
    """

    tx: PostedTransaction
    rows: Sequence[Instalment]
    later_payment: str | None
    refund: RefundRecord | None
    first_run_after: date | None
    npa_dpd: int


@dataclass(frozen=True)
class CatchUp:
    """Penalty end of day did not charge because a reversed payment hid the principal it put
    back: per row, booked (to penalty_receivable) and memo (off balance, NPA days) fen."""

    booked: dict[int, int]
    memo: dict[int, int]
    days: int
    npa: bool


def check_reversible(loan: LoanSnapshot, tx: PostedTransaction, later: str | None) -> LoanState:
    """The loan's state, if ``tx`` may be reversed now: a repayment or prepayment not yet
    reversed, the latest one of the loan (later ones must be reversed first, so no row is left
    paid out of allocation order), on a loan that still takes postings."""
    state = LoanState(loan.state)
    if state not in REVERSIBLE_STATES:
        raise LoanStateError(
            f"loan {loan.id} is {state.value}: cannot reverse transaction {tx.id} "
            "(only active, overdue or closed loans take reversals)"
        )
    if tx.kind not in REVERSIBLE_KINDS:
        raise LoanInputError(
            f"transaction {tx.id} is a {tx.kind}; only repayments and prepayments can be reversed"
        )
    if tx.reversed_by is not None:
        raise LoanInputError(f"transaction {tx.id} was already reversed by {tx.reversed_by}")
    if later is not None:
        raise LoanInputError(
            f"transaction {tx.id}: loan {loan.id} has a later payment {later} "
            "that is not reversed; reversals go latest first: reverse it first"
        )
    if tx.kind == TransactionKind.PREPAYMENT.value and loan.version != tx.detail["version_after"]:
        raise LoanInputError(
            f"transaction {tx.id}: loan {loan.id} has changed since this prepayment (end of "
            "day has run on its new schedule); a prepayment can be reversed only on its own "
            "business day"
        )
    return state


def reversal_date(
    loan_id: str, tx: PostedTransaction, requested: date | None, last: date | None
) -> date:
    """The reversal's business date: as given, else the open date (the original's date when
    no end of day has run); never before the original's (value) date, always open."""
    value_date = tx.business_date
    if requested is None:
        on = value_date if last is None else last + timedelta(days=1)
    else:
        on = requested
    if on < value_date:
        raise LoanInputError(
            f"loan {loan_id}: reversal date {on} is before the value date {value_date} of "
            f"transaction {tx.id}"
        )
    date_rule(loan_id, on, "reversal", last)
    return on


def _refund_to_cancel(
    loan_id: str, tx: PostedTransaction, refund: RefundRecord | None
) -> str | None:
    """Reversing the payment that closed a loan with credit left: its refund, if still due,
    is cancelled (the credit goes back to the reopened loan); if paid out, it is refused."""
    if "refund_due" not in tx.detail or refund is None or refund.status == REFUND_CANCELLED:
        return None
    if refund.status == REFUND_PAID:
        raise RefundStateError(
            f"transaction {tx.id}: the refund of {from_fen(refund.amount_fen)} it left on "
            f"loan {loan_id} was paid out on {refund.paid_on} (approved by "
            f"{refund.approved_by}); a payment whose refund was paid cannot be reversed"
        )
    return refund.id


def rows_as_found(tx: PostedTransaction, rows: Sequence[Instalment]) -> list[Instalment]:
    """The loan's current rows as the reversal finds them: a prepayment's new schedule gone and
    the rows it superseded back."""
    if tx.kind != TransactionKind.PREPAYMENT.value:
        return [r for r in rows if not r.superseded]
    created = set(tx.detail["created"] or ())
    restored = set(tx.detail["superseded"])
    kept = [r for r in rows if r.id not in created and (not r.superseded or r.id in restored)]
    return sorted(kept, key=lambda r: r.number)


def catch_up_penalty(
    rows: Sequence[Instalment],
    put_back: Mapping[int, int],
    first_day: date,
    last_day: date,
    rate: Decimal,
    basis: int,
    npa_dpd: int,
    npa_before: bool,
) -> CatchUp:
    """The penalty for each day ``first_day``..``last_day`` (days end of day already ran) on the
    principal ``put_back`` per row id, rounded per day as end of day does: a day's penalty on
    the row is its daily penalty on all its overdue principal less what end of day charged on
    the principal it saw. NPA days (the loan's DPD on the day, NPA sticky while in arrears)
    accrue to memo. ``rows`` are the loan's current rows after the reversal."""
    booked: dict[int, int] = {}
    memo: dict[int, int] = {}
    touched = [r for r in rows if put_back.get(r.id, 0) > 0]
    npa = npa_before
    if not touched or first_day > last_day:
        return CatchUp(booked, memo, 0, npa)
    after = [r.principal_left_fen for r in touched]
    seen = [a - put_back[r.id] for a, r in zip(after, touched, strict=True)]
    amounts = np.asarray(after + seen, dtype=np.int64)
    rates = [rate] * len(amounts)
    daily = daily_penalty_fen(amounts, rates, np.full(len(amounts), basis, dtype=np.int64))
    per_day = [int(daily[k]) - int(daily[len(after) + k]) for k in range(len(after))]
    day, days = first_day, 0
    while day <= last_day:
        dpd, _ = arrears_status(rows, day)
        npa = dpd >= npa_dpd or (npa and dpd > 0)
        target = memo if npa else booked
        for row, fen in zip(touched, per_day, strict=True):
            if row.due_date < day and fen > 0:
                target[row.id] = target.get(row.id, 0) + fen
        day += timedelta(days=1)
        days += 1
    return CatchUp(booked, memo, days, npa)


def first_eod_day_after(tx: PostedTransaction, first_run_after: date | None) -> date:
    """The first business date end of day ran after ``tx`` was posted: its own date under the
    open-date rule; the first run ever when it was posted before any end of day (the first
    run starts at the loans' disbursement, before the payment's date)."""
    opened = tx.detail.get("open_date", tx.business_date.isoformat())
    if opened is not None:
        return date.fromisoformat(opened)
    value_date = tx.business_date
    return value_date if first_run_after is None else min(first_run_after, value_date)


def reversal(
    loan: LoanSnapshot,
    ctx: ReversalContext,
    requested: date | None,
    *,
    actor: str,
    note: str | None,
    reversal_id: str,
    catch_up_id: str,
) -> PostingPlan:
    """The plan that reverses ``ctx.tx`` as transaction ``reversal_id``, dated ``requested``
    (default: the open date), with the catch-up penalty posting (id ``catch_up_id``, which
    names the reversal it catches up for) as its follow-up when end of day skipped any."""
    tx = ctx.tx
    state = check_reversible(loan, tx, ctx.later_payment)
    detail = tx.detail
    last = loan.books_closed_through
    on = reversal_date(loan.id, tx, requested, last)
    # Postings from before refunds needed an officer carry the payout they made.
    refund = int(detail.get("refund_fen", 0))
    cancel = _refund_to_cancel(loan.id, tx, ctx.refund)
    credit_after = (
        loan.credit_fen + refund - (detail["credit_after_fen"] - detail["credit_before_fen"])
    )
    if credit_after < 0:
        raise LoanInputError(
            f"transaction {tx.id}: loan {loan.id}'s credit from it has been used by a later "
            "posting; reverse that first"
        )
    deltas = [InstalmentDelta.from_record(d) for d in detail["deltas"]]
    found = rows_as_found(tx, ctx.rows)
    by_id = {r.id: r for r in found}
    for d in deltas:
        row = by_id.get(d.instalment_id)
        if row is None or not reversible(row, d):
            raise LoanInputError(
                f"transaction {tx.id}: instalment {row.number if row else d.instalment_id} of "
                f"loan {loan.id} has been paid or changed by a later posting; reverse that first"
            )
    undo = tuple(d.negated() for d in deltas)
    target = state
    values: dict[str, Any] = {"credit_fen": credit_after}
    events: list[StateEvent] = []
    undone = {d.instalment_id: d.record() for d in undo}
    settled_after, _ = position(found, undone, (), (), on)
    if state is LoanState.CLOSED and not settled_after:
        target = _step(target, LoanEvent.REOPEN, loan.id, events)
        values.update(closed_on=None)
    catch: dict[str, Any] = {}
    charges: tuple[PenaltyCharge, ...] = ()
    if last is None:
        target = _restore_status(loan.id, detail, target, values, events)
    else:
        undo_of = {d.instalment_id: d for d in undo}
        after = [apply_delta(r, undo_of[r.id]) if r.id in undo_of else r for r in found]
        target, catch = _status_after_eod(loan, ctx, deltas, after, last, target, values, events)
    if tx.kind == TransactionKind.PREPAYMENT.value:
        restore = detail["restore"]
        values.update(
            schedule_version=restore["schedule_version"],
            maturity=date.fromisoformat(restore["maturity"]) if restore["maturity"] else None,
        )
    values["state"] = target.value
    lines = [Line(Account(a), credit, debit) for a, debit, credit in tx.lines]
    if refund:
        lines += [
            Line(Account.CASH_CLEARING, debit_fen=refund),
            Line(Account.BORROWER_CREDIT, credit_fen=refund),
        ]
    new_detail: dict[str, Any] = {
        "actor": actor,
        "note": note,
        "state_before": state.value,
        "state_after": target.value,
        "reversal_of": tx.id,
        "value_date": tx.business_date.isoformat(),
        "credit_before_fen": loan.credit_fen,
        "credit_after_fen": credit_after,
    }
    if refund:
        new_detail["refund_reversed"] = detail["refund_transaction"]
    follow_up = None
    if catch:
        new_detail["catch_up"] = {**catch, "transaction": catch_up_id}
        charges, follow_up = _catch_up_plan(loan.id, catch_up_id, on, actor, catch, reversal_id)
    new_detail["version_after"] = loan.version + 1
    prepayment = tx.kind == TransactionKind.PREPAYMENT.value
    return PostingPlan(
        loan_id=loan.id,
        kind=TransactionKind.REVERSAL,
        business_date=on,
        amount_fen=tx.amount_fen,
        actor=actor or "service",
        lines=tuple(lines),
        detail=new_detail,
        deltas=undo,
        restore_instalments=tuple(detail["superseded"]) if prepayment else (),
        delete_instalments=tuple(detail["created"] or ()) if prepayment else (),
        loan_values=values,
        events=tuple(
            StateEvent(e.from_state, e.to_state, e.event, f"reversal of {tx.id}") for e in events
        ),
        reversal_of=tx.id,
        mark_reversed=(tx.id, *([detail["refund_transaction"]] if refund else [])),
        cancel_refund=cancel,
        penalty_charges=charges,
        follow_up=follow_up,
        transaction_id=reversal_id,
    )


def _step(state: LoanState, event: LoanEvent, loan_id: str, events: list[StateEvent]) -> LoanState:
    nxt = transition(state, event, loan_id)
    events.append(StateEvent(state.value, nxt.value, event.value))
    return nxt


def _restore_status(
    loan_id: str,
    detail: Mapping[str, Any],
    target: LoanState,
    values: dict[str, Any],
    events: list[StateEvent],
) -> LoanState:
    """No end of day has run: the status the payment replaced is still the right one."""
    restore = detail["restore"]
    cured = detail["state_after"] != LoanState.OVERDUE.value
    before = LoanState(detail["state_before"])
    if before is LoanState.OVERDUE and cured and target is LoanState.ACTIVE:
        target = _step(target, LoanEvent.FALL_OVERDUE, loan_id, events)
        since = restore["overdue_since"]
        values.update(
            dpd=restore["dpd"],
            bucket=restore["bucket"],
            overdue_since=date.fromisoformat(since) if since else None,
            npa=bool(restore.get("npa", False)),
        )
    return target


def _status_after_eod(
    loan: LoanSnapshot,
    ctx: ReversalContext,
    deltas: Sequence[InstalmentDelta],
    rows: Sequence[Instalment],
    last: date,
    target: LoanState,
    values: dict[str, Any],
    events: list[StateEvent],
) -> tuple[LoanState, dict[str, Any]]:
    """End of day has run: recompute DPD, bucket, NPA and state as of ``last`` from the rows
    (the status saved with the payment may be days stale), and work out the penalty end of
    day skipped on the principal the reversal puts back since the payment."""
    restore = ctx.tx.detail["restore"]
    first_day = first_eod_day_after(ctx.tx, ctx.first_run_after)
    catch = catch_up_penalty(
        rows,
        {d.instalment_id: d.principal_fen for d in deltas},
        first_day,
        last,
        loan.penalty_rate,
        daily_basis(loan.day_count),
        ctx.npa_dpd,
        bool(restore.get("npa", loan.npa)),
    )
    dpd, since = arrears_status(rows, last)
    npa = dpd >= ctx.npa_dpd or (catch.npa and dpd > 0)
    values.update(dpd=dpd, bucket=bucket(dpd).value, overdue_since=since, npa=npa)
    if target is LoanState.ACTIVE and dpd > 0:
        target = _step(target, LoanEvent.FALL_OVERDUE, loan.id, events)
    elif target is LoanState.OVERDUE and dpd == 0:
        target = _step(target, LoanEvent.CURE, loan.id, events)
    if not catch.booked and not catch.memo:
        return target, {}
    return target, {
        "days": catch.days,
        "from": first_day.isoformat(),
        "through": last.isoformat(),
        "booked": sorted(catch.booked.items()),
        "memo": sorted(catch.memo.items()),
    }


def _catch_up_plan(
    loan_id: str,
    tx_id: str,
    on: date,
    actor: str,
    catch_up: Mapping[str, Any],
    reversal_id: str,
) -> tuple[tuple[PenaltyCharge, ...], PostingPlan | None]:
    """Charge the skipped penalty: rows' accrued penalty (and memo) up; the booked part posted
    Dr penalty_receivable, Cr penalty_income; the memo part has no journal line."""
    booked, memo = dict(catch_up["booked"]), dict(catch_up["memo"])
    charges = tuple(
        PenaltyCharge(row_id, booked.get(row_id, 0) + memo.get(row_id, 0), memo.get(row_id, 0))
        for row_id in sorted(booked.keys() | memo.keys())
    )
    total = sum(booked.values())
    if not total:
        return charges, None
    plan = PostingPlan(
        loan_id=loan_id,
        kind=TransactionKind.PENALTY,
        business_date=on,
        amount_fen=total,
        actor=actor,
        lines=(
            Line(Account.PENALTY_RECEIVABLE, debit_fen=total),
            Line(Account.PENALTY_INCOME, credit_fen=total),
        ),
        detail={
            "instalments": [list(item) for item in catch_up["booked"]],
            "memo": [list(item) for item in catch_up["memo"]],
            "catch_up_for": reversal_id,
        },
        transaction_id=tx_id,
    )
    return charges, plan
