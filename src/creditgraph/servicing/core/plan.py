"""What a processor returns: a :class:`PostingPlan`, everything a posting will write, as values.

The book applies a plan in one transaction (instalment changes in one batched statement, the
transaction row and its journal lines, the loan's update, events, a refund due); nothing in a
plan has touched the database yet, so a plan can be tested, compared and checked for balance
on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from creditgraph.servicing.accounts import Account, Line


class TransactionKind(StrEnum):
    DISBURSEMENT = "disbursement"
    REPAYMENT = "repayment"
    PREPAYMENT = "prepayment"
    ACCRUAL = "accrual"
    PENALTY = "penalty"
    WRITE_OFF = "write_off"
    REVERSAL = "reversal"
    FEE = "fee"
    REFUND = "refund"  # borrower credit paid back, when an officer approves it


REVERSIBLE_KINDS = frozenset({TransactionKind.REPAYMENT.value, TransactionKind.PREPAYMENT.value})
"""Kinds of transaction a reversal can take back."""

CURRENT: Mapping[str, Any] = {"dpd": 0, "bucket": "M0", "overdue_since": None, "npa": False}
"""The delinquency fields of a loan with nothing past due."""


@dataclass(frozen=True, slots=True)
class InstalmentDelta:
    """What one posting changes on one instalment (fen): paid per component, interest accrued
    on payment, and memo penalty (accrued off balance while NPA) paid.

    Stored with the transaction as ``[id, principal, interest, fee, penalty, accrued, memo]``
    so a reversal can take back exactly this; records written before memo penalty have six
    slots (no memo paid).
    """

    instalment_id: int
    principal_fen: int = 0
    interest_fen: int = 0
    fee_fen: int = 0
    penalty_fen: int = 0
    interest_accrued_fen: int = 0
    memo_paid_fen: int = 0

    @property
    def paid_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.fee_fen + self.penalty_fen

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.principal_fen
            or self.interest_fen
            or self.fee_fen
            or self.penalty_fen
            or self.interest_accrued_fen
            or self.memo_paid_fen
        )

    def record(self) -> list[int]:
        """The stored seven-slot record."""
        return [
            self.instalment_id,
            self.principal_fen,
            self.interest_fen,
            self.fee_fen,
            self.penalty_fen,
            self.interest_accrued_fen,
            self.memo_paid_fen,
        ]

    @classmethod
    def from_record(cls, record: Sequence[int]) -> InstalmentDelta:
        """A stored record, seven slots or the six of records from before memo penalty."""
        if len(record) not in (6, 7):
            raise ValueError(f"an instalment delta has 6 or 7 slots, got {list(record)}")
        memo = int(record[6]) if len(record) == 7 else 0
        row_id, principal, interest, fee, penalty, accrued = (int(x) for x in record[:6])
        return cls(row_id, principal, interest, fee, penalty, accrued, memo)

    def negated(self) -> InstalmentDelta:
        """The change that takes this one back."""
        return InstalmentDelta(
            self.instalment_id,
            -self.principal_fen,
            -self.interest_fen,
            -self.fee_fen,
            -self.penalty_fen,
            -self.interest_accrued_fen,
            -self.memo_paid_fen,
        )


@dataclass(frozen=True, slots=True)
class NewInstalment:
    """An instalment a plan creates (a disbursement's schedule, a prepayment's new one)."""

    number: int
    due_date: date
    period_start: date
    principal_due_fen: int
    interest_due_fen: int
    fee_due_fen: int
    interest_accrued_fen: int = 0
    schedule_version: int = 0

    @property
    def owed_fen(self) -> int:
        return self.principal_due_fen + self.interest_due_fen + self.fee_due_fen


@dataclass(frozen=True, slots=True)
class StateEvent:
    """One lifecycle event of the loan (its audit trail)."""

    from_state: str | None
    to_state: str
    event: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PenaltyCharge:
    """Penalty added to an instalment after the fact (booked and memo parts, fen)."""

    instalment_id: int
    accrued_fen: int
    memo_fen: int


@dataclass(frozen=True, slots=True)
class RefundPayout:
    """A refund due, paid by this plan's posting as an officer approved it."""

    refund_id: str
    approved_by: str
    paid_on: date


@dataclass(frozen=True)
class PostingPlan:
    """One posting to one loan and everything that goes with it, ready for the book.

    ``detail`` is what the transaction row keeps (the stored delta records among it);
    ``created_instalments_key`` names the detail field that receives the ids of the
    instalments the book inserts (a prepayment's new schedule), when there are any.
    """

    loan_id: str
    kind: TransactionKind
    business_date: date
    amount_fen: int
    actor: str
    lines: tuple[Line, ...]
    detail: Mapping[str, Any]
    deltas: tuple[InstalmentDelta, ...] = ()
    new_instalments: tuple[NewInstalment, ...] = ()
    supersede: tuple[int, ...] = ()
    restore_instalments: tuple[int, ...] = ()
    delete_instalments: tuple[int, ...] = ()
    loan_values: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[StateEvent, ...] = ()
    refund_due_fen: int = 0
    reversal_of: str | None = None
    mark_reversed: tuple[str, ...] = ()
    cancel_refund: str | None = None
    refund_payout: RefundPayout | None = None
    penalty_charges: tuple[PenaltyCharge, ...] = ()
    follow_up: PostingPlan | None = None
    created_instalments_key: str | None = None
    transaction_id: str | None = None

    @property
    def state_after(self) -> str:
        return str(self.detail.get("state_after", ""))


class Lines:
    """Journal lines accumulated per account and side; zero amounts are dropped."""

    __slots__ = ("_cr", "_dr")

    def __init__(self) -> None:
        self._dr: dict[Account, int] = {}
        self._cr: dict[Account, int] = {}

    def dr(self, account: Account, fen: int) -> None:
        if fen:
            self._dr[account] = self._dr.get(account, 0) + fen

    def cr(self, account: Account, fen: int) -> None:
        if fen:
            self._cr[account] = self._cr.get(account, 0) + fen

    def lines(self) -> tuple[Line, ...]:
        return (
            *(Line(a, debit_fen=f) for a, f in self._dr.items()),
            *(Line(a, credit_fen=f) for a, f in self._cr.items()),
        )
