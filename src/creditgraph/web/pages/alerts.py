"""Alerts: monitoring's findings about borrowers, a queue by type, severity and status, one
alert's evidence and the steps taken on it, and the servicing book's stress signals beside them.

Acknowledging and resolving go through ``monitoring.alerts`` (its rules: resolve needs a note, a
resolved alert stays resolved). The workspace action is recorded through the step's ``within``
hook, inside the step's own write transaction, so the change and its record commit together or
not at all. A step the service refuses (the alert's state, or a request it will not honour)
writes nothing but its record, outcome ``refused`` with the reason, in a transaction of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from creditgraph.monitoring.alerts import (
    AlertError,
    AlertHook,
    AlertNotFoundError,
    AlertStateError,
    acknowledge,
    get_alert,
    resolve,
)
from creditgraph.web import actions
from creditgraph.web.context import WebContext
from creditgraph.web.data import alerts as data
from creditgraph.web.errors import WebError
from creditgraph.web.i18n import Texts, catalogue, texts
from creditgraph.web.render import is_htmx, page
from creditgraph.web.roles import Can
from creditgraph.web.security import checked_form, first, need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()
MAX_NOTE = 1000
MAX_LIST = 10
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _known(key: str) -> bool:
    return key in catalogue()


@dataclass(frozen=True, slots=True)
class Item:
    """One line of evidence as the page shows it: a label, a formatted value, the ids of a
    list, or the lines of a nested record."""

    label: str
    code: bool
    """The label is the evidence's own key (no text for it), shown as code."""
    value: str | None = None
    ids: list[str] = field(default_factory=list)
    more: int = 0
    children: list[Item] = field(default_factory=list)


def _value(t: Texts, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return t("alerts.yes" if value else "alerts.no")
    if isinstance(value, (int, float)):
        if "_fen" in key:
            return t.money(Decimal(str(value)).quantize(Decimal(1)), fen=True)
        if key.endswith("rate"):
            return t.percent(value, 1)
        if isinstance(value, float):
            return t.number(value, 3)
        return t.number(value)
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            return t.datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    return "–" if value is None else str(value)


def evidence_items(t: Texts, evidence: dict[str, Any]) -> list[Item]:
    """An alert's evidence as labelled, formatted lines (nested records nest)."""
    items: list[Item] = []
    for key, value in evidence.items():
        text = f"alerts.ev.{key}"
        label, code = (t(text), False) if _known(text) else (str(key), True)
        if isinstance(value, dict):
            items.append(Item(label, code, children=evidence_items(t, value)))
        elif isinstance(value, list):
            shown = [str(v) for v in value[:MAX_LIST]]
            items.append(
                Item(
                    label,
                    code,
                    value=t("alerts.count", n=len(value)),
                    ids=shown,
                    more=max(0, len(value) - MAX_LIST),
                )
            )
        else:
            items.append(Item(label, code, value=_value(t, str(key), value)))
    return items


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_ALERTS)),
) -> HTMLResponse:
    filters = data.parse_filters(request.query_params)
    found = data.queue(ctx.engine, filters)
    values: dict[str, Any] = {
        "queue": found,
        "filters": found.filters,
        "types": data.TYPES,
        "severities": data.SEVERITIES,
        "statuses": data.STATUSES,
        "known": _known,
    }
    if is_htmx(request):
        return page(ctx, request, session, "alerts_queue.html", values)
    values["stress"] = data.stress(ctx.engine, ctx.settings.timezone)
    return page(ctx, request, session, "alerts.html", values)


def _detail(
    ctx: WebContext, request: Request, session: Session, alert_id: str, done: str | None
) -> HTMLResponse:
    try:
        alert = get_alert(ctx.engine, alert_id)
    except AlertNotFoundError:
        raise WebError(404, "error.not_found") from None
    values = {
        "alert": alert,
        "evidence": evidence_items(
            texts(session.lang, ctx.settings.timezone), alert["evidence"] or {}
        ),
        "trail": data.audit_trail(ctx.engine, alert_id),
        "done": done if done in ("acknowledged", "resolved") else None,
        "known": _known,
    }
    template = "alerts_detail_body.html" if is_htmx(request) else "alerts_detail.html"
    return page(ctx, request, session, template, values)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(
    alert_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_ALERTS)),
) -> HTMLResponse:
    return _detail(ctx, request, session, alert_id[:40], request.query_params.get("done"))


def _recorder(
    session: Session, name: str, alert_id: str, detail: dict[str, Any] | None
) -> AlertHook:
    """The step's ``within`` hook: the action's record, in the step's own transaction."""

    def within(conn: Connection, _: dict[str, Any]) -> None:
        actions.record(conn, session.actor, session.role, name, alert_id, detail=detail)

    return within


def _refused(ctx: WebContext, session: Session, name: str, alert_id: str, exc: AlertError) -> None:
    """A refused step's record, alone (the service wrote nothing): the reason as a code
    (``state``: the alert's state forbids the step; ``bad_input``: the request is not one the
    service honours), the field it concerns and the service's own words."""
    reason = "state" if isinstance(exc, AlertStateError) else "bad_input"
    why: dict[str, Any] = {"reason": reason, "why": exc.en}
    if exc.field is not None:
        why["field"] = exc.field
    actions.record_alone(
        ctx.engine,
        session.actor,
        session.role,
        name,
        target=alert_id,
        outcome="refused",
        detail=why,
    )


def _step(ctx: WebContext, session: Session, alert_id: str, target: str, note: str | None) -> None:
    """Acknowledge or resolve through monitoring, the workspace action recorded with it."""
    name = "alert.acknowledge" if target == "acknowledged" else "alert.resolve"
    detail = {"note_sha256": actions.note_digest(note)} if note else None
    within = _recorder(session, name, alert_id, detail)
    try:
        if target == "acknowledged":
            acknowledge(ctx.engine, alert_id, by=session.actor, note=note, within=within)
        else:
            resolve(ctx.engine, alert_id, by=session.actor, note=note or "", within=within)
    except AlertNotFoundError:
        raise WebError(404, "error.not_found") from None
    except AlertStateError as exc:
        _refused(ctx, session, name, alert_id, exc)
        raise WebError(409, "alerts.error.refused", zh=exc.zh, en=exc.en) from None
    except AlertError as exc:
        _refused(ctx, session, name, alert_id, exc)
        raise WebError(400, "alerts.error.refused", zh=exc.zh, en=exc.en) from None


async def _handle(
    request: Request, ctx: WebContext, session: Session, alert_id: str, target: str
) -> Response:
    fields = await checked_form(request, session)
    note = first(fields, "note") or None
    if target == "resolved" and note is None:
        raise WebError(400, "alerts.error.note_required")
    if note is not None and len(note) > MAX_NOTE:
        raise WebError(400, "alerts.error.note_too_long", limit=MAX_NOTE)
    alert_id = alert_id[:40]
    await run_in_threadpool(_step, ctx, session, alert_id, target, note)
    if is_htmx(request):
        return await run_in_threadpool(_detail, ctx, request, session, alert_id, target)
    return RedirectResponse(f"/alerts/{alert_id}?done={target}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.HANDLE_ALERTS)),
) -> Response:
    return await _handle(request, ctx, session, alert_id, "acknowledged")


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    alert_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.HANDLE_ALERTS)),
) -> Response:
    return await _handle(request, ctx, session, alert_id, "resolved")
