"""The ``/v1/subjects`` endpoints: a person's requests about their data, for the lender's officers.

Export, erasure and correction are for officer and admin keys (the officer checked who asks);
an objection to a decision may also come from the applicant app that submitted that decision.
``{person}`` is the lender's own id (or the pseudonym); the API's access log records the route
template, never the id. Who acted is ``key:<id>`` in the request log and the data access log.

Refusals: an unknown person is a 404 ``subject_not_found``, an erased one a 410
``subject_erased``, a field its rule refuses a 422 naming the field; messages in English and
Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import (
    BORROWER_SIDE,
    LENDER_SIDE,
    body_of,
    get_context,
    in_worker,
    owns,
    require,
)
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo
from creditgraph.api.schemas.common import request_body_doc
from creditgraph.api.schemas.errors import AUTH, ERRORS, Responses, error, only
from creditgraph.api.schemas.subjects import (
    CorrectionIn,
    ErasureIn,
    ObjectionIn,
    SubjectExportOut,
    SubjectRequestListOut,
    SubjectRequestOut,
)
from creditgraph.decision.subject.requests import Deadline
from creditgraph.decision.subject.service import Actor, SubjectService

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["subject requests"])

REFUSED: Responses = {
    404: error("No person with this id is held (code subject_not_found), or no such decision"),
    409: error("The decision already has a pending objection"),
    410: error("The person's data was erased (code subject_erased): nothing is held"),
}
KEY_MISSING: Responses = {
    503: error("The master key is not available; the operator's log says why")
}


def _subjects(request: Request, ctx: ApiContext) -> SubjectService:
    """The subject service of this app, its master key opened from the app's settings once."""
    service: SubjectService | None = getattr(request.app.state, "subjects", None)
    if service is None:
        from creditgraph.privacy.keys import MasterKeyError, master_key_file, open_master_key

        try:
            provider = open_master_key(ctx.engine, master_key_file(ctx.settings))
        except MasterKeyError:
            raise ApiError(
                503,
                "master_key_unavailable",
                "the master key is not available / 主密钥不可用",
            ) from None
        service = SubjectService(
            ctx.engine,
            ctx.pseudonyms,
            provider=provider,
            lake_dir=ctx.settings.lake_dir,
            quarantine_dir=ctx.settings.quarantine_dir,
            deadline=Deadline(ctx.settings.subject_request_days),
        )
        request.app.state.subjects = service
    return service


def _person(ctx: ApiContext, person: str) -> str:
    from creditgraph.features.store import resolve_person

    return resolve_person(ctx.engine, person, ctx.person_pseudonym)


def _actor(key: KeyInfo) -> Actor:
    return Actor(f"key:{key.id}", "key")


def _answer(action: Callable[[], T]) -> Callable[[], T]:
    """``action`` with the subject service's refusals as the API's errors."""
    from creditgraph.decision.service_errors import ReviewStateError
    from creditgraph.decision.subject.requests import (
        ErasedSubjectError,
        SubjectError,
        UnknownRequestError,
        UnknownSubjectError,
    )

    def run() -> T:
        try:
            return action()
        except UnknownSubjectError as exc:
            raise ApiError(404, "subject_not_found", str(exc), exc.field) from None
        except UnknownRequestError as exc:
            raise ApiError(404, "not_found", str(exc), exc.field) from None
        except ErasedSubjectError as exc:
            raise ApiError(410, "subject_erased", str(exc), exc.field) from None
        except SubjectError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from None
        except ReviewStateError:
            raise ApiError(
                409,
                "conflict",
                "the decision already has a pending objection / 该决策已有待处理的异议",
            ) from None

    return run


@router.post(
    "/subjects/{person}/export",
    summary="Everything held about a person, as JSON (the export is access-logged)",
    response_model=SubjectExportOut,
    responses=only(*AUTH) | REFUSED | KEY_MISSING,
)
async def export_subject(
    person: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    document = await in_worker(
        _answer(lambda: _subjects(request, ctx).export(_person(ctx, person), _actor(key)))
    )
    return JsonResponse(document)


@router.post(
    "/subjects/{person}/erase",
    summary="Erase a person: data key, records, a tombstone; the request keeps the report",
    response_model=SubjectRequestOut,
    responses=ERRORS | REFUSED | KEY_MISSING,
    openapi_extra=request_body_doc(ErasureIn),
)
async def erase_subject(
    person: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, ErasureIn, empty_ok=True)
    answer = await in_worker(
        _answer(
            lambda: _subjects(request, ctx).erase(
                _person(ctx, person), _actor(key), reference=body.reference
            )
        )
    )
    return JsonResponse(answer)


@router.post(
    "/subjects/{person}/corrections",
    summary="Correct personal fields (checked by the data contract's rules, sealed again)",
    response_model=SubjectRequestOut,
    responses=ERRORS | REFUSED | KEY_MISSING,
    openapi_extra=request_body_doc(CorrectionIn),
)
async def correct_subject(
    person: str,
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, CorrectionIn)
    values: dict[str, str | None] = dict(body.fields)
    answer = await in_worker(
        _answer(lambda: _subjects(request, ctx).correct(_person(ctx, person), values, _actor(key)))
    )
    return JsonResponse(answer)


@router.post(
    "/subjects/{person}/objections",
    status_code=201,
    summary="Object to an automated decision: a human review is opened (PIPL Art. 24)",
    response_model=SubjectRequestOut,
    responses=ERRORS | REFUSED | KEY_MISSING,
    openapi_extra=request_body_doc(ObjectionIn),
)
async def object_subject(
    person: str,
    request: Request,
    key: KeyInfo = Depends(require(*BORROWER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, ObjectionIn)

    def run() -> dict[str, Any]:
        if not _visible(ctx, key, body.decision_id):
            raise ApiError(404, "not_found", "no such decision (or not visible to this key)")
        return _subjects(request, ctx).object(
            _person(ctx, person), body.decision_id, _actor(key), body.note
        )

    return JsonResponse(await in_worker(_answer(run)), status_code=201)


def _visible(ctx: ApiContext, key: KeyInfo, decision_id: str) -> bool:
    """Whether the key may object to the decision: an applicant app only to its own."""
    from creditgraph.decision import record_store

    with ctx.engine.connect() as conn:
        decision = record_store.read_record(conn, decision_id)
    return decision is not None and owns(key, decision)


@router.get(
    "/subject-requests",
    summary="Subject requests, earliest due first; overdue ones on their own",
    response_model=SubjectRequestListOut,
    responses=only(*AUTH, 422) | KEY_MISSING,
)
async def list_subject_requests(
    request: Request,
    overdue: bool = Query(False, description="Only open requests past their due time."),
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    items = await in_worker(_answer(lambda: _subjects(request, ctx).requests(overdue=overdue)))
    return JsonResponse({"items": items})
