"""The typed values a processor works on: a loan as it stands, its instalments, a posted
transaction. Money is integer fen; nothing here knows where the values were read from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from creditgraph.servicing.allocation import AllocationRule, Component


@dataclass(frozen=True, slots=True)
class LoanSnapshot:
    """One loan as the posting found it (locked): its state, terms, credit and status.

    ``books_closed_through`` is the last business date whose end of day completed, read with
    the loan so a posting needs no second query for the date rule.
    """

    id: str
    state: str
    applicant_ref: str | None
    product_code: str
    principal_fen: int
    upfront_fee_fen: int
    fee_per_period_fen: int
    nominal_rate: Decimal
    penalty_rate: Decimal
    prepayment_fee_rate: Decimal
    allocation: AllocationRule
    method: str
    frequency: str
    day_count: str
    periods: int
    credit_fen: int
    dpd: int
    bucket: str
    overdue_since: date | None
    npa: bool
    maturity: date | None
    disbursed_on: date | None
    accrued_through: date | None
    version: int
    schedule_version: int
    books_closed_through: date | None = None


@dataclass(frozen=True, slots=True)
class Instalment:
    """One current instalment: what is due, accrued and paid on it, per component (fen)."""

    id: int
    number: int
    due_date: date
    period_start: date
    principal_due_fen: int
    interest_due_fen: int
    fee_due_fen: int
    principal_paid_fen: int = 0
    interest_paid_fen: int = 0
    fee_paid_fen: int = 0
    interest_accrued_fen: int = 0
    penalty_accrued_fen: int = 0
    penalty_paid_fen: int = 0
    penalty_memo_fen: int = 0
    schedule_version: int = 0
    superseded: bool = False

    def outstanding(self) -> dict[Component, int]:
        """What is left to pay, per component (the allocation's view of the row)."""
        return {
            Component.PENALTY: self.penalty_accrued_fen - self.penalty_paid_fen,
            Component.FEE: self.fee_due_fen - self.fee_paid_fen,
            Component.INTEREST: self.interest_due_fen - self.interest_paid_fen,
            Component.PRINCIPAL: self.principal_due_fen - self.principal_paid_fen,
        }

    @property
    def owed_fen(self) -> int:
        return (
            self.penalty_accrued_fen
            - self.penalty_paid_fen
            + self.fee_due_fen
            - self.fee_paid_fen
            + self.interest_due_fen
            - self.interest_paid_fen
            + self.principal_due_fen
            - self.principal_paid_fen
        )

    @property
    def principal_left_fen(self) -> int:
        return self.principal_due_fen - self.principal_paid_fen

    @property
    def has_payments(self) -> bool:
        return bool(self.principal_paid_fen or self.interest_paid_fen or self.fee_paid_fen)


@dataclass(frozen=True, slots=True)
class PostedTransaction:
    """A transaction already on the books, as a reversal needs it: its stored detail (the
    allocation it made) and its journal lines (account, debit fen, credit fen)."""

    id: str
    loan_id: str
    kind: str
    business_date: date
    amount_fen: int
    created_at: datetime
    detail: Mapping[str, Any]
    reversed_by: str | None = None
    lines: Sequence[tuple[str, int, int]] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """A refund of a closed loan's credit: due, paid or cancelled."""

    id: str
    amount_fen: int
    status: str
    due_on: date
    source_transaction_id: str
    approved_by: str | None = None
    paid_on: date | None = None
