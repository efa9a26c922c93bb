"""Repayment intents and refunds over HTTP.

An applicant app records a repayment *intent* on its own loan (it cannot post money); a payment
channel confirms the intent with its reference and the amount it received, which posts the
repayment once (a repeated confirmation replays it: 200 with ``Idempotent-Replayed``). An
officer or admin may confirm too, naming the channel the money came through. Refunds of credit
left on closed loans are paid only when an officer or admin approves them; officers, admins and
analysts read every refund in ``/v1/refunds``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from creditgraph.api.auth import require
from creditgraph.api.context import ApiContext, get_context
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.loan_routes import (
    BORROWER_SIDE,
    CEILING,
    LENDER_SIDE,
    LOAN_NOT_VISIBLE,
    _actor,
    _visible_loan,
    call_money,
)
from creditgraph.api.routes import ERRORS, _call, _json_body, _only
from creditgraph.api.schemas import AMOUNT_PATTERN, _Body, parse, request_body_doc

router = APIRouter(prefix="/v1", tags=["payments"])

INTENT_READERS = (*BORROWER_SIDE, Role.ANALYST, Role.PAYMENT_CHANNEL)
CONFIRMERS = (Role.PAYMENT_CHANNEL, *LENDER_SIDE)
REFUND_READERS = (*LENDER_SIDE, Role.ANALYST)
INTENT_NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such repayment intent (or not visible to this key)"}
}
REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The same confirmation again: the intent as first confirmed, nothing "
        "posted (header Idempotent-Replayed: true)"
    }
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already confirmed otherwise, or the channel reference is used"}
}


class IntentIn(_Body):
    """The borrower will pay this amount by this method; nothing is posted until confirmed."""

    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='Amount in CNY as a decimal string, e.g. "1066.19".',
        examples=["1066.19"],
    )
    method: Literal["bank_card", "bank_transfer", "alipay", "wechat_pay"] = Field(
        description="How the borrower pays."
    )


class ConfirmIn(_Body):
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


class RefundIn(_Body):
    """An officer approves the payout of the refund due on a closed loan."""

    business_date: date | None = Field(default=None, description="Default: the open business date.")


def _intents(ctx: ApiContext) -> Any:
    from creditgraph.servicing.intents import IntentService

    return IntentService(ctx.loans())


def _own(key: KeyInfo) -> int | None:
    """The key an applicant app's reads are limited to (None: sees every intent)."""
    return key.id if key.role is Role.APPLICANT_APP else None


@router.post(
    "/loans/{loan_id}/repayment-intents",
    status_code=201,
    summary="Record an intent to repay (the borrower's app); a payment channel confirms it",
    responses=ERRORS | LOAN_NOT_VISIBLE | {409: {"description": "The loan takes no payments"}},
    openapi_extra=request_body_doc(IntentIn),
)
async def create_intent(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*BORROWER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body: IntentIn = parse(IntentIn, await _json_body(request))

    def create() -> Any:
        _visible_loan(ctx, key, loan_id)
        return _call(
            lambda: _intents(ctx).create(
                loan_id, body.amount, body.method, key_id=key.id, actor=_actor(key)
            )
        )

    return JsonResponse(await run_in_threadpool(create), status_code=201)


@router.get(
    "/loans/{loan_id}/repayment-intents",
    summary="A loan's repayment intents (an applicant app sees its own)",
    responses=_only(401, 403) | LOAN_NOT_VISIBLE,
)
def list_intents(
    loan_id: str,
    key: KeyInfo = Depends(require(*INTENT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    _visible_loan(ctx, key, loan_id)
    intents = _call(lambda: _intents(ctx).for_loan(loan_id, _own(key)))
    return JsonResponse({"intents": intents})


@router.get(
    "/repayment-intents/{intent_id}",
    summary="A repayment intent and, once confirmed, the repayment it posted",
    responses=_only(401, 403) | INTENT_NOT_VISIBLE,
)
def get_intent(
    intent_id: str,
    key: KeyInfo = Depends(require(*INTENT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(_call(lambda: _intents(ctx).get(intent_id, _own(key))))


@router.post(
    "/repayment-intents/{intent_id}/confirm",
    status_code=201,
    summary="Confirm an intent with the money the channel received: posts the repayment once",
    responses=ERRORS | CEILING | INTENT_NOT_VISIBLE | CONFLICT | REPLAYED,
    openapi_extra=request_body_doc(ConfirmIn),
)
async def confirm_intent(
    intent_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*CONFIRMERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body: ConfirmIn = parse(ConfirmIn, await _json_body(request))
    if key.role is Role.PAYMENT_CHANNEL:
        if body.channel is not None and body.channel != key.name.strip():
            raise ApiError(422, "validation_error", "a channel key confirms as itself", "channel")
        channel = key.name.strip()
    elif body.channel is None:
        raise ApiError(
            422, "validation_error", "name the channel the money came through", "channel"
        )
    else:
        channel = body.channel

    def confirm() -> Any:
        return call_money(
            lambda: _intents(ctx).confirm(
                intent_id,
                channel,
                body.channel_reference,
                body.amount,
                body.business_date,
                _actor(key),
            )
        )

    intent, replayed = await run_in_threadpool(confirm)
    if replayed:
        return JsonResponse(intent, status_code=200, headers={"Idempotent-Replayed": "true"})
    return JsonResponse(intent, status_code=201)


@router.post(
    "/loans/{loan_id}/refunds",
    status_code=201,
    summary="Approve the payout of the refund due on a closed loan (officer or admin)",
    responses=ERRORS | {404: {"description": "No such loan"}} | CONFLICT,
    openapi_extra=request_body_doc(RefundIn),
)
async def approve_refund(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    raw = (await request.body()).strip()
    body: RefundIn = parse(RefundIn, await _json_body(request) if raw else {})

    def approve() -> Any:
        return _call(
            lambda: ctx.loans().approve_refund(loan_id, key.name.strip(), body.business_date)
        )

    return JsonResponse(await run_in_threadpool(approve), status_code=201)


@router.get(
    "/refunds",
    summary="Every refund due or paid: loan, amount, approved by, dates",
    responses=_only(401, 403, 422),
)
def list_refunds(
    start: date | None = Query(default=None, alias="from", description="Due or paid on or after."),
    end: date | None = Query(default=None, alias="to", description="Due or paid on or before."),
    loan_id: str | None = Query(default=None, max_length=40),
    key: KeyInfo = Depends(require(*REFUND_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse({"refunds": _call(lambda: ctx.loans().refunds(start, end, loan_id))})
