"""Monitoring events over HTTP: ``POST /v1/events``, a batch from a partner or an ingest key.

The route is a door, not a store: ``monitoring.intake`` validates, pseudonymises, consent-gates
and publishes; refused events are answered per event and counted, never kept. A batch the
route could read is answered 200 with what became of each event (``accepted`` and the refusals
with their index, field and rule), even when every event was refused: the batch itself was
handled, and a sender retries only the refused events it can mend. A body that is not a batch
(no ``events`` list, too many events) is a 422 in the API's usual error shape.
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
    responses=ERRORS,
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
    return JsonResponse(result.as_dict())
