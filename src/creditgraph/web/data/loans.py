"""What the loans pages read: a page of loans, and one loan's terms, schedule, postings,
journal and end-of-day history.

A loan's schedule, balances and postings come from the servicing service itself
(``LoanService.show`` and ``statement``), so the page shows the book's own figures; this module
only lists loans and groups the daily end-of-day postings by month, since a year of daily
accruals is hundreds of rows nobody reads one by one.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from creditgraph.store.models import Loan, LoanEvent, table_of

PAGE = 50
STATES = (
    "offered",
    "accepted",
    "active",
    "overdue",
    "closed",
    "written_off",
    "cancelled",
    "rejected",
)
EOD_KINDS = frozenset({"accrual", "penalty"})
"""Postings the end-of-day job makes every day: shown as a monthly history, not one by one."""

_LOANS = table_of(Loan).c
_EVENTS = table_of(LoanEvent).c


def page_of(engine: Engine, state: str | None, page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of loans (newest first) and how many match."""
    where = [] if state is None else [_LOANS.state == state]
    with engine.connect() as conn:
        total = int(
            conn.execute(
                select(func.count()).select_from(table_of(Loan)).where(*where)
            ).scalar_one()
        )
        rows = conn.execute(
            select(
                _LOANS.id,
                _LOANS.person_id,
                _LOANS.product_code,
                _LOANS.state,
                _LOANS.principal_fen,
                _LOANS.disbursed_on,
                _LOANS.maturity,
                _LOANS.dpd,
                _LOANS.bucket,
            )
            .where(*where)
            .order_by(_LOANS.created_at.desc(), _LOANS.id)
            .limit(PAGE)
            .offset(max(0, page - 1) * PAGE)
        ).mappings()
        return [dict(r) for r in rows], total


def person_of(engine: Engine, loan_id: str) -> str | None:
    with engine.connect() as conn:
        found: str | None = conn.execute(
            select(_LOANS.person_id).where(_LOANS.id == loan_id)
        ).scalar_one_or_none()
        return found


def events(engine: Engine, loan_id: str) -> list[dict[str, Any]]:
    """The loan's lifecycle events, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_EVENTS.at, _EVENTS.event, _EVENTS.from_state, _EVENTS.to_state, _EVENTS.actor)
            .where(_EVENTS.loan_id == loan_id)
            .order_by(_EVENTS.at, _EVENTS.id)
        ).mappings()
        return [dict(r) for r in rows]


def split_postings(
    postings: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A statement's postings as (the ones made by people or payments, the end-of-day history
    by month and kind: days, total in yuan)."""
    own: list[dict[str, Any]] = []
    months: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
    for p in postings:
        if p["kind"] not in EOD_KINDS:
            own.append(p)
            continue
        key = (p["business_date"][:7], p["kind"])
        month = months.setdefault(
            key,
            {
                "month": key[0],
                "kind": key[1],
                "days": 0,
                "total": Decimal(0),
                "first": p["business_date"],
                "last": p["business_date"],
            },
        )
        month["days"] += 1
        month["total"] += Decimal(p["amount"])
        month["last"] = p["business_date"]
    return own, list(months.values())


def schedule_totals(schedule: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Sums of the schedule's columns, in yuan (decimal strings from the service)."""
    columns = ("principal", "interest", "fee", "paid", "penalty", "outstanding")
    return {c: sum((Decimal(row[c]) for row in schedule), Decimal(0)) for c in columns}
