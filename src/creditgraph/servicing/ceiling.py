"""The most a loan may take on a day: what would settle it, less the credit held, plus a tolerance.

Pure. A payment a channel confirms is money the lender must hold or give back, so one beyond
what the loan can ever use is refused rather than booked as a credit to refund (a 2,000-yuan
loan once took 999,999,999,999.99). What would settle the loan is the larger of its payoff on
the day (everything due, the principal not yet due, its interest accrued to the day and the
prepayment fee, as a full prepayment would take) and every remaining instalment as scheduled (a
borrower may pay instalments ahead; the credit pays them as they fall due). It is computed from
the owing rows the repayment already read, so the check costs no query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from creditgraph.money import from_fen, to_fen
from creditgraph.servicing.errors import LoanInputError
from creditgraph.servicing.prepayment import fee_fen, prorata_fen


class OwingRow(Protocol):
    """What the ceiling reads of an instalment (the core's ``Instalment`` is one)."""

    @property
    def due_date(self) -> date: ...
    @property
    def period_start(self) -> date: ...
    @property
    def interest_due_fen(self) -> int: ...
    @property
    def interest_paid_fen(self) -> int: ...
    @property
    def interest_accrued_fen(self) -> int: ...
    @property
    def penalty_accrued_fen(self) -> int: ...
    @property
    def penalty_paid_fen(self) -> int: ...
    @property
    def owed_fen(self) -> int: ...
    @property
    def principal_left_fen(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Ceiling:
    """What would settle the loan on a day, the credit it holds and the tolerance, in fen."""

    outstanding_fen: int
    credit_fen: int
    tolerance_fen: int

    @property
    def most_fen(self) -> int:
        return max(0, self.outstanding_fen - self.credit_fen) + self.tolerance_fen

    @property
    def outstanding(self) -> Decimal:
        return from_fen(self.outstanding_fen)

    @property
    def credit(self) -> Decimal:
        return from_fen(self.credit_fen)

    @property
    def tolerance(self) -> Decimal:
        return from_fen(self.tolerance_fen)

    @property
    def most(self) -> Decimal:
        return from_fen(self.most_fen)

    def explain(self) -> str:
        held = f" - credit held {self.credit:,}" if self.credit_fen else ""
        return (
            f"{self.most:,} (outstanding {self.outstanding:,}{held} + tolerance {self.tolerance:,})"
        )


class OverpaymentError(LoanInputError):
    """A payment beyond the ceiling; nothing was posted. ``ceiling`` is the most allowed (yuan)."""

    field = "amount"

    def __init__(self, loan_id: str, ceiling: Ceiling) -> None:
        super().__init__(
            f"loan {loan_id}: amount exceeds the most that can be paid on this loan today: "
            f"{ceiling.explain()}"
        )
        self.loan_id = loan_id
        self.ceiling = ceiling.most
        self.detail = ceiling


def payoff_fen(rows: Sequence[OwingRow], on: date, prepayment_fee_rate: Decimal) -> int:
    """What a full prepayment on ``on`` would take: everything owed on rows due by ``on``, the
    principal of the later rows, the current period's interest to the day (at least what has
    accrued) and the prepayment fee on that principal. ``rows`` are the current rows still
    owing (rows paid in full may be left out)."""
    due = sum(r.owed_fen for r in rows if r.due_date <= on)
    future = [r for r in rows if r.due_date > on]
    if not future:
        return due
    principal = sum(r.principal_left_fen for r in future)
    current = future[0]
    to_day = prorata_fen(current.interest_due_fen, current.period_start, current.due_date, on)
    accrued = current.interest_accrued_fen - current.interest_paid_fen
    interest = max(to_day - current.interest_paid_fen, accrued, 0)
    penalty = sum(r.penalty_accrued_fen - r.penalty_paid_fen for r in future)
    return int(due + principal + interest + penalty + fee_fen(principal, prepayment_fee_rate))


def ceiling_of(
    rows: Sequence[OwingRow],
    on: date,
    prepayment_fee_rate: Decimal,
    credit_fen: int,
    tolerance: Decimal,
) -> Ceiling:
    """The ceiling of a loan whose owing rows are ``rows`` and that holds ``credit_fen``."""
    scheduled = sum(r.owed_fen for r in rows)
    outstanding = max(payoff_fen(rows, on, prepayment_fee_rate), scheduled)
    return Ceiling(outstanding, credit_fen, to_fen(tolerance))
