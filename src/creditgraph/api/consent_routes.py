"""The ``/v1/consents`` endpoints: record a consent, revoke one, list a person's.

For the lender's side: an officer or an admin records what a person agreed to (or withdrew) in
a branch, on the phone or in the lender's own app. The person is named by the lender's own id
and pseudonymised at the door; answers carry only the pseudonym. Refusals name the field and
the rule in English and Chinese and store nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import LENDER_SIDE, body_of, get_context, in_worker, require
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo
from creditgraph.api.schemas.common import request_body_doc
from creditgraph.api.schemas.consents import ConsentIn, ConsentListOut, ConsentOut, RevokeIn
from creditgraph.api.schemas.errors import AUTH, ERRORS, Responses, error, only
from creditgraph.privacy import consent
from creditgraph.privacy.consent import (
    ConsentConflictError,
    ConsentError,
    ConsentNotFoundError,
    ConsentStateError,
    UnknownPersonError,
)

T = TypeVar("T")
MAX_ID = 2**63 - 1

router = APIRouter(prefix="/v1", tags=["consents"])

NOT_FOUND: Responses = {404: error("No such consent (code consent_not_found)")}
STATE: Responses = {
    409: error(
        "The consent is not active (code consent_state), or another consent was granted at "
        "that instant (code consent_conflict)"
    )
}


def _consents(action: Callable[[], T]) -> Callable[[], T]:
    """``action`` with the consent service's errors as the API's."""

    def run() -> T:
        try:
            return action()
        except UnknownPersonError as exc:
            raise ApiError(422, "unknown_person", str(exc), "person_id") from None
        except ConsentNotFoundError as exc:
            raise ApiError(404, "consent_not_found", str(exc), exc.field) from None
        except ConsentStateError as exc:
            raise ApiError(409, "consent_state", str(exc), exc.field) from None
        except ConsentConflictError as exc:
            raise ApiError(409, "consent_conflict", str(exc), exc.field) from None
        except ConsentError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from None

    return run


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422,
            "validation_error",
            f"{field} must be an ISO 8601 time / {field} 必须是 ISO 8601 时间",
            field,
        ) from None
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def _out(receipt: consent.Receipt) -> dict[str, Any]:
    return receipt.as_dict()


@router.post(
    "/consents",
    summary="Record a consent a person gave, per source and purpose; returns its receipt",
    response_model=ConsentOut,
    status_code=201,
    responses=ERRORS | STATE,
    openapi_extra=request_body_doc(ConsentIn),
)
async def grant_consent(
    request: Request,
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, ConsentIn)
    granted_at = _time(body.granted_at, "granted_at")
    expires_at = _time(body.expires_at, "expires_at")
    person_id = ctx.person_pseudonym(body.person_id)
    receipt = await in_worker(
        _consents(
            lambda: consent.grant(
                ctx.engine,
                person_id,
                body.source,
                body.purpose.value,
                text_version=body.text_version,
                sensitive=body.sensitive,
                at=granted_at,
                expires_at=expires_at,
                via="api",
            )
        )
    )
    return JsonResponse(_out(receipt), status_code=201)


@router.post(
    "/consents/{consent_id}/revoke",
    summary="Revoke a consent: every read stops using the source at once",
    response_model=ConsentOut,
    responses=ERRORS | NOT_FOUND | STATE,
    openapi_extra=request_body_doc(RevokeIn),
)
async def revoke_consent(
    request: Request,
    consent_id: int = Path(ge=1, le=MAX_ID, description="The consent's id, from its receipt"),
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, RevokeIn, empty_ok=True)
    revoked_at = _time(body.revoked_at, "revoked_at")
    receipt = await in_worker(
        _consents(lambda: consent.revoke(ctx.engine, consent_id, at=revoked_at))
    )
    return JsonResponse(_out(receipt))


@router.get(
    "/consents",
    summary="A person's consents, oldest first, with their receipts",
    response_model=ConsentListOut,
    responses=only(*AUTH, 422),
)
async def list_consents(
    person: str = Query(
        ..., min_length=1, max_length=200, description="The person's id in the lender's records"
    ),
    key: KeyInfo = Depends(require(*LENDER_SIDE)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    person_id = ctx.person_pseudonym(person)
    receipts = await in_worker(_consents(lambda: consent.show(ctx.engine, person_id)))
    return JsonResponse({"consents": [_out(r) for r in receipts]})
