"""Rendering a page or an htmx fragment with what every template needs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from creditgraph.web.context import WebContext
from creditgraph.web.i18n import texts
from creditgraph.web.roles import MATRIX, Can, WebRole
from creditgraph.web.sessions import Session

NAV: tuple[tuple[str, str, Can], ...] = (
    ("/portfolio", "nav.portfolio", Can.VIEW_PORTFOLIO),
    ("/reviews", "nav.reviews", Can.VIEW_REVIEWS),
    ("/alerts", "nav.alerts", Can.VIEW_ALERTS),
    ("/applicants", "nav.applicants", Can.VIEW_APPLICANT),
    ("/loans", "nav.loans", Can.VIEW_LOANS),
    ("/models", "nav.models", Can.VIEW_MODELS),
    ("/activity", "nav.activity", Can.VIEW_ACTIVITY),
)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def page(
    ctx: WebContext,
    request: Request,
    session: Session | None,
    template: str,
    values: dict[str, Any] | None = None,
    status: int = 200,
    lang: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered for ``session`` (its language, its role's navigation)."""
    language = lang or (session.lang if session else request.cookies.get("cg_lang", "zh"))
    t = texts(language, ctx.settings.timezone)
    role = session.role if session else None
    nav = [
        (href, key, href == request.url.path or request.url.path.startswith(href + "/"))
        for href, key, cap in NAV
        if role is not None and WebRole(role) in MATRIX[cap]
    ]
    html = ctx.templates.get_template(template).render(
        t=t,
        lang=t.lang,
        session=session,
        csrf=session.csrf_token if session else "",
        nav=nav,
        can=(lambda cap: role is not None and WebRole(role) in MATRIX[Can(cap)]),
        path=request.url.path,
        **(values or {}),
    )
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )
