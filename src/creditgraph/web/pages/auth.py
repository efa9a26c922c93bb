"""Log-in, log-out and the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from creditgraph.store.db import write_transaction
from creditgraph.web import actions
from creditgraph.web.context import WebContext
from creditgraph.web.errors import WebError
from creditgraph.web.render import page
from creditgraph.web.roles import Can, allows
from creditgraph.web.security import (
    checked_form,
    current_session,
    first,
    form_of,
    optional_session,
    same_origin,
    web_context,
)
from creditgraph.web.sessions import COOKIE, LANGS, Session

router = APIRouter()
LANG_COOKIE = "cg_lang"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/portfolio"
    return target


def _secure(request: Request, ctx: WebContext) -> bool:
    return request.url.scheme == "https" or ctx.settings.web_secure_cookies


@router.get("/", response_class=HTMLResponse)
def home(session: Session | None = Depends(optional_session)) -> Response:
    return RedirectResponse("/portfolio" if session else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session | None = Depends(optional_session),
) -> Response:
    if session is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    notice = request.query_params.get("notice")
    return page(
        ctx,
        request,
        None,
        "login.html",
        {
            "next": _safe_next(request.query_params.get("next")),
            "message": None,
            "notice": notice if notice in ("logged_out", "expired") else None,
            "name": "",
        },
    )


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: WebContext = Depends(web_context)) -> Response:
    """Check a log-in. A browser's cross-site post is refused (no log-in CSRF); an address with
    too many failures (API keys and log-ins counted together) waits before any argon2 work."""
    if not same_origin(request):
        raise WebError(403, "error.origin")
    fields = await form_of(request)
    name = first(fields, "name")[:100]
    password = (fields.get("password") or [""])[0]
    target = _safe_next(first(fields, "next"))
    lang = request.cookies.get(LANG_COOKIE, "zh")
    guard = ctx.guard
    client = guard.client_id(request.client.host if request.client else None) if guard else ""

    def refused(message: tuple[str, dict[str, object]], status: int, **headers: str) -> Response:
        return page(
            ctx,
            request,
            None,
            "login.html",
            {"next": target, "message": message, "notice": None, "name": name},
            status=status,
            headers=headers or None,
        )

    if guard is not None:
        wait = await run_in_threadpool(guard.retry_after, None, client)
        if wait:
            minutes = max(1, (wait + 59) // 60)
            return refused(
                ("login.address_locked", {"minutes": minutes}), 429, **{"Retry-After": str(wait)}
            )
    result = await run_in_threadpool(ctx.users.authenticate, name, password)
    if result.user is None:
        if guard is not None:
            await run_in_threadpool(guard.failed, None, client, "bad_secret")
        return refused(("login.bad", {}), 401)
    token, _ = await run_in_threadpool(
        ctx.sessions.start, result.user.id, lang if lang in LANGS else "zh"
    )
    if not allows(result.user.role, Can.VIEW_PORTFOLIO):
        target = "/applicants"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request, ctx),
        path="/",
        max_age=ctx.settings.web_session_hours * 3600,
    )
    return response


@router.post("/logout")
async def logout(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(current_session),
) -> Response:
    await checked_form(request, session)

    def end() -> None:
        with write_transaction(ctx.engine) as conn:
            ctx.sessions.end(session, conn)
            actions.record(conn, session.actor, session.role, "logout")

    await run_in_threadpool(end)
    response = RedirectResponse("/login?notice=logged_out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/lang")
async def switch_language(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session | None = Depends(optional_session),
) -> Response:
    """Keep the chosen language in the session (and in a cookie for the log-in page)."""
    if session is not None:
        fields = await checked_form(request, session)
    elif same_origin(request):
        fields = await form_of(request)
    else:
        raise WebError(403, "error.origin")
    lang = first(fields, "lang")
    if lang not in LANGS:
        lang = "zh"
    if session is not None:
        await run_in_threadpool(ctx.sessions.set_lang, session, lang)
    target = _safe_next(first(fields, "next")) if session else "/login"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        LANG_COOKIE, lang, httponly=True, samesite="strict", secure=_secure(request, ctx), path="/"
    )
    return response
