"""The ``/v1`` endpoints. Each one only translates: HTTP in, a service call, JSON out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from creditgraph import __version__
from creditgraph.api import idempotency, request_id
from creditgraph.api.auth import owns, require
from creditgraph.api.context import ApiContext, get_context
from creditgraph.api.errors import ApiError, from_service
from creditgraph.api.jsonable import JsonResponse, to_json
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.schemas import (
    ApplicationIn,
    ErrorOut,
    ReviewRequestIn,
    ReviewResolutionIn,
    ReviewStatus,
    parse,
    request_body_doc,
)

log = logging.getLogger("creditgraph.api")
router = APIRouter(prefix="/v1")

_SHAPE = {"model": ErrorOut}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed or too deeply nested JSON, or a bad Idempotency-Key"} | _SHAPE,
    401: {"description": "Missing, invalid or revoked API key"} | _SHAPE,
    403: {"description": "The key's role may not call this endpoint"} | _SHAPE,
    408: {"description": "The request body did not arrive in time"} | _SHAPE,
    409: {"description": "Idempotency-Key reused with a different body, or still in flight"}
    | _SHAPE,
    413: {"description": "The request body is larger than the configured maximum"} | _SHAPE,
    422: {"description": "Validation error: the field is named in error.field"} | _SHAPE,
    429: {
        "description": "Locked out after repeated failed authentications; see Retry-After",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
    | _SHAPE,
}
NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such decision (or not visible to this key)"} | _SHAPE
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "No decision model is promoted yet, or the service is down"} | _SHAPE
}
# Every authenticated endpoint can answer these, body or not.
AUTH = (401, 403, 408, 413, 429)


def _only(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {k: v for k, v in ERRORS.items() if k in codes}


IDEMPOTENCY = Header(
    default=None,
    alias="Idempotency-Key",
    min_length=1,
    max_length=idempotency.MAX_KEY_LENGTH,
    pattern=idempotency.KEY_PATTERN,
    description="Retry-safe key, per API key: a retry with the same key and body replays the "
    "first successful answer (with `Idempotent-Replayed: true`); the same key with another "
    "body is a 409; a failed request does not use the key up. 1 to 200 printable ASCII "
    "characters, no leading or trailing space.",
)


def _call(action: Callable[[], Any]) -> Any:
    """Run a service call; its known errors become client errors, the rest a bare 500."""
    try:
        return action()
    except ApiError:
        raise
    except Exception as exc:
        error = from_service(exc)
        if error is None:
            log.error("service failure: %s request_id=%s", type(exc).__name__, request_id.current())
            raise ApiError(500, "internal", "internal error; the request failed") from None
        raise error from None


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "malformed_json", "the request needs a JSON object body")
    try:
        # orjson, not json: it refuses what JSON cannot carry (lone surrogates, NaN, invalid
        # UTF-8) instead of handing the service text that later fails to encode.
        return orjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None


def _post(
    ctx: ApiContext,
    key: KeyInfo,
    idem_key: str | None,
    request: Request,
    payload: Any,
    action: Callable[[], Any],
) -> JsonResponse:
    """Do a POST once per Idempotency-Key: claim, act, store the answer (or release the claim)."""
    if idem_key is None:
        return JsonResponse(_call(action), status_code=201)
    idem_key = idempotency.check_key(idem_key)
    method, path = request.method, request.url.path
    digest = idempotency.body_sha256(payload)
    replay = idempotency.claim(ctx.engine, key.id, idem_key, method, path, digest)
    if replay is not None:
        return JsonResponse(replay.body, replay.status, headers={"Idempotent-Replayed": "true"})
    try:
        body = to_json(_call(action))
    except BaseException:
        idempotency.release(ctx.engine, key.id, idem_key)
        raise
    idempotency.complete(ctx.engine, key.id, idem_key, 201, body)
    return JsonResponse(body, status_code=201)


def _visible_decision(ctx: ApiContext, key: KeyInfo, decision_id: str) -> dict[str, Any]:
    decision: dict[str, Any] = _call(lambda: ctx.service().get(decision_id))
    if not owns(key, decision):
        # 404, not 403: an applicant app cannot learn which ids exist.
        raise ApiError(404, "not_found", "no such decision (or not visible to this key)")
    return decision


@router.get("/health", summary="Liveness and database reachability", tags=["health"])
def health(ctx: ApiContext = Depends(get_context)) -> dict[str, str]:
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}


@router.post(
    "/applications",
    status_code=201,
    summary="Apply for a loan: returns the decision and its offers",
    tags=["decisions"],
    responses=ERRORS | UNAVAILABLE,
    openapi_extra=request_body_doc(ApplicationIn),
)
async def create_application(
    request: Request,
    key: KeyInfo = Depends(require(Role.APPLICANT_APP, Role.OFFICER, Role.ADMIN)),
    idem_key: str | None = IDEMPOTENCY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    payload = await _json_body(request)
    app_in: ApplicationIn = parse(ApplicationIn, payload)

    def decide() -> Any:
        return ctx.service().decide_for(
            person_id=ctx.person_id(app_in.person_id),
            product_code=app_in.product_code,
            amount=app_in.amount_decimal,
            term=app_in.term,
            purpose=app_in.purpose,
            schedule_type=app_in.schedule_type,
            applicant_ref=str(key.id),
        )

    return await run_in_threadpool(_post, ctx, key, idem_key, request, payload, decide)


@router.get(
    "/decisions/{decision_id}",
    summary="A decision: outcome, reasons, limit and offers",
    tags=["decisions"],
    responses=_only(*AUTH) | NOT_VISIBLE | UNAVAILABLE,
)
def get_decision(
    decision_id: str,
    key: KeyInfo = Depends(require(Role.APPLICANT_APP, Role.OFFICER, Role.ANALYST, Role.ADMIN)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(_visible_decision(ctx, key, decision_id))


@router.post(
    "/decisions/{decision_id}/review-requests",
    status_code=201,
    summary="Ask for a person to review an automated decision",
    tags=["review"],
    responses=ERRORS | NOT_VISIBLE | UNAVAILABLE,
    openapi_extra=request_body_doc(ReviewRequestIn),
)
async def create_review_request(
    decision_id: str,
    request: Request,
    key: KeyInfo = Depends(require(Role.APPLICANT_APP, Role.OFFICER, Role.ADMIN)),
    idem_key: str | None = IDEMPOTENCY,
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    raw = await request.body()
    payload = await _json_body(request) if raw.strip() else {}
    review_in: ReviewRequestIn = parse(ReviewRequestIn, payload)

    def ask() -> Any:
        _visible_decision(ctx, key, decision_id)
        result = ctx.service().request_review(decision_id, f"api-key:{key.id}", review_in.note)
        if isinstance(result, dict):
            return result
        return {"decision_id": decision_id, "review_request": to_json(result), "status": "open"}

    return await run_in_threadpool(_post, ctx, key, idem_key, request, payload, ask)


@router.get(
    "/review-queue",
    summary="Review requests waiting for an officer",
    tags=["review"],
    responses=_only(*AUTH, 422) | UNAVAILABLE,
)
def review_queue(
    status: ReviewStatus = Query(
        ReviewStatus.OPEN,
        description="open, taken, resolved (approved or declined), approved, declined",
    ),
    key: KeyInfo = Depends(require(Role.OFFICER, Role.ADMIN)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    if status is ReviewStatus.RESOLVED:
        items = [
            item
            for item in _call(lambda: ctx.service().review_queue(status=None))
            if item.get("status") in (ReviewStatus.APPROVED, ReviewStatus.DECLINED)
        ]
    else:
        items = _call(lambda: ctx.service().review_queue(status=status.value))
    return JsonResponse({"items": items})


REVIEW_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such review request"} | _SHAPE
}


def _officer(key: KeyInfo) -> str:
    """The reviewer as the audit trail records them: the key's name and id."""
    return f"{key.name} (key {key.id})"


@router.post(
    "/review-requests/{request_id}/take",
    summary="An officer takes an open review request",
    tags=["review"],
    responses=_only(*AUTH, 409) | REVIEW_NOT_FOUND | UNAVAILABLE,
)
def take_review(
    request_id: str,
    key: KeyInfo = Depends(require(Role.OFFICER, Role.ADMIN)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(_call(lambda: ctx.service().take(request_id, _officer(key))))


@router.post(
    "/review-requests/{request_id}/resolve",
    summary="An officer approves or declines after review, with a note",
    tags=["review"],
    responses=ERRORS | REVIEW_NOT_FOUND | UNAVAILABLE,
    openapi_extra=request_body_doc(ReviewResolutionIn),
)
async def resolve_review(
    request_id: str,
    request: Request,
    key: KeyInfo = Depends(require(Role.OFFICER, Role.ADMIN)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    verdict: ReviewResolutionIn = parse(ReviewResolutionIn, await _json_body(request))

    def resolve() -> Any:
        return ctx.service().resolve(request_id, _officer(key), verdict.approve, verdict.note)

    return JsonResponse(await run_in_threadpool(_call, resolve))
