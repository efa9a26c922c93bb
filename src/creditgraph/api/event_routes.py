"""Monitoring events over HTTP: ``POST /v1/events``, a batch from a partner or an ingest key.

The route is a door, not a store: ``monitoring.intake`` validates, pseudonymises, consent-gates
and publishes; refused events are answered per event and counted, never kept. The answer is 200
when at least one event was accepted (or the batch held none the contract could read as a
person's) and 422 when every event was refused, each with its index, field and rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import body_of, get_context, in_worker, require
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.schemas.common import request_body_doc
from creditgraph.api.schemas.errors import ERRORS
from creditgraph.api.schemas.events import EventsIn, EventsOut

router = APIRouter(prefix="/v1", tags=["monitoring"])

EVENT_SENDERS = (Role.PARTNER, Role.INGEST, Role.ADMIN)


@router.post(
    "/events",
    summary="Send monitoring events (a batch); each is validated, pseudonymised and consent-gated",
    response_model=EventsOut,
    responses=ERRORS
    | {422: {"description": "Every event of the batch was refused", "model": EventsOut}},
    openapi_extra=request_body_doc(EventsIn),
)
async def post_events(
    request: Request,
    key: KeyInfo = Depends(require(*EVENT_SENDERS)),
    ctx: ApiContext = Depends(get_context),
) -> JsonResponse:
    from creditgraph.monitoring.door import Door
    from creditgraph.monitoring.intake import submit_events

    body = await body_of(request, EventsIn)
    bus = ctx.event_bus()
    result = await in_worker(
        lambda: submit_events(ctx.engine, Door(ctx.pseudonyms), body.events, bus=bus)
    )
    status = 422 if result.received and not result.accepted else 200
    return JsonResponse(result.as_dict(), status_code=status)
