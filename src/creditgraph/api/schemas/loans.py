"""Loans and their postings: accept, disburse, repay, prepay, reverse, read."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from creditgraph.api.schemas.common import AMOUNT_PATTERN, Body, Money, Rate


class LoanAcceptIn(Body):
    """The borrower accepts one offer of an approved decision."""

    decision_id: str = Field(min_length=1, max_length=40, description="An approved decision.")
    offer_index: int = Field(default=0, ge=0, le=20, description="Which of its offers (0 first).")


class DisbursementIn(Body):
    """The lender pays the loan out; the schedule starts on this business date."""

    business_date: date = Field(description="ISO date, e.g. 2026-07-01.")


class RepaymentIn(Body):
    """Money received from the borrower on a business date."""

    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='Amount in CNY as a decimal string, at most two decimals, e.g. "1200.50".',
        examples=["1200.50"],
    )
    business_date: date = Field(description="The day the money arrived, ISO date.")


class PrepaymentIn(Body):
    """Principal repaid early: an amount of principal, or all of it."""

    business_date: date = Field(description="ISO date of the prepayment.")
    amount: str | None = Field(
        default=None,
        pattern=AMOUNT_PATTERN,
        description="Principal to prepay in CNY (decimal string); leave out with full=true.",
    )
    full: bool = Field(default=False, description="Prepay all the principal and close the loan.")
    mode: Literal["shorter_term", "lower_instalment"] = Field(
        default="shorter_term",
        description="After a partial prepayment: keep the instalment and finish earlier "
        "(shorter_term), or keep the maturity and pay less (lower_instalment).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> PrepaymentIn:
        if (self.amount is None) == (not self.full):
            raise ValueError("give either an amount of principal or full=true, not both")
        return self


class ReversalIn(Body):
    """Why a posting is reversed (e.g. a payment the bank returned)."""

    business_date: date | None = Field(default=None, description="Defaults to the original's.")
    note: str | None = Field(default=None, max_length=2000)


class InstalmentOut(BaseModel):
    """One instalment of the current schedule: what is due, paid and still owed."""

    n: int
    due_date: date
    principal: Money
    interest: Money
    fee: Money
    paid: Money = Field(description="Principal, interest, fee and penalty paid so far.")
    penalty: Money = Field(description="Penalty accrued.")
    outstanding: Money


class LoanOut(BaseModel):
    """A loan: terms, state, the all-in annualised rate, balances and the current schedule."""

    loan_id: str
    decision_id: str
    applicant_ref: str | None
    offer_index: int
    product_code: str
    state: str = Field(description="accepted, active, closed, written_off, ...")
    principal: Money
    upfront_fee: Money
    nominal_rate: Rate
    penalty_rate: Rate
    all_in_rate: Rate | None
    prepayment_fee_rate: Rate
    method: str
    frequency: str
    periods: int
    disbursed_on: date | None
    maturity: date | None
    closed_on: date | None
    dpd: int = Field(description="Days past due.")
    bucket: str = Field(description="Delinquency bucket, M0 to M6+.")
    npa: bool = Field(description="Non-performing: interest no longer booked as income.")
    principal_outstanding: Money
    credit: Money = Field(description="Money held for the borrower beyond what is owed.")
    schedule: list[InstalmentOut]


class PostingOut(BaseModel):
    """What a posting did, or, replayed under the same Idempotency-Key, what the first did."""

    transaction_id: str
    loan_id: str
    kind: str = Field(description="disbursement, repayment, prepayment or reversal.")
    idempotency_key: str
    amount: Money
    business_date: date
    state: str = Field(description="The loan's state after the posting.")
    replayed: bool = Field(description="true when this answers a retry (nothing posted again).")
    detail: dict[str, Any] = Field(description="How the money was allocated, and more.")


class JournalLineOut(BaseModel):
    account: str
    debit: Money
    credit: Money


class StatementPostingOut(BaseModel):
    transaction_id: str
    kind: str
    business_date: date
    amount: Money
    reversal_of: str | None
    reversed_by: str | None
    lines: list[JournalLineOut]


class StatementOut(BaseModel):
    """Every posting of a loan, oldest first, with its journal lines and closing balances."""

    loan_id: str
    state: str
    postings: list[StatementPostingOut]
    balances: dict[str, Money] = Field(description="Each account's balance on its normal side.")
