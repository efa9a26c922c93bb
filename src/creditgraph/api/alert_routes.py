"""The ``/v1/alerts`` endpoints: list and read risk monitoring's alerts, acknowledge and resolve.

For the lender's side (officer, analyst, admin); who acted is the calling key's name and id. An
alert that does not exist is a 404 ``alert_not_found``; a step its state does not allow is a 409
``alert_state`` whose message names the state, in English and Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import body_of, get_context, in_worker, officer, require
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.schemas.alerts import (
    AlertNoteIn,
    AlertOut,
    AlertPageOut,
    AlertStatus,
    AlertType,
)
from creditgraph.api.schemas.common import request_body_doc
from creditgraph.api.schemas.errors import AUTH, ERRORS, Responses, error, only
from creditgraph.monitoring import alerts
from creditgraph.monitoring.alerts import AlertError, AlertNotFoundError, AlertStateError

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["alerts"])

ALERT_READERS = (Role.OFFICER, Role.ANALYST, Role.ADMIN)
NOT_FOUND: Responses = {404: error("No such alert (code alert_not_found)")}
STATE: Responses = {409: error("The alert's state does not allow the step (code alert_state)")}


def _alerts(action: Callable[[], T]) -> Callable[[], T]:
    """``action`` with the alert store's errors as the API's."""

    def run() -> T:
        try:
            return action()
        except AlertNotFoundError as exc:
            raise ApiError(404, "alert_not_found", str(exc), exc.field) from None
        except AlertStateError as exc:
            raise ApiError(409, "alert_state", str(exc), exc.field) from None
        except AlertError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from None

    return run


@router.get(
    "/alerts",
    summary="Alerts newest first, filtered by status, type (detector) and person",
    response_model=AlertPageOut,
    responses=only(*AUTH, 422),
)
async def list_alerts(
    status: AlertStatus | None = Query(None, description="open, acknowledged or resolved"),
    type: AlertType | None = Query(None, description="The detector that raised it"),
    person_id: str | None = Query(None, max_length=40, description="A person's pseudonym"),
    limit: int = Query(100, ge=1, le=1000, description="At most this many"),
    cursor: str | None = Query(None, max_length=40, description="next_cursor of the last page"),
    key: KeyInfo = Depends(require(*ALERT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    def page() -> dict[str, Any]:
        found = alerts.list_alerts(
            ctx.engine,
            status=None if status is None else status.value,
            type=None if type is None else type.value,
            person_id=person_id,
            limit=limit,
            cursor=cursor,
        )
        return {"alerts": found.alerts, "next_cursor": found.next_cursor}

    return JsonResponse(await in_worker(_alerts(page)))


@router.get(
    "/alerts/{alert_id}",
    summary="One alert with its evidence and the actions it took",
    response_model=AlertOut,
    responses=only(*AUTH) | NOT_FOUND,
)
async def get_alert(
    alert_id: str,
    key: KeyInfo = Depends(require(*ALERT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    return JsonResponse(await in_worker(_alerts(lambda: alerts.get_alert(ctx.engine, alert_id))))


@router.post(
    "/alerts/{alert_id}/acknowledge",
    summary="Acknowledge an open alert: someone is looking at it",
    response_model=AlertOut,
    responses=ERRORS | NOT_FOUND | STATE,
    openapi_extra=request_body_doc(AlertNoteIn),
)
async def acknowledge_alert(
    alert_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*ALERT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, AlertNoteIn, empty_ok=True)
    by = officer(key)
    return JsonResponse(
        await in_worker(
            _alerts(lambda: alerts.acknowledge(ctx.engine, alert_id, by=by, note=body.note))
        )
    )


@router.post(
    "/alerts/{alert_id}/resolve",
    summary="Resolve an open or acknowledged alert, with a note",
    response_model=AlertOut,
    responses=ERRORS | NOT_FOUND | STATE,
    openapi_extra=request_body_doc(AlertNoteIn),
)
async def resolve_alert(
    alert_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*ALERT_READERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    body = await body_of(request, AlertNoteIn)
    by = officer(key)
    return JsonResponse(
        await in_worker(
            _alerts(lambda: alerts.resolve(ctx.engine, alert_id, by=by, note=body.note or ""))
        )
    )
