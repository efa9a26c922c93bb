"""The ``/v1`` health, decision and review endpoints. Each one only translates: HTTP in, a
service call, JSON out (what they share is in :mod:`creditgraph.api.deps`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from creditgraph import __version__
from creditgraph.api import idempotency
from creditgraph.api.context import ApiContext
from creditgraph.api.data_access import record_read, with_decision_read
from creditgraph.api.deps import (
    IDEMPOTENCY_KEY,
    READERS,
    body_of,
    call,
    get_context,
    in_worker,
    json_body,
    officer,
    require,
    visible_decision,
)
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.schemas.common import parse, request_body_doc
from creditgraph.api.schemas.decisions import (
    ApplicationIn,
    DecisionOut,
    ReviewOut,
    ReviewQueueOut,
    ReviewRequestIn,
    ReviewResolutionIn,
    ReviewStatus,
)
from creditgraph.api.schemas.errors import AUTH, ERRORS, UNAVAILABLE, error, not_found, only
from creditgraph.api.schemas.health import HealthOut
from creditgraph.api.service import Within

router = APIRouter(prefix="/v1")

APPLICANTS = (Role.APPLICANT_APP, Role.OFFICER, Role.ADMIN)
REVIEWERS = (Role.OFFICER, Role.ADMIN)


@router.get(
    "/health",
    summary="Liveness and database reachability",
    tags=["health"],
    response_model=HealthOut,
)
def health(ctx: ApiContext = Depends(get_context)) -> dict[str, str]:
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}


@router.post(
    "/applications",
    status_code=201,
    summary="Apply for a loan: returns the decision and its offers",
    tags=["decisions"],
    response_model=DecisionOut,
    responses=ERRORS | UNAVAILABLE,
    openapi_extra=request_body_doc(ApplicationIn),
)
async def create_application(
    request: Request,
    key: KeyInfo = Depends(require(*APPLICANTS)),
    idem_key: str | None = IDEMPOTENCY_KEY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    # The answer is the service's record as it is, rendered by orjson: DecisionOut documents
    # it and is not run (validating it would cost the hot path measurable CPU).
    payload = await json_body(request)
    app_in: ApplicationIn = parse(ApplicationIn, payload)

    def decide(within: Within | None) -> dict[str, Any]:
        return ctx.service().decide_for(
            # resolved in the decision's own read of the applicant: a known pseudonym as it is,
            # else the lender's id, else the platform's pseudonym of it
            person_id=app_in.person_id,
            product_code=app_in.product_code,
            amount=app_in.amount_decimal,
            term=app_in.term,
            purpose=app_in.purpose,
            schedule_type=app_in.schedule_type,
            applicant_ref=str(key.id),
            within=with_decision_read(key, within),
            pseudonym_of=ctx.person_pseudonym,
        )

    return await run_in_threadpool(idempotency.once, ctx, key, idem_key, request, payload, decide)


@router.get(
    "/decisions/{decision_id}",
    summary="A decision: outcome, reasons, limit and offers",
    tags=["decisions"],
    response_model=DecisionOut,
    responses=only(*AUTH) | not_found("decision") | UNAVAILABLE,
)
def get_decision(
    decision_id: str,
    key: KeyInfo = Depends(require(*READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    decision = visible_decision(ctx, key, decision_id)
    # its inputs hold the declared income it was made on: a read of personal data
    record_read(ctx, key, decision["person_id"], ("decisions", "income"))
    return JsonResponse(decision)


@router.post(
    "/decisions/{decision_id}/review-requests",
    status_code=201,
    summary="Ask for a person to review an automated decision",
    tags=["review"],
    response_model=ReviewOut,
    responses=ERRORS | not_found("decision") | UNAVAILABLE,
    openapi_extra=request_body_doc(ReviewRequestIn),
)
async def create_review_request(
    decision_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*APPLICANTS)),
    idem_key: str | None = IDEMPOTENCY_KEY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    payload = await json_body(request, empty={})
    review_in: ReviewRequestIn = parse(ReviewRequestIn, payload)

    def ask(within: Within | None) -> dict[str, Any]:
        visible_decision(ctx, key, decision_id)
        return ctx.service().request_review(
            decision_id, f"api-key:{key.id}", review_in.note, within=within
        )

    return await run_in_threadpool(idempotency.once, ctx, key, idem_key, request, payload, ask)


@router.get(
    "/review-queue",
    summary="Review requests waiting for an officer",
    tags=["review"],
    response_model=ReviewQueueOut,
    responses=only(*AUTH, 422) | UNAVAILABLE,
)
def review_queue(
    status: ReviewStatus = Query(
        ReviewStatus.OPEN,
        description="open, taken, resolved (approved or declined), approved, declined",
    ),
    key: KeyInfo = Depends(require(*REVIEWERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    if status is ReviewStatus.RESOLVED:
        items = [
            item
            for item in call(lambda: ctx.service().review_queue(status=None))
            if item.get("status") in (ReviewStatus.APPROVED, ReviewStatus.DECLINED)
        ]
    else:
        items = call(lambda: ctx.service().review_queue(status=status.value))
    return JsonResponse({"items": items})


REVIEW_NOT_FOUND = {404: error("No such review request")}


@router.post(
    "/review-requests/{request_id}/take",
    summary="An officer takes an open review request",
    tags=["review"],
    response_model=ReviewOut,
    responses=only(*AUTH)
    | {409: error("The request is not open")}
    | REVIEW_NOT_FOUND
    | UNAVAILABLE,
)
def take_review(
    request_id: str,
    key: KeyInfo = Depends(require(*REVIEWERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(call(lambda: ctx.service().take(request_id, officer(key))))


@router.post(
    "/review-requests/{request_id}/resolve",
    summary="An officer approves or declines after review, with a note",
    tags=["review"],
    response_model=ReviewOut,
    responses=ERRORS
    | {409: error("Already resolved, or taken by another officer")}
    | REVIEW_NOT_FOUND
    | UNAVAILABLE,
    openapi_extra=request_body_doc(ReviewResolutionIn),
)
async def resolve_review(
    request_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*REVIEWERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    verdict = await body_of(request, ReviewResolutionIn)
    resolved = await in_worker(
        lambda: ctx.service().resolve(request_id, officer(key), verdict.approve, verdict.note)
    )
    return JsonResponse(resolved)
