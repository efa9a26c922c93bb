"""Loans and their instalments read as typed values, and the statements of the loan
lifecycle that are not postings (a loan created from an accepted offer, the reads of show)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import RowMapping, bindparam, select
from sqlalchemy.engine import Connection

from creditgraph.servicing import book
from creditgraph.servicing.allocation import AllocationRule
from creditgraph.servicing.book import CLOSED_THROUGH, INSTALMENTS, LOANS
from creditgraph.servicing.core.values import Instalment, LoanSnapshot
from creditgraph.store.models import DecisionRecord, ReviewRequest, table_of

DECISIONS = table_of(DecisionRecord)
REVIEWS = table_of(ReviewRequest)

_INSTALMENT_FIELDS = tuple(Instalment.__dataclass_fields__)
_instalment_values = itemgetter(*_INSTALMENT_FIELDS)
# Positions in a row of ``book._LOAN_OWING`` (the loan's columns, the books' last closed date,
# then the instalment's): a repayment builds its values straight from the joined row.
_LOAN_WIDTH = len(LOANS.c) + 1
_JOINED_INSTALMENT = itemgetter(
    *(_LOAN_WIDTH + list(INSTALMENTS.c.keys()).index(name) for name in _INSTALMENT_FIELDS)
)
_JOINED_ID = _LOAN_WIDTH + list(INSTALMENTS.c.keys()).index("id")
_LOAN_NAMES = (*LOANS.c.keys(), CLOSED_THROUGH)
_RULES: dict[str, AllocationRule] = {}
_DECISION = select(DECISIONS).where(DECISIONS.c.id == bindparam("decision_id"))
_LOAN_OF_DECISION = select(LOANS).where(LOANS.c.decision_id == bindparam("decision_id"))
_LOAN = select(LOANS).where(LOANS.c.id == bindparam("loan_id"))
_INSTALMENTS_OF = (
    select(INSTALMENTS)
    .where(
        INSTALMENTS.c.loan_id == bindparam("loan_id"),
        INSTALMENTS.c.superseded.is_(False)
        | INSTALMENTS.c.id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(INSTALMENTS.c.number, INSTALMENTS.c.id)
)


def _rule(text: str) -> AllocationRule:
    rule = _RULES.get(text)
    if rule is None:
        rule = _RULES[text] = AllocationRule.decode(text)
    return rule


def _day(value: Any) -> date | None:
    if isinstance(value, str):  # a raw SQLite read of a row written outside SQLAlchemy
        return date.fromisoformat(value)
    return value  # type: ignore[no-any-return]


def snapshot(row: Mapping[Any, Any]) -> LoanSnapshot:
    """The loan row (with the books' last closed date when it was read with it) as a value."""
    return LoanSnapshot(
        id=row["id"],
        state=row["state"],
        applicant_ref=row["applicant_ref"],
        product_code=row["product_code"],
        principal_fen=int(row["principal_fen"]),
        upfront_fee_fen=int(row["upfront_fee_fen"]),
        fee_per_period_fen=int(row["fee_per_period_fen"]),
        nominal_rate=Decimal(row["nominal_rate"]),
        penalty_rate=Decimal(row["penalty_rate"]),
        prepayment_fee_rate=Decimal(row["prepayment_fee_rate"]),
        allocation=_rule(row["allocation_order"]),
        method=row["method"],
        frequency=row["frequency"],
        day_count=row["day_count"],
        periods=int(row["periods"]),
        credit_fen=int(row["credit_fen"]),
        dpd=int(row["dpd"]),
        bucket=row["bucket"],
        overdue_since=row["overdue_since"],
        npa=bool(row["npa"]),
        maturity=row["maturity"],
        disbursed_on=row["disbursed_on"],
        accrued_through=row["accrued_through"],
        version=int(row["version"]),
        schedule_version=int(row["schedule_version"]),
        books_closed_through=_day(row.get(CLOSED_THROUGH)),
    )


def instalment(row: Mapping[Any, Any]) -> Instalment:
    return Instalment(*_instalment_values(row))


def instalments(rows: Sequence[Mapping[Any, Any]]) -> list[Instalment]:
    return [instalment(row) for row in rows]


def lock(conn: Connection, loan_id: str) -> LoanSnapshot | None:
    """The loan, locked for this transaction (see :func:`book.lock_loan`)."""
    row = book.lock_loan(conn, loan_id)
    return None if row is None else snapshot(row)


def lock_with_owing(conn: Connection, loan_id: str) -> tuple[LoanSnapshot | None, list[Instalment]]:
    """The locked loan and its owing instalments (due or not), in one round trip
    (``book.LOAN_OWING``), as values built straight from the joined rows: a repayment pays the
    due ones and sizes its ceiling on all of them."""
    statement = book.LOAN_OWING_FOR_UPDATE if conn.dialect.name == "postgresql" else book.LOAN_OWING
    rows = conn.execute(statement, {"loan_id": loan_id}).all()
    if not rows:
        return None, []
    loan = snapshot(dict(zip(_LOAN_NAMES, rows[0][:_LOAN_WIDTH], strict=True)))
    return loan, [Instalment(*_JOINED_INSTALMENT(r)) for r in rows if r[_JOINED_ID] is not None]


def current(conn: Connection, loan_id: str) -> list[Instalment]:
    return instalments(book.current_instalments(conn, loan_id))


def owing(conn: Connection, loan_id: str) -> list[Instalment]:
    return instalments(book.owing_rows(conn, loan_id))


def due_by(conn: Connection, loan_id: str, on: date) -> list[Instalment]:
    return instalments(book.unsettled_due(conn, loan_id, on))


def current_and(conn: Connection, loan_id: str, ids: Sequence[int]) -> list[Instalment]:
    """The current instalments and the listed (possibly superseded) ones, by number."""
    if not ids:
        return current(conn, loan_id)
    params = {"loan_id": loan_id, "ids": list(ids)}
    return instalments(list(conn.execute(_INSTALMENTS_OF, params).mappings()))


def row(conn: Connection, loan_id: str) -> RowMapping | None:
    """The loan's row as stored, unlocked (for show and the ceiling)."""
    return conn.execute(_LOAN, {"loan_id": loan_id}).mappings().first()


def decision(conn: Connection, decision_id: str) -> RowMapping | None:
    return conn.execute(_DECISION, {"decision_id": decision_id}).mappings().first()


def loan_of_decision(conn: Connection, decision_id: str) -> RowMapping | None:
    return conn.execute(_LOAN_OF_DECISION, {"decision_id": decision_id}).mappings().first()


def review_approved(conn: Connection, decision_id: str) -> bool:
    """Whether a human review approved the decision (an accepted offer of a referred case)."""
    found = conn.execute(
        select(REVIEWS.c.id).where(
            REVIEWS.c.decision_id == decision_id,
            REVIEWS.c.status == "approved",
            # a monitoring review judges the borrower, not the application: it approves nothing
            REVIEWS.c.kind != "monitoring",
        )
    ).first()
    return found is not None


def insert(conn: Connection, values: Mapping[Any, Any]) -> None:
    conn.execute(LOANS.insert(), dict(values))
