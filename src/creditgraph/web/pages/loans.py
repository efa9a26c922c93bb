"""The loans pages: a paginated list, and one loan's terms, schedule, payments, journal and
end-of-day history, read through the servicing service so the page shows the book's figures."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from creditgraph.servicing.errors import LoanNotFoundError
from creditgraph.web.context import WebContext
from creditgraph.web.data import loans as data
from creditgraph.web.errors import WebError
from creditgraph.web.render import is_htmx, page
from creditgraph.web.roles import Can
from creditgraph.web.security import need, web_context
from creditgraph.web.sessions import Session

router = APIRouter()
MAX_PAGE = 100_000


@router.get("/loans", response_class=HTMLResponse)
def loans(
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_LOANS)),
) -> Response:
    state = request.query_params.get("state") or None
    if state is not None and state not in data.STATES:
        state = None  # an unknown filter value resets the filter
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        raise WebError(400, "error.bad_input", detail="page") from None
    if not 1 <= number <= MAX_PAGE:
        raise WebError(400, "error.bad_input", detail="page")
    rows, total = data.page_of(ctx.engine, state, number)
    values = {
        "rows": rows,
        "total": total,
        "page": number,
        "pages": max(1, -(-total // data.PAGE)),
        "state": state or "",
        "states": data.STATES,
    }
    template = "loans_table.html" if is_htmx(request) else "loans.html"
    return page(ctx, request, session, template, values)


@router.get("/loans/{loan_id}", response_class=HTMLResponse)
def loan(
    loan_id: str,
    request: Request,
    ctx: WebContext = Depends(web_context),
    session: Session = Depends(need(Can.VIEW_LOANS)),
) -> Response:
    if len(loan_id) > 40:
        raise WebError(404, "error.not_found")
    service = ctx.loans()
    try:
        shown = service.show(loan_id)
        statement = service.statement(loan_id)
    except LoanNotFoundError:
        raise WebError(404, "error.not_found") from None
    own, eod = data.split_postings(statement["postings"])
    values = {
        "loan": shown,
        "person_id": data.person_of(ctx.engine, loan_id),
        "totals": data.schedule_totals(shown["schedule"]),
        "postings": own,
        "eod": eod,
        "balances": statement["balances"],
        "events": data.events(ctx.engine, loan_id),
    }
    return page(ctx, request, session, "loan.html", values)
