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
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from creditgraph.api.auth import owns, require
from creditgraph.api.context import ApiContext, get_context
from creditgraph.api.errors import ApiError
from creditgraph.api.idempotency import check_key
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.routes import ERRORS, IDEMPOTENCY, _call, _json_body, _only
from creditgraph.api.schemas import (
    DisbursementIn,
    LoanAcceptIn,
    PrepaymentIn,
    RepaymentIn,
    ReversalIn,
    parse,
    request_body_doc,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from creditgraph.servicing.loans import LoanService

BodyT = TypeVar("BodyT", bound="BaseModel")
T = TypeVar("T")
router = APIRouter(prefix="/v1", tags=["loans"])

LOAN_NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such loan (or not visible to this key)"}
}
STATE: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the loan's state, or Idempotency-Key reused"}
}
BORROWER_SIDE = (Role.APPLICANT_APP, Role.OFFICER, Role.ADMIN)
LENDER_SIDE = (Role.OFFICER, Role.ADMIN)
MONEY_IN = (Role.PAYMENT_CHANNEL,)
"""Who posts repayments and prepayments: money is what a payment channel received."""
READERS = (Role.APPLICANT_APP, Role.OFFICER, Role.ANALYST, Role.ADMIN)
CEILING: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Validation error (error.field names the field); a payment beyond the "
        "loan's ceiling has code overpayment_ceiling and the ceiling in error.ceiling"
    }
}


class CeilingError(ApiError):
    """A payment beyond the most the loan can take today: the 422 carries that ceiling."""

    def __init__(self, message: str, ceiling: object) -> None:
        super().__init__(422, "overpayment_ceiling", message, "amount")
        self.ceiling = str(ceiling)

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["ceiling"] = self.ceiling
        return body


def call_money(action: Callable[[], T]) -> T:
    """:func:`_call` for a service call that takes money: an overpayment names the ceiling."""
    from creditgraph.servicing.ceiling import OverpaymentError

    def guarded() -> T:
        try:
            return action()
        except OverpaymentError as exc:
            raise CeilingError(str(exc), exc.ceiling) from None

    result: T = _call(guarded)
    return result


def _actor(key: KeyInfo) -> str:
    return f"api-key:{key.id}"


def _posting_key(key: KeyInfo, header: str | None) -> str | None:
    """The ledger's idempotency key: the client's, scoped to its API key (or None: generated)."""
    return None if header is None else f"k{key.id}:{check_key(header)}"


def _visible_loan(ctx: ApiContext, key: KeyInfo, loan_id: str) -> dict[str, Any]:
    """The loan, or 404 when it does not exist or belongs to another applicant app."""
    loan: dict[str, Any] = _call(lambda: ctx.loans().show(loan_id))
    if not owns(key, loan):
        raise ApiError(404, "not_found", "no such loan")
    return loan


def _posted(result: Any) -> JsonResponse:
    body = result.to_dict()
    headers = {"Idempotent-Replayed": "true"} if body.get("replayed") else None
    return JsonResponse(body, status_code=201, headers=headers)


async def _posting(
    request: Request,
    ctx: ApiContext,
    key: KeyInfo,
    idem_key: str | None,
    loan_id: str,
    model: type[BodyT],
    post: Callable[[LoanService, BodyT, str | None], Any],
    empty_body_ok: bool = False,
) -> JsonResponse:
    """Parse the body, scope the key, check visibility and post (one worker-thread trip).

    ``post(loans, body, posting_key)`` makes the service call; with ``empty_body_ok`` an empty
    body counts as ``{}`` (a reversal's fields are all optional).
    """
    empty = empty_body_ok and not (await request.body()).strip()
    body: BodyT = parse(model, {} if empty else await _json_body(request))
    posting_key = _posting_key(key, idem_key)

    def run() -> Any:
        _visible_loan(ctx, key, loan_id)
        return call_money(lambda: post(ctx.loans(), body, posting_key))

    return _posted(await run_in_threadpool(run))


