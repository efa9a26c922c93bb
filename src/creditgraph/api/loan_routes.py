"""The ``/v1/loans`` endpoints: accept an offer, disburse, repay, prepay, reverse, read.

Postings (disbursement, repayment, prepayment, reversal) are idempotent in the ledger itself:
the ``Idempotency-Key`` header becomes the posting's key, scoped to the calling API key, so a
retry returns the first posting and a reused key with another body is a 409. An applicant app
sees only loans from its own decisions and pays through repayment intents
(:mod:`creditgraph.api.payment_routes`); money is posted only by a payment channel's key;
disbursing and reversing are the lender's. A payment beyond the loan's ceiling is a 422
``overpayment_ceiling`` carrying the ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import (
    BORROWER_SIDE,
    IDEMPOTENCY_KEY,
    LENDER_SIDE,
    MONEY_IN,
    READERS,
    BodyT,
    actor,
    body_of,
    call,
    call_money,
    get_context,
    in_worker,
    own_ref,
    require,
    visible_loan,
)
from creditgraph.api.errors import ApiError
from creditgraph.api.idempotency import checked
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo
from creditgraph.api.schemas.common import request_body_doc
from creditgraph.api.schemas.errors import ERRORS, Responses, error, not_found, only
from creditgraph.api.schemas.loans import (
    DisbursementIn,
    LoanAcceptIn,
    LoanOut,
    PostingOut,
    PrepaymentIn,
    RepaymentIn,
    ReversalIn,
    StatementOut,
)

if TYPE_CHECKING:
    from creditgraph.servicing.loans import LoanService

router = APIRouter(prefix="/v1", tags=["loans"])

LOAN_NOT_VISIBLE = not_found("loan")
STATE: Responses = {409: error("Not allowed in the loan's state, or Idempotency-Key reused")}
CEILING: Responses = {
    422: error(
        "Validation error (error.field names the field); a payment beyond the loan's ceiling "
        "has code overpayment_ceiling and the ceiling in error.ceiling"
    )
}
POSTED: Responses = {
    201: {"description": "Posted; a retry with the same key replays it (Idempotent-Replayed)"}
}


@dataclass(frozen=True, slots=True)
class Posting:
    """Who posts: the ledger's idempotency key, the actor, and the applicant it is limited to."""

    key: str | None
    actor: str
    visible_to: str | None


def _posting_key(key: KeyInfo, header: str | None) -> str | None:
    """The ledger's idempotency key: the client's, scoped to its API key (or None: generated)."""
    return None if header is None else f"k{key.id}:{checked(header)}"


def _posted(result: Any) -> JsonResponse:
    body = result.to_dict()
    headers = {"Idempotent-Replayed": "true"} if body.get("replayed") else None
    return JsonResponse(body, status_code=201, headers=headers)


async def _posting(
    request: Request,
    ctx: ApiContext,
    key: KeyInfo,
    idem_key: str | None,
    model: type[BodyT],
    post: Callable[[LoanService, BodyT, Posting], Any],
    empty_body_ok: bool = False,
) -> JsonResponse:
    """Parse the body, scope the key and post (one worker-thread trip).

    ``post(loans, body, posting)`` makes the service call. The loan service checks that the key
    may see the loan on the row it locks for the posting, so ownership costs no read of its own
    and cannot change between the check and the posting. With ``empty_body_ok`` an empty body
    counts as ``{}`` (a reversal's fields are all optional).
    """
    body = await body_of(request, model, empty_ok=empty_body_ok)
    posting = Posting(_posting_key(key, idem_key), actor(key), own_ref(key))
    return _posted(await in_worker(lambda: call_money(lambda: post(ctx.loans(), body, posting))))


