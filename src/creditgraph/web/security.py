"""Who is asking, and may they: the session from the cookie, the capability a page needs, and
the CSRF checks every write passes.

A write (any method but GET and HEAD) needs the session's CSRF token, as the form's hidden
``csrf_token`` field or htmx's ``X-CSRF-Token`` header, compared in constant time; and a
browser's ``Origin`` (or ``Sec-Fetch-Site``) must say the request came from this site. The
cookie is SameSite=Strict too, so a forged cross-site write fails three ways.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import Depends, Request

from creditgraph.web.context import WebContext
from creditgraph.web.errors import LoginRequired, WebError
from creditgraph.web.roles import Can, allows
from creditgraph.web.sessions import COOKIE, Session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_FIELDS = 2_000


async def web_context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def current_session(request: Request, ctx: WebContext = Depends(web_context)) -> Session:
    """The live session of the request's cookie; else the log-in page (or 401 for htmx)."""
    session = ctx.sessions.find(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired()
    request.state.web_session = session
    return session


def optional_session(request: Request, ctx: WebContext = Depends(web_context)) -> Session | None:
    session = ctx.sessions.find(request.cookies.get(COOKIE))
    if session is not None:
        request.state.web_session = session
    return session


def need(capability: Can) -> Callable[..., Session]:
    """A dependency: the session, when its role has ``capability`` (else 403)."""

    def check(session: Session = Depends(current_session)) -> Session:
        if not allows(session.role, capability):
            raise WebError(403, "error.forbidden")
        return session

    check.capability = capability  # type: ignore[attr-defined]  # read by the authorization tests
    return check


def same_origin(request: Request) -> bool:
    """Whether a browser says the request came from this site (non-browser clients pass)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        if origin == "null":
            return False
        if referer is None:
            return True  # not a browser's cross-site request: the CSRF token still decides
        origin = referer
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc == host


async def form_of(request: Request) -> dict[str, list[str]]:
    """The submitted form's fields (a list per name: bulk actions send several ids)."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


async def checked_form(request: Request, session: Session) -> dict[str, list[str]]:
    """The form of a write, once its origin and CSRF token are checked."""
    if not same_origin(request):
        raise WebError(403, "error.origin")
    fields = await form_of(request)
    sent = request.headers.get("x-csrf-token") or (fields.get("csrf_token") or [""])[0]
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise WebError(403, "error.csrf")
    return fields


def first(fields: dict[str, list[str]], name: str, default: str = "") -> str:
    values = fields.get(name)
    return values[0].strip() if values else default
