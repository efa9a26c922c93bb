"""Paying dues: funds split by the one allocation rule, turned into instalment deltas and
journal lines; and what a loan's rows say after a posting (settled, in arrears, DPD).

Memo penalty (accrued off balance while the loan was NPA) is paid first and is income on
receipt; only the rest of a penalty payment clears penalty_receivable. Interest paid before it
has accrued is accrued first, so interest income is never short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from creditgraph.servicing import allocation
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.allocation import AllocationRule, Component, Due
from creditgraph.servicing.core.plan import InstalmentDelta, Lines, NewInstalment
from creditgraph.servicing.core.values import Instalment
from creditgraph.servicing.delinquency import days_past_due

COMPONENT_ACCOUNT = {
    Component.PENALTY: Account.PENALTY_RECEIVABLE,
    Component.FEE: Account.FEE_INCOME,  # per-period fees are income when paid (cash basis)
    Component.INTEREST: Account.INTEREST_RECEIVABLE,
    Component.PRINCIPAL: Account.LOANS_RECEIVABLE,
}
# Slots of a delta under construction: [id, principal, interest, fee, penalty, accrued, memo].
SLOT = {Component.PRINCIPAL: 1, Component.INTEREST: 2, Component.FEE: 3, Component.PENALTY: 4}
INTEREST, ACCRUED, MEMO = 2, 5, 6


@dataclass
class Settlement:
    """The effect of paying dues, as it is built: per-row deltas, lines, paid per component."""

    deltas: dict[int, list[int]] = field(default_factory=dict)
    lines: Lines = field(default_factory=Lines)
    paid: dict[str, int] = field(default_factory=dict)

    def delta(self, row_id: int) -> list[int]:
        return self.deltas.setdefault(row_id, [row_id, 0, 0, 0, 0, 0, 0])

    def frozen_deltas(self) -> tuple[InstalmentDelta, ...]:
        return tuple(InstalmentDelta(*d) for d in self.deltas.values())

    def records(self) -> list[list[int]]:
        """The deltas as the transaction's detail stores them."""
        return [list(d) for d in self.deltas.values()]


def settle(rows: Sequence[Instalment], funds: int, rule: AllocationRule, out: Settlement) -> int:
    """Allocate ``funds`` over ``rows`` (all due) by ``rule`` and record the effect in ``out``;
    returns the fen left over. Every path that applies money comes through here, and through
    :func:`creditgraph.servicing.allocation.allocate`."""
    by_id = {row.id: row for row in rows}
    dues = [Due(row.id, row.outstanding()) for row in rows]
    allocations, left = allocation.allocate(funds, dues, rule)
    for a in allocations:
        d = out.delta(a.key)
        d[SLOT[a.component]] += a.fen
        out.paid[a.component.value] = out.paid.get(a.component.value, 0) + a.fen
        row = by_id[a.key]
        if a.component is Component.PENALTY:
            memo = min(a.fen, row.penalty_memo_fen - d[MEMO])
            d[MEMO] += memo
            out.lines.cr(Account.PENALTY_INCOME, memo)
            out.lines.cr(Account.PENALTY_RECEIVABLE, a.fen - memo)
        else:
            out.lines.cr(COMPONENT_ACCOUNT[a.component], a.fen)
        if a.component is Component.INTEREST:
            accrue = max(
                0, row.interest_paid_fen + d[INTEREST] - row.interest_accrued_fen - d[ACCRUED]
            )
            d[ACCRUED] += accrue
            out.lines.dr(Account.INTEREST_RECEIVABLE, accrue)
            out.lines.cr(Account.INTEREST_INCOME, accrue)
    return left


def credit_lines(lines: Lines, before: int, after: int) -> None:
    """The borrower credit's line: up by the excess held, down by what the posting used."""
    if after > before:
        lines.cr(Account.BORROWER_CREDIT, after - before)
    else:
        lines.dr(Account.BORROWER_CREDIT, before - after)


def position(
    rows: Sequence[Instalment],
    deltas: Mapping[int, Sequence[int]],
    superseded: Iterable[int],
    new_rows: Sequence[NewInstalment],
    on: date,
) -> tuple[bool, bool]:
    """After a posting's deltas: is everything settled, and is anything due before ``on``
    still unpaid (arrears)? ``deltas`` are records ``[id, principal, interest, fee, penalty,
    ...]`` by instalment id."""
    gone = set(superseded)
    settled_all, arrears = True, False
    for row in rows:
        if row.id in gone:
            continue
        left = row.owed_fen
        d = deltas.get(row.id)
        if d is not None:
            left -= d[1] + d[2] + d[3] + d[4]
        if left:
            settled_all = False
            if row.due_date < on:
                return settled_all, True
    for new in new_rows:
        if new.owed_fen:
            settled_all = False
            if new.due_date < on:
                return settled_all, True
    return settled_all, arrears


def apply_delta(row: Instalment, d: InstalmentDelta) -> Instalment:
    """The instalment after delta ``d`` (as the book's batched update leaves it)."""
    return replace(
        row,
        principal_paid_fen=row.principal_paid_fen + d.principal_fen,
        interest_paid_fen=row.interest_paid_fen + d.interest_fen,
        fee_paid_fen=row.fee_paid_fen + d.fee_fen,
        penalty_paid_fen=row.penalty_paid_fen + d.penalty_fen,
        interest_accrued_fen=row.interest_accrued_fen + d.interest_accrued_fen,
        penalty_memo_fen=row.penalty_memo_fen - d.memo_paid_fen,
    )


def reversible(row: Instalment, d: InstalmentDelta) -> bool:
    """Whether taking delta ``d`` back keeps the row's balances valid."""
    principal = row.principal_paid_fen - d.principal_fen
    interest = row.interest_paid_fen - d.interest_fen
    fee = row.fee_paid_fen - d.fee_fen
    penalty = row.penalty_paid_fen - d.penalty_fen
    accrued = row.interest_accrued_fen - d.interest_accrued_fen
    memo = row.penalty_memo_fen + d.memo_paid_fen
    return bool(
        min(principal, interest, fee, penalty) >= 0
        and 0 <= interest <= accrued
        and memo <= row.penalty_accrued_fen - penalty
    )


def oldest_arrears(rows: Iterable[Instalment], on: date) -> date | None:
    """The due date of the oldest row still owing something and past due at the end of ``on``
    (end of day's rule: a row is late from the day after its due date)."""
    late = [row.due_date for row in rows if row.due_date < on and row.owed_fen > 0]
    return min(late) if late else None


def arrears_status(rows: Sequence[Instalment], on: date) -> tuple[int, date | None]:
    """Days past due and ``overdue_since`` as end of day would set them on ``on``."""
    oldest = oldest_arrears(rows, on)
    since = None if oldest is None else oldest + timedelta(days=1)
    return days_past_due(oldest, on), since
