"""The models pages: the registry by family (champion and challenger marked, training date,
metrics) and each version's validation report.

The report is the training's own HTML file, served as a download under a sandboxing policy
(no script runs, no request leaves) so a report can never act inside the workspace.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from creditgraph.web.context import WebContext
from creditgraph.web.data import models as data
from creditgraph.web.errors import WebError
from creditgraph.web.render import page
from creditgraph.web.roles import Can
from creditgraph.web.security import need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()
REPORT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@router.get("/models", response_class=HTMLResponse)
def models(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_MODELS)),
) -> Response:
    return page(ctx, request, session, "models.html", {"families": data.listing(ctx.engine)})


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model(
    model_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_MODELS)),
) -> Response:
    record = data.find(ctx.engine, model_id[:80])
    if record is None:
        raise WebError(404, "error.not_found")
    values = {
        "model": data.summary(record),
        "has_report": data.report_file(record, ctx.settings.home_dir) is not None,
    }
    return page(ctx, request, session, "model.html", values)


@router.get("/models/{model_id}/report")
def report(
    model_id: str,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_MODELS)),
) -> Response:
    record = data.find(ctx.engine, model_id[:80])
    path = None if record is None else data.report_file(record, ctx.settings.home_dir)
    if record is None or path is None:
        raise WebError(404, "error.not_found")
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        filename=f"{record.id}.html",
        content_disposition_type="attachment",
        headers={"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store"},
    )
