"""Activity: what people did in the workspace and who read personal data, for auditors.

Both lists are read-only views of append-only records (``workspace_actions``, committed to the
audit log, and ``data_access_log``); filters narrow them, newest first, a page at a time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from creditgraph.store.models import DataAccess, WorkspaceAction, table_of
from creditgraph.web.context import WebContext
from creditgraph.web.errors import WebError
from creditgraph.web.i18n import catalogue
from creditgraph.web.render import page
from creditgraph.web.roles import Can
from creditgraph.web.security import need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()
ACTIONS = table_of(WorkspaceAction)
ACCESS = table_of(DataAccess)
PAGE = 100


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise WebError(400, "error.bad_input", detail=f"{field}: YYYY-MM-DD") from None


def _offset(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@router.get("/activity", response_class=HTMLResponse)
def activity(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_ACTIVITY)),
) -> HTMLResponse:
    q = request.query_params
    actor = (q.get("actor") or "").strip()[:100]
    action = (q.get("action") or "").strip()[:40]
    since = _day(q.get("since"), "since")
    until = _day(q.get("until"), "until")
    offset = _offset(q.get("offset"))
    reads_offset = _offset(q.get("reads_offset"))
    stmt = select(ACTIONS)
    access = select(ACCESS)
    if actor:
        stmt = stmt.where(ACTIONS.c.actor == actor)
        # the access log names a workspace user ``user:web:<name>`` (an actor of kind user)
        access = access.where(ACCESS.c.actor.in_([actor, f"user:{actor}"]))
    if action:
        stmt = stmt.where(ACTIONS.c.action.startswith(action, autoescape=True))
    if since:
        start = datetime.combine(since, datetime.min.time())
        stmt = stmt.where(ACTIONS.c.at >= start)
        access = access.where(ACCESS.c.at >= start)
    if until:
        end = datetime.combine(until + timedelta(days=1), datetime.min.time())
        stmt = stmt.where(ACTIONS.c.at < end)
        access = access.where(ACCESS.c.at < end)
    with ctx.engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                stmt.order_by(ACTIONS.c.at.desc(), ACTIONS.c.id).offset(offset).limit(PAGE + 1)
            ).mappings()
        ]
        reads = [
            dict(r)
            for r in conn.execute(
                access.order_by(ACCESS.c.at.desc(), ACCESS.c.id.desc())
                .offset(reads_offset)
                .limit(PAGE + 1)
            ).mappings()
        ]
        kinds = sorted(
            conn.execute(select(ACTIONS.c.action).group_by(ACTIONS.c.action)).scalars().all()
        )
        total = conn.execute(select(func.count()).select_from(ACTIONS)).scalar_one()
    more = len(rows) > PAGE
    return page(
        ctx,
        request,
        session,
        "activity.html",
        {
            "rows": rows[:PAGE],
            "reads": reads[:PAGE],
            "reads_offset": reads_offset,
            "reads_next": reads_offset + PAGE if len(reads) > PAGE else None,
            "reads_prev": max(0, reads_offset - PAGE) if reads_offset else None,
            "kinds": kinds,
            "known": catalogue(),
            "total": total,
            "filters": {
                "actor": actor,
                "action": action,
                "since": since.isoformat() if since else "",
                "until": until.isoformat() if until else "",
            },
            "offset": offset,
            "next_offset": offset + PAGE if more else None,
            "prev_offset": max(0, offset - PAGE) if offset else None,
        },
    )
