"""The review queue: referrals and borrowers' requests for a person to look at a decision.

Officers take a request (assign it to themselves) and approve or decline it with a note, one at
a time or several at once; every step goes through the decision service's ``ReviewWorkflow``,
so its rules (a taken request belongs to its officer, a resolved one stays resolved, a note is
required) hold here as they do on the API. Auditors see the queue without any action form.

Each step records one workspace action inside the workflow's own write transaction (through
the workflow's ``within`` hook), so a take or a resolution and its record commit together or not
at all. A refused step is recorded too (outcome ``refused``, with why) in a transaction of its
own, the workflow having written nothing, and those records are what the page reads back to
say, after the redirect, what happened to each item.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from creditgraph.decision.review import ReviewWorkflow
from creditgraph.decision.service_errors import DecisionServiceError
from creditgraph.decision.within import Within
from creditgraph.web import actions
from creditgraph.web.context import WebContext
from creditgraph.web.data import reviews as data
from creditgraph.web.errors import WebError
from creditgraph.web.i18n import catalogue
from creditgraph.web.render import is_htmx, page
from creditgraph.web.roles import Can
from creditgraph.web.security import checked_form, first, need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()
MAX_BULK = 100
MAX_NOTE = 1000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _known(key: str) -> bool:
    return key in catalogue()


def _render(
    ctx: WebContext,
    request: Request,
    session: Session,
    filters: data.ReviewFilters,
    outcomes: list[data.Outcome],
    fragment: bool,
    status: int = 200,
) -> HTMLResponse:
    queue = data.queue(ctx.engine, filters, session.actor, _now())
    values = {
        "queue": queue,
        "filters": queue.filters,
        "outcomes": outcomes,
        "kinds": list(data.SLA_BUSINESS_DAYS),
        "statuses": data.STATUSES,
        "sla": data.SLA_BUSINESS_DAYS,
        "known": _known,
        "back": queue.filters.query(),
    }
    template = "reviews_queue.html" if fragment else "reviews.html"
    return page(ctx, request, session, template, values, status=status)


@router.get("/reviews", response_class=HTMLResponse)
def review_queue(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_REVIEWS)),
) -> HTMLResponse:
    filters = data.parse_filters(request.query_params)
    batch = request.query_params.get("batch") or ""
    outcomes = data.report(ctx.engine, session.actor, batch) if batch else []
    return _render(ctx, request, session, filters, outcomes, fragment=is_htmx(request))


def _filters_of(fields: dict[str, list[str]]) -> data.ReviewFilters:
    """The queue's filters the form was posted from (its hidden ``back`` field)."""
    params = {k: v for k, v in parse_qsl(first(fields, "back")) if k in data.FILTER_KEYS}
    try:
        return data.parse_filters(params)
    except WebError:
        return data.ReviewFilters()


def _note_of(fields: dict[str, list[str]], step: str) -> str | None:
    note = first(fields, "note")
    if step == "take":
        return None
    if not note:
        raise WebError(400, "reviews.error.note_required")
    if len(note) > MAX_NOTE:
        raise WebError(400, "reviews.error.note_too_long", limit=MAX_NOTE)
    return note


def _recorder(session: Session, name: str, target: str, detail: dict[str, Any]) -> Within:
    """The workflow's ``within`` hook: the action's record, in the step's own transaction."""

    def within(conn: Connection, _: dict[str, Any]) -> None:
        actions.record(conn, session.actor, session.role, name, target, detail=detail)

    return within


def _carry_out(
    ctx: WebContext, session: Session, ids: list[str], step: str, note: str | None, batch: str
) -> list[data.Outcome]:
    """``step`` on each request in turn through the workflow; one refusal stops nothing."""
    workflow = ReviewWorkflow(ctx.engine, _now)
    outcomes: list[data.Outcome] = []
    for item, request_id in enumerate(ids):
        detail: dict[str, Any] = {"batch": batch, "item": item}
        if note is not None:
            detail["note_sha256"] = actions.note_digest(note)
        name = f"review.{step}"
        within = _recorder(session, name, request_id, detail)
        try:
            if step == "take":
                workflow.take(request_id, session.actor, within=within)
            else:
                workflow.resolve(request_id, session.actor, step == "approve", note, within=within)
            outcomes.append(data.Outcome(request_id, step, done=True))
        except DecisionServiceError:
            why = data.why_refused(ctx.engine, request_id, step, session.actor)
            actions.record_alone(
                ctx.engine,
                session.actor,
                session.role,
                name,
                target=request_id,
                outcome="refused",
                detail={**detail, "why": why},
            )
            outcomes.append(data.Outcome(request_id, step, done=False, why=why))
    return outcomes


async def _submit(
    request: Request,
    ctx: WebContext,
    session: Session,
    fields: dict[str, list[str]],
    ids: list[str],
    step: str,
) -> Response:
    if step not in data.STEPS:
        raise WebError(400, "error.bad_input", detail=f"action: {' | '.join(data.STEPS)}")
    note = _note_of(fields, step)
    filters = _filters_of(fields)
    batch = uuid.uuid4().hex
    outcomes = await run_in_threadpool(_carry_out, ctx, session, ids, step, note, batch)
    if is_htmx(request):
        return await run_in_threadpool(_render, ctx, request, session, filters, outcomes, True)
    query = filters.query(batch=batch)
    return RedirectResponse(f"/reviews?{query}#review-report", status_code=303)


@router.post("/reviews/{request_id}/take")
async def take(
    request_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.DECIDE_REVIEWS)),
) -> Response:
    fields = await checked_form(request, session)
    return await _submit(request, ctx, session, fields, [request_id[:40]], "take")


@router.post("/reviews/{request_id}/resolve")
async def resolve(
    request_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.DECIDE_REVIEWS)),
) -> Response:
    fields = await checked_form(request, session)
    step = first(fields, "decision")
    if step not in ("approve", "decline"):
        raise WebError(400, "error.bad_input", detail="decision: approve | decline")
    return await _submit(request, ctx, session, fields, [request_id[:40]], step)


@router.post("/reviews/bulk")
async def bulk(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.DECIDE_REVIEWS)),
) -> Response:
    """One step on every ticked request, each through the workflow, each reported."""
    fields = await checked_form(request, session)
    ids = list(dict.fromkeys(v.strip()[:40] for v in fields.get("id", []) if v.strip()))
    if not ids:
        raise WebError(400, "reviews.error.none_selected")
    if len(ids) > MAX_BULK:
        raise WebError(400, "reviews.error.too_many", limit=MAX_BULK)
    return await _submit(request, ctx, session, fields, ids, first(fields, "step"))
