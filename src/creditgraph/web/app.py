"""Mounting the workspace on the API's FastAPI app: its routers, static files, error pages and
security headers. ``creditgraph serve`` then serves both; the API stays under ``/v1``."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.settings import Settings
from creditgraph.web.context import AddressGuard, WebContext
from creditgraph.web.errors import LoginRequired, WebError
from creditgraph.web.pages import ROUTERS
from creditgraph.web.render import is_htmx, page

if TYPE_CHECKING:
    from creditgraph.servicing.loans import LoanService

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
GRAPH_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""The applicant page's policy: cytoscape sets inline styles on the graph's container and adds
a small stylesheet of its own. Styles only; scripts stay 'self' everywhere."""
_GRAPH_PREFIX = b"/applicants/"
_API_PREFIXES = (b"/v1", b"/docs", b"/openapi.json")


class SecurityHeaders:
    """CSP and friends on every workspace answer (the API's JSON and its docs page excluded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("raw_path", b"").startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return
        graph = scope.get("raw_path", b"").startswith(_GRAPH_PREFIX)
        policy = (GRAPH_CSP if graph else CSP).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # a route that states its own policy (a stored report, sandboxed) keeps it: two
                # policies would both apply, and the stricter would break the report
                if not any(name.lower() == b"content-security-policy" for name, _ in headers):
                    headers.append((b"content-security-policy", policy))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class ServerTiming:
    """``Server-Timing: app;dur=<ms>`` on each workspace answer: the time the app took before the
    response started, as the browser's developer tools and ``bench/web.py`` read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("raw_path", b"").startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.2f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, timed)


def mount(
    app: FastAPI,
    engine: Engine,
    settings: Settings,
    pseudonyms: Pseudonymiser,
    guard: AddressGuard | None = None,
    loan_service: Callable[[], LoanService] | None = None,
) -> None:
    """Add the workspace to ``app``; ``guard`` limits failed log-ins by client address and
    ``loan_service`` gives the app's own loan service (else the workspace builds one)."""
    ctx = WebContext.build(engine, settings, pseudonyms, guard, loan_service)
    app.state.web = ctx

    async def on_login_required(request: Request, _: Exception) -> Response:
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    async def on_web_error(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, WebError)
        session = getattr(request.state, "web_session", None)
        template = "error_fragment.html" if is_htmx(request) else "error.html"
        return page(ctx, request, session, template, {"error": exc}, status=exc.status)

    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(WebError, on_web_error)
    static = resources.files("creditgraph.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)
