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
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import (
    BORROWER_SIDE,
    LENDER_SIDE,
    actor,
    body_of,
    call,
    call_money,
    get_context,
    in_worker,
    intents,
    require,
    visible_loan,
)
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.loan_routes import CEILING, LOAN_NOT_VISIBLE
from creditgraph.api.schemas.common import request_body_doc
from creditgraph.api.schemas.errors import ERRORS, Responses, error, not_found, only
from creditgraph.api.schemas.payments import (
    ConfirmIn,
    IntentIn,
    IntentOut,
    IntentsOut,
    RefundIn,
    RefundOut,
    RefundsOut,
)

router = APIRouter(prefix="/v1", tags=["payments"])

INTENT_READERS = (*BORROWER_SIDE, Role.ANALYST, Role.PAYMENT_CHANNEL)
CONFIRMERS = (Role.PAYMENT_CHANNEL, *LENDER_SIDE)
REFUND_READERS = (*LENDER_SIDE, Role.ANALYST)
INTENT_NOT_VISIBLE = not_found("repayment intent")
REPLAYED: Responses = {
    200: {
        "description": "The same confirmation again: the intent as first confirmed, nothing "
        "posted (header Idempotent-Replayed: true)",
        "model": IntentOut,
        "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
    }
}
CONFLICT: Responses = {409: error("Already confirmed otherwise, or the channel reference is used")}


def _own(key: KeyInfo) -> int | None:
    """The key an applicant app's reads are limited to (None: sees every intent)."""
    return key.id if key.role is Role.APPLICANT_APP else None


@router.post(
    "/loans/{loan_id}/repayment-intents",
    status_code=201,
    summary="Record an intent to repay (the borrower's app); a payment channel confirms it",
    response_model=IntentOut,
    responses=ERRORS | LOAN_NOT_VISIBLE | {409: error("The loan takes no payments")},
    openapi_extra=request_body_doc(IntentIn),
)
async def create_intent(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*BORROWER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, IntentIn)

    def create() -> dict[str, Any]:
        visible_loan(ctx, key, loan_id)
        return intents(ctx).create(
            loan_id, body.amount, body.method, key_id=key.id, actor=actor(key)
        )

    return JsonResponse(await in_worker(create), status_code=201)


@router.get(
    "/loans/{loan_id}/repayment-intents",
    summary="A loan's repayment intents (an applicant app sees its own)",
    response_model=IntentsOut,
    responses=only(401, 403) | LOAN_NOT_VISIBLE,
)
def list_intents(
    loan_id: str,
    key: KeyInfo = Depends(require(*INTENT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    visible_loan(ctx, key, loan_id)
    return JsonResponse({"intents": call(lambda: intents(ctx).for_loan(loan_id, _own(key)))})


@router.get(
    "/repayment-intents/{intent_id}",
    summary="A repayment intent and, once confirmed, the repayment it posted",
    response_model=IntentOut,
    responses=only(401, 403) | INTENT_NOT_VISIBLE,
)
def get_intent(
    intent_id: str,
    key: KeyInfo = Depends(require(*INTENT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(call(lambda: intents(ctx).get(intent_id, _own(key))))


@router.post(
    "/repayment-intents/{intent_id}/confirm",
    status_code=201,
    summary="Confirm an intent with the money the channel received: posts the repayment once",
    response_model=IntentOut,
    responses=ERRORS | CEILING | INTENT_NOT_VISIBLE | CONFLICT | REPLAYED,
    openapi_extra=request_body_doc(ConfirmIn),
)
async def confirm_intent(
    intent_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*CONFIRMERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, ConfirmIn)
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

    def confirm() -> tuple[dict[str, Any], bool]:
        return call_money(
            lambda: intents(ctx).confirm(
                intent_id,
                channel,
                body.channel_reference,
                body.amount,
                body.business_date,
                actor(key),
            )
        )

    intent, replayed = await in_worker(confirm)
    if replayed:
        return JsonResponse(intent, status_code=200, headers={"Idempotent-Replayed": "true"})
    return JsonResponse(intent, status_code=201)


@router.post(
    "/loans/{loan_id}/refunds",
    status_code=201,
    summary="Approve the payout of the refund due on a closed loan (officer or admin)",
    response_model=RefundOut,
    responses=ERRORS | {404: error("No such loan")} | CONFLICT,
    openapi_extra=request_body_doc(RefundIn),
)
async def approve_refund(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, RefundIn, empty_ok=True)
    approved = await in_worker(
        lambda: ctx.loans().approve_refund(loan_id, key.name.strip(), body.business_date)
    )
    return JsonResponse(approved, status_code=201)


@router.get(
    "/refunds",
    summary="Every refund due or paid: loan, amount, approved by, dates",
    response_model=RefundsOut,
    responses=only(401, 403, 422),
)
def list_refunds(
    start: date | None = Query(default=None, alias="from", description="Due or paid on or after."),
    end: date | None = Query(default=None, alias="to", description="Due or paid on or before."),
    loan_id: str | None = Query(default=None, max_length=40),
    key: KeyInfo = Depends(require(*REFUND_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse({"refunds": call(lambda: ctx.loans().refunds(start, end, loan_id))})
