"""The portfolio page: where the book stands at the end of a closed day, for every role.

Balances and counts by DPD bucket with a drill-down to each bucket's loans, PAR1/30/90,
vintage curves and decision rates by segment and product, all under one set of GET filters
(as-of day, product, segment, region, origination range) that links, the drill-down and the CSV
exports keep.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from creditgraph.web.context import WebContext
from creditgraph.web.data import portfolio as data
from creditgraph.web.errors import WebError
from creditgraph.web.render import is_htmx, page
from creditgraph.web.roles import Can
from creditgraph.web.security import need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()

CHART_WIDTH = 640
CHART_HEIGHT = 260
CHART_PAD = 40


@dataclass(frozen=True, slots=True)
class Scope:
    """A request's filters with the book's figures they select."""

    filters: data.Filters
    latest: date | None
    options: data.Options
    loans: list[data.LoanRow]
    state: data.DayState


def _scope(conn: Connection, ctx: WebContext, request: Request) -> Scope:
    latest = data.latest_closed(conn)
    options = data.cached_options(conn, ctx._cache, latest)
    try:
        filters = data.parse_filters(request.query_params, latest, options)
    except data.BadFilter as bad:
        raise WebError(400, "error.bad_input", detail=f"{bad.name} = {bad.value!r}") from None
    state = data.day_state(conn, ctx._cache, latest, filters.as_of)
    return Scope(filters, latest, options, data.filtered_loans(conn, filters), state)


def _bucket_of(request: Request) -> str:
    bucket = request.query_params.get("bucket", "").strip()
    if bucket not in data.BUCKETS:
        raise WebError(400, "error.bad_input", detail=f"bucket = {bucket[:10]!r}")
    return bucket


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _chart(vintages: list[data.Vintage]) -> dict[str, Any]:
    """The vintage curves as SVG polylines (server-drawn): x months on book, y share 30+."""
    longest = max((len(v.shares) for v in vintages), default=0)
    top = max((s for v in vintages for s in v.shares), default=Decimal(0))
    y_max = max(Decimal("0.05"), (top * Decimal("1.2")).quantize(Decimal("0.01")))
    inner_w = CHART_WIDTH - 2 * CHART_PAD
    inner_h = CHART_HEIGHT - 2 * CHART_PAD

    def x(k: int) -> float:
        return CHART_PAD + (inner_w * (k - 1) / max(1, longest - 1))

    def y(share: Decimal) -> float:
        return CHART_HEIGHT - CHART_PAD - float(share / y_max) * inner_h

    lines = [
        {
            "month": v.month,
            "points": " ".join(f"{x(k):.1f},{y(s):.1f}" for k, s in enumerate(v.shares, 1)),
            "dots": [(round(x(k), 1), round(y(s), 1)) for k, s in enumerate(v.shares, 1)],
            "hue": (index * 67) % 360,
        }
        for index, v in enumerate(vintages)
        if v.shares
    ]
    ticks_y = [y_max * i / 4 for i in range(5)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "lines": lines,
        "x_ticks": [(k, round(x(k), 1)) for k in range(1, longest + 1)],
        "y_ticks": [(v, round(y(v), 1)) for v in ticks_y],
        "longest": longest,
    }


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_PORTFOLIO)),
) -> Response:
    with ctx.engine.connect() as conn:
        scope = _scope(conn, ctx, request)
        history = data.history(conn, ctx._cache, scope.latest)
        decisions = data.decision_lines(conn, scope.filters, scope.loans)
    vintages = data.vintages(scope.loans, history.reached_30, scope.filters.as_of)
    return page(
        ctx,
        request,
        session,
        "portfolio.html",
        {
            "f": scope.filters,
            "latest": scope.latest,
            "options": scope.options,
            "buckets": data.buckets(scope.loans, scope.state),
            "vintages": vintages,
            "chart": _chart(vintages),
            "decisions": decisions,
            "outcomes": data.OUTCOMES,
        },
    )


@router.get("/portfolio/loans", response_class=HTMLResponse)
def bucket_loans(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_PORTFOLIO)),
) -> Response:
    bucket = _bucket_of(request)
    with ctx.engine.connect() as conn:
        scope = _scope(conn, ctx, request)
    rows = data.bucket_loans(scope.loans, scope.state, bucket)
    pages = max(1, -(-len(rows) // data.PAGE_SIZE))
    number = min(_page_number(request), pages)
    values = {
        "f": scope.filters,
        "latest": scope.latest,
        "options": scope.options,
        "bucket": bucket,
        "rows": rows[(number - 1) * data.PAGE_SIZE : number * data.PAGE_SIZE],
        "total": len(rows),
        "total_fen": sum(r.outstanding_fen for r in rows),
        "page_number": number,
        "pages": pages,
    }
    template = "portfolio_loans_fragment.html" if is_htmx(request) else "portfolio_loans.html"
    return page(ctx, request, session, template, values)


def _csv(rows: list[list[str]], name: str) -> Response:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _share(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.6f}"


@router.get("/portfolio.csv")
def portfolio_csv(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_PORTFOLIO)),
) -> Response:
    """The bucket table: counts, outstanding principal in exact yuan, share of the total."""
    with ctx.engine.connect() as conn:
        scope = _scope(conn, ctx, request)
    table = data.buckets(scope.loans, scope.state)
    as_of = scope.filters.as_of.isoformat()
    rows = [["as_of", "bucket", "loans", "outstanding_yuan", "share"]]
    rows += [
        [as_of, line.bucket, str(line.loans), data.yuan(line.outstanding_fen), _share(line.share)]
        for line in table.lines
    ]
    rows.append([as_of, "total", str(table.total_loans), data.yuan(table.total_fen), ""])
    return _csv(rows, f"portfolio-{as_of}.csv")


@router.get("/portfolio/loans.csv")
def bucket_loans_csv(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_PORTFOLIO)),
) -> Response:
    """A bucket's loans (every page): loan id, product, origination, outstanding, DPD; no
    person id or other personal data."""
    bucket = _bucket_of(request)
    with ctx.engine.connect() as conn:
        scope = _scope(conn, ctx, request)
    as_of = scope.filters.as_of.isoformat()
    rows = [["as_of", "loan_id", "product", "disbursed_on", "bucket", "dpd", "outstanding_yuan"]]
    rows += [
        [
            as_of,
            r.id,
            r.product,
            r.disbursed_on.isoformat(),
            r.bucket,
            str(r.dpd),
            data.yuan(r.outstanding_fen),
        ]
        for r in data.bucket_loans(scope.loans, scope.state, bucket)
    ]
    slug = bucket.replace("+", "plus")
    return _csv(rows, f"portfolio-{slug}-{as_of}.csv")