@router.post(
    "/loans",
    status_code=201,
    summary="Accept an offer of an approved decision: the loan is created (state accepted)",
    response_model=LoanOut,
    responses=ERRORS | not_found("decision"),
    openapi_extra=request_body_doc(LoanAcceptIn),
)
async def accept_offer(
    request: Request,
    key: KeyInfo = Depends(require(*BORROWER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    accept_in = await body_of(request, LoanAcceptIn)

    def accept() -> dict[str, Any]:
        from creditgraph.servicing.errors import LoanNotFoundError

        # Whose decision it is, is checked in the accepting transaction (one read, no race).
        try:
            return ctx.loans().accept(
                accept_in.decision_id, accept_in.offer_index, actor(key), visible_to=own_ref(key)
            )
        except LoanNotFoundError:
            raise ApiError(404, "not_found", "no such decision") from None

    return JsonResponse(await in_worker(accept), status_code=201)


@router.get(
    "/loans/{loan_id}",
    summary="A loan: terms, all-in annualised rate, schedule with what is paid, balances",
    response_model=LoanOut,
    responses=only(401, 403) | LOAN_NOT_VISIBLE,
)
def get_loan(
    loan_id: str,
    key: KeyInfo = Depends(require(*READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(visible_loan(ctx, key, loan_id))


@router.get(
    "/loans/{loan_id}/statement",
    summary="A loan's statement: every transaction with its journal lines",
    response_model=StatementOut,
    responses=only(401, 403) | LOAN_NOT_VISIBLE,
)
def get_statement(
    loan_id: str,
    key: KeyInfo = Depends(require(*READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    visible_loan(ctx, key, loan_id)
    return JsonResponse(call(lambda: ctx.loans().statement(loan_id)))


@router.post(
    "/loans/{loan_id}/disbursements",
    status_code=201,
    summary="Pay out an accepted loan on a business date (the lender's side)",
    response_model=PostingOut,
    responses=POSTED | ERRORS | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(DisbursementIn),
)
async def disburse(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    idem_key: str | None = IDEMPOTENCY_KEY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        DisbursementIn,
        lambda loans, body, p: loans.disburse(
            loan_id, body.business_date, p.key, p.actor, visible_to=p.visible_to
        ),
    )


@router.post(
    "/loans/{loan_id}/repayments",
    status_code=201,
    summary="Post a repayment a payment channel received (payment-channel keys only): "
    "allocated penalty, fee, interest, principal, oldest due first",
    response_model=PostingOut,
    responses=POSTED | ERRORS | CEILING | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(RepaymentIn),
)
async def repay(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*MONEY_IN)),
    idem_key: str | None = IDEMPOTENCY_KEY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        RepaymentIn,
        lambda loans, body, p: loans.repay(
            loan_id,
            body.amount,
            body.business_date,
            p.key,
            p.actor,
            channel=key.name.strip(),
            visible_to=p.visible_to,
        ),
    )


@router.post(
    "/loans/{loan_id}/prepayments",
    status_code=201,
    summary="Prepay (提前还款) part or all of the principal (payment-channel keys only): "
    "shorter term or lower instalment",
    response_model=PostingOut,
    responses=POSTED | ERRORS | CEILING | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(PrepaymentIn),
)
async def prepay(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*MONEY_IN)),
    idem_key: str | None = IDEMPOTENCY_KEY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        PrepaymentIn,
        lambda loans, body, p: loans.prepay(
            loan_id,
            body.business_date,
            amount=body.amount,
            full=body.full,
            mode=body.mode,
            key=p.key,
            actor=p.actor,
            channel=key.name.strip(),
            visible_to=p.visible_to,
        ),
    )


@router.post(
    "/loans/{loan_id}/transactions/{transaction_id}/reversals",
    status_code=201,
    summary="Reverse a repayment or prepayment (the lender's side): its exact mirror is posted",
    response_model=PostingOut,
    responses=POSTED | ERRORS | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(ReversalIn),
)
async def reverse(
    loan_id: str,
    transaction_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    idem_key: str | None = IDEMPOTENCY_KEY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        ReversalIn,
        lambda loans, body, p: loans.reverse(
            transaction_id,
            p.key,
            body.business_date,
            p.actor,
            body.note,
            loan_id=loan_id,
            visible_to=p.visible_to,
        ),
        empty_body_ok=True,
    )
