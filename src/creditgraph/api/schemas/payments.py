"""Repayment intents, their confirmation by a payment channel, and refunds."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from creditgraph.api.schemas.common import AMOUNT_PATTERN, Body, Money, Timestamp


class IntentIn(Body):
    """The borrower will pay this amount by this method; nothing is posted until confirmed."""

    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='Amount in CNY as a decimal string, e.g. "1066.19".',
        examples=["1066.19"],
    )
    method: Literal["bank_card", "bank_transfer", "alipay", "wechat_pay"] = Field(
        description="How the borrower pays."
    )


class ConfirmIn(Body):
    """A payment channel received the money of an intent."""

    channel_reference: str = Field(
        min_length=1, max_length=200, description="The channel's own reference of the payment."
    )
    amount: str = Field(
        pattern=AMOUNT_PATTERN, description="The amount the channel received (decimal string)."
    )
    business_date: date = Field(description="The day the money arrived, ISO date.")
    channel: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Officer and admin keys only: the channel the money came through "
        "(a payment-channel key is its own channel).",
    )


class RefundIn(Body):
    """An officer approves the payout of the refund due on a closed loan."""

    business_date: date | None = Field(default=None, description="Default: the open business date.")


class IntentOut(BaseModel):
    """A repayment intent and, once confirmed, the repayment it posted."""

    intent_id: str
    loan_id: str
    kind: str
    amount: Money
    method: str
    status: str = Field(description="pending or confirmed.")
    created_at: Timestamp
    channel: str | None
    channel_reference: str | None
    confirmed_amount: Money | None
    confirmed_at: Timestamp | None
    transaction_id: str | None = Field(description="The repayment posted on confirmation.")


class IntentsOut(BaseModel):
    intents: list[IntentOut] = Field(description="Oldest first.")


class RefundOut(BaseModel):
    """A refund of credit left on a closed loan: due, paid or cancelled."""

    refund_id: str
    loan_id: str
    amount: Money
    status: str
    due_on: date
    source_transaction_id: str
    approved_by: str | None
    approved_at: Timestamp | None
    paid_on: date | None
    transaction_id: str | None


class RefundsOut(BaseModel):
    refunds: list[RefundOut]
