"""Applications, decisions and human review: what is sent and what comes back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from creditgraph.api.schemas.common import AMOUNT_PATTERN, Body, Money, Rate, Timestamp


class ApplicationIn(Body):
    """A loan application for a person already known to the platform."""

    person_id: str = Field(min_length=1, max_length=200, description="The person's id.")
    product_code: str = Field(min_length=1, max_length=50, description="A catalogue product.")
    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='Amount in CNY as a decimal string, at most two decimals, e.g. "20000.00".',
        examples=["20000.00"],
    )
    term: int = Field(ge=1, le=600, description="Term in months.")
    purpose: str = Field(min_length=1, max_length=50, description="The loan's purpose.")
    schedule_type: str | None = Field(
        default=None,
        max_length=30,
        description="Repayment schedule; the product's default if absent.",
    )

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)


class ReviewRequestIn(Body):
    """A borrower's request that a person review an automated decision (PIPL Art. 24)."""

    note: str | None = Field(default=None, max_length=2000, description="Why a review is asked.")


class ReviewResolutionIn(Body):
    """An officer's verdict after a human review: approve or decline, always with a note."""

    approve: bool = Field(description="true approves the application, false declines it.")
    note: str = Field(min_length=1, max_length=2000, description="The reviewer's reasoning.")


class ReviewStatus(StrEnum):
    """Where a review request stands; ``resolved`` is approved or declined."""

    OPEN = "open"
    TAKEN = "taken"
    RESOLVED = "resolved"
    APPROVED = "approved"
    DECLINED = "declined"


class ReviewOut(BaseModel):
    """A request for a person to review a decision, and where it stands."""

    id: str
    decision_id: str
    kind: str = Field(
        description="referral (the policy referred it), borrower_request, monitoring (an "
        "alert of risk monitoring asked for it), or objection (filed as a subject request)."
    )
    status: str = Field(description="open, taken, approved or declined.")
    requested_by: str
    note: str | None
    created_at: Timestamp
    taken_by: str | None
    taken_at: Timestamp | None
    resolved_by: str | None
    resolved_at: Timestamp | None
    resolution_note: str | None


class ReviewQueueOut(BaseModel):
    items: list[ReviewOut] = Field(description="Oldest first.")


class VersionOut(BaseModel):
    """The version and content hash of a policy, catalogue or configuration a decision used."""

    version: str
    hash: str


class ReasonOut(BaseModel):
    """A reason the applicant is told, in Chinese and English."""

    code: str
    source: str = Field(description="policy or model.")
    zh: str
    en: str


class FiredRuleOut(BaseModel):
    id: str
    stage: str
    outcome: str
    zh: str
    en: str


class OfferOut(BaseModel):
    """A priced offer: its terms, the all-in annualised rate under the cap, its schedule."""

    product_code: str
    amount: Money
    term_months: int
    schedule_type: str
    requested: bool = Field(description="Whether this is the amount and term applied for.")
    nominal_rate: Rate
    all_in_rate: Rate
    rate_cap: Rate
    upfront_fee: Money
    net_disbursement: Money
    prepayment_fee_rate: Rate
    total_cost: Money
    schedule: dict[str, Any] = Field(description="rows (one per instalment) and totals.")


class DecisionOut(BaseModel):
    """A stored decision: outcome, reasons, limit, offers, and what it was computed from."""

    id: str
    created_at: Timestamp
    as_of: date
    person_id: str = Field(description="The person's pseudonym, never the lender's own id.")
    applicant_ref: str | None = Field(description="The API key that applied, if one did.")
    product_code: str
    amount: Money
    term_months: int
    purpose: str
    schedule_type: str
    outcome: str = Field(description="approve, decline or refer.")
    limit: Money
    pd: float | None
    score: float | None
    grade: str | None
    model_id: str | None
    policy: VersionOut
    catalogue: VersionOut
    config: VersionOut
    inputs_hash: str
    feature_snapshot_id: str | None
    features_as_of: date | None
    social_data_used: bool
    fired_rules: list[FiredRuleOut]
    reasons: list[ReasonOut] = Field(description="At most four.")
    offers: list[OfferOut]
    limit_detail: dict[str, Any] | None
    reviews: list[ReviewOut]