@router.post(
    "/loans",
    status_code=201,
    summary="Accept an offer of an approved decision: the loan is created (state accepted)",
    responses=ERRORS | {404: {"description": "No such decision (or not visible to this key)"}},
    openapi_extra=request_body_doc(LoanAcceptIn),
)
async def accept_offer(
    request: Request,
    key: KeyInfo = Depends(require(*BORROWER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    accept_in: LoanAcceptIn = parse(LoanAcceptIn, await _json_body(request))

    def accept() -> Any:
        decision: dict[str, Any] = _call(lambda: ctx.service().get(accept_in.decision_id))
        if not owns(key, decision):
            raise ApiError(404, "not_found", "no such decision")
        return _call(
            lambda: ctx.loans().accept(accept_in.decision_id, accept_in.offer_index, _actor(key))
        )

    return JsonResponse(await run_in_threadpool(accept), status_code=201)


@router.get(
    "/loans/{loan_id}",
    summary="A loan: terms, all-in annualised rate, schedule with what is paid, balances",
    responses=_only(401, 403) | LOAN_NOT_VISIBLE,
)
def get_loan(
    loan_id: str,
    key: KeyInfo = Depends(require(*READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(_visible_loan(ctx, key, loan_id))


@router.get(
    "/loans/{loan_id}/statement",
    summary="A loan's statement: every transaction with its journal lines",
    responses=_only(401, 403) | LOAN_NOT_VISIBLE,
)
def get_statement(
    loan_id: str,
    key: KeyInfo = Depends(require(*READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    _visible_loan(ctx, key, loan_id)
    return JsonResponse(_call(lambda: ctx.loans().statement(loan_id)))


@router.post(
    "/loans/{loan_id}/disbursements",
    status_code=201,
    summary="Pay out an accepted loan on a business date (the lender's side)",
    responses=ERRORS | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(DisbursementIn),
)
async def disburse(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    idem_key: str | None = IDEMPOTENCY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        loan_id,
        DisbursementIn,
        lambda loans, body, k: loans.disburse(loan_id, body.business_date, k, _actor(key)),
    )


@router.post(
    "/loans/{loan_id}/repayments",
    status_code=201,
    summary="Post a repayment a payment channel received (payment-channel keys only): "
    "allocated penalty, fee, interest, principal, oldest due first",
    responses=ERRORS | CEILING | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(RepaymentIn),
)
async def repay(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*MONEY_IN)),
    idem_key: str | None = IDEMPOTENCY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        loan_id,
        RepaymentIn,
        lambda loans, body, k: loans.repay(
            loan_id, body.amount, body.business_date, k, _actor(key), channel=key.name.strip()
        ),
    )


@router.post(
    "/loans/{loan_id}/prepayments",
    status_code=201,
    summary="Prepay (提前还款) part or all of the principal (payment-channel keys only): "
    "shorter term or lower instalment",
    responses=ERRORS | CEILING | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(PrepaymentIn),
)
async def prepay(
    loan_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*MONEY_IN)),
    idem_key: str | None = IDEMPOTENCY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        loan_id,
        PrepaymentIn,
        lambda loans, body, k: loans.prepay(
            loan_id,
            body.business_date,
            amount=body.amount,
            full=body.full,
            mode=body.mode,
            key=k,
            actor=_actor(key),
            channel=key.name.strip(),
        ),
    )


@router.post(
    "/loans/{loan_id}/transactions/{transaction_id}/reversals",
    status_code=201,
    summary="Reverse a repayment or prepayment (the lender's side): its exact mirror is posted",
    responses=ERRORS | LOAN_NOT_VISIBLE | STATE,
    openapi_extra=request_body_doc(ReversalIn),
)
async def reverse(
    loan_id: str,
    transaction_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    idem_key: str | None = IDEMPOTENCY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return await _posting(
        request,
        ctx,
        key,
        idem_key,
        loan_id,
        ReversalIn,
        lambda loans, body, k: loans.reverse(
            transaction_id, k, body.business_date, _actor(key), body.note, loan_id=loan_id
        ),
        empty_body_ok=True,
    )
