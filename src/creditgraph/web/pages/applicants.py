"""The applicant page: find a person, see their score, reasons, features, decisions, loans and
ego credit graph; officers may reveal the decrypted profile, which is logged.

Opening the page decrypts nothing: the profile is read only on an explicit request (a POST
with the CSRF token, so no prefetch or link scanner can reveal anyone), by a role with
``Can.REVEAL_PROFILE``, and each such read writes an access-log row and a workspace action in
one transaction. Finding a person by the lender's own id turns a real-world identifier into a
pseudonym: only roles that may see profiles may do it, and each such lookup is logged.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from creditgraph.privacy.keys import KeyProvider, MasterKeyError, master_key_file, open_master_key
from creditgraph.web.context import WebContext
from creditgraph.web.data import applicant as data
from creditgraph.web.data import graph as ego
from creditgraph.web.errors import WebError
from creditgraph.web.render import is_htmx, page
from creditgraph.web.roles import Can, allows
from creditgraph.web.security import checked_form, need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()
MAX_QUERY = 100
_PROVIDER = "applicants.key_provider"


def _provider(ctx: WebContext) -> KeyProvider:
    """The master key, opened from the home's settings on the first reveal."""
    found = ctx._cache.get(_PROVIDER)
    if found is None:
        with ctx._lock:
            found = ctx._cache.get(_PROVIDER)
            if found is None:
                try:
                    found = open_master_key(ctx.engine, master_key_file(ctx.settings))
                except MasterKeyError:
                    raise WebError(503, "applicants.key_unavailable") from None
                ctx._cache[_PROVIDER] = found
    provider: KeyProvider = found
    return provider


def _find(ctx: WebContext, text: str, session: Session) -> str | None:
    """A person by pseudonym (whole or a prefix), or by the lender's own id for a role that may
    see personal data (the lookup logged as a read of the external id)."""
    text = text.strip()[:MAX_QUERY]
    if not text:
        return None
    if data.is_pseudonym_text(text.lower()):
        found = data.resolve(ctx.engine, text)
        if found is not None:
            return found
    if not allows(session.role, Can.REVEAL_PROFILE):
        return None
    found = data.resolve(ctx.engine, ctx.person_pseudonym(text))
    if found is not None:
        data.log_lookup(ctx.engine, found, session.actor)
    return found


@router.get("/applicants", response_class=HTMLResponse)
def applicants(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_APPLICANT)),
) -> Response:
    query = request.query_params.get("q", "")
    missing = False
    if query.strip():
        found = _find(ctx, query, session)
        if found is not None:
            return RedirectResponse(f"/applicants/{found}", status_code=303)
        missing = True
    return page(
        ctx,
        request,
        session,
        "applicants.html",
        {"missing": missing, "recent": data.recent_decisions(ctx.engine)},
        status=404 if missing else 200,
    )


def _person_or_404(ctx: WebContext, person_id: str) -> str:
    found = data.resolve(ctx.engine, person_id)
    if found is None:
        raise WebError(404, "error.not_found")
    return found


def _applicant_page(
    ctx: WebContext,
    request: Request,
    session: Session,
    person_id: str,
    profile: dict[str, Any] | None,
) -> Response:
    person = data.person(ctx.engine, person_id)
    assert person is not None
    graph = ego.ego_graph(ctx.engine, ctx.settings.lake_dir, person_id)
    values: dict[str, Any] = {
        "person_id": person_id,
        "person": person,
        "profile": profile,
        "revealed": profile is not None,
        "graph": graph,
        "neighbours": ego.first_hop(graph),
        **data.overview(ctx.engine, person_id, personal=profile is not None),
    }
    return page(ctx, request, session, "applicant.html", values)


@router.get("/applicants/{person_id}", response_class=HTMLResponse)
def applicant(
    person_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_APPLICANT)),
) -> Response:
    found = _person_or_404(ctx, person_id)
    if found != person_id:
        return RedirectResponse(f"/applicants/{found}", status_code=303)
    return _applicant_page(ctx, request, session, found, None)


@router.post("/applicants/{person_id}/profile", response_class=HTMLResponse)
async def reveal_profile(
    person_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.REVEAL_PROFILE)),
) -> Response:
    """Decrypt the profile for this answer only (nothing kept in the URL or the session); with
    htmx just the profile's section, without it the whole page with the profile shown."""
    await checked_form(request, session)

    def read() -> Response:
        found = _person_or_404(ctx, person_id)
        profile = data.reveal(ctx.engine, _provider(ctx), found, session.actor, session.role)
        if profile is None:
            raise WebError(404, "applicants.profile_gone")
        if is_htmx(request):
            return page(
                ctx,
                request,
                session,
                "applicant_profile.html",
                {"person_id": found, "profile": profile, "revealed": True},
            )
        return _applicant_page(ctx, request, session, found, profile)

    return await run_in_threadpool(read)


@router.get("/applicants/{person_id}/graph.json")
def applicant_graph(
    person_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_APPLICANT)),
) -> Response:
    """The ego graph as JSON (``expand`` names folded branches to open, by short id)."""
    found = _person_or_404(ctx, person_id)
    expand = [
        part.strip()[: ego.SHORT]
        for value in request.query_params.getlist("expand")
        for part in value.split(",")
        if part.strip()
    ][:20]
    graph = ego.ego_graph(ctx.engine, ctx.settings.lake_dir, found, expand=expand)
    return JSONResponse(graph, headers={"Cache-Control": "no-store"})
