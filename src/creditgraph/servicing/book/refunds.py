"""Refund rows: credit left on a closed loan is owed back to the borrower, and paid only when
an officer approves it.

A posting that closes a loan with credit left records a refund *due* (the credit stays in
``borrower_credit``, a liability, and on ``loans.credit_fen``); nothing leaves the books until
the refund service (:mod:`creditgraph.servicing.refunds`) posts the payout (Dr borrower_credit, Cr cash_clearing) with
the officer's name. Reversing the closing payment cancels a refund still due and is refused once
it was paid. Every refund, due, paid or cancelled, is a row here, read by the refunds report.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, and_, or_, select, update
from sqlalchemy.engine import Connection

from creditgraph.money import from_fen
from creditgraph.servicing import book
from creditgraph.servicing.core.values import RefundRecord
from creditgraph.store.models import LoanRefund, table_of

REFUNDS = table_of(LoanRefund)


class RefundStatus(StrEnum):
    DUE = "due"
    PAID = "paid"
    CANCELLED = "cancelled"  # the payment that closed the loan was reversed


def record_due(conn: Connection, loan_id: str, fen: int, day: date, source: str) -> str:
    """A refund due of ``fen`` on ``loan_id``, from posting ``source`` that closed it on ``day``."""
    refund_id = book.new_id("RF")
    conn.execute(
        REFUNDS.insert(),
        {
            "id": refund_id,
            "loan_id": loan_id,
            "amount_fen": fen,
            "status": RefundStatus.DUE.value,
            "due_on": day,
            "source_transaction_id": source,
            "created_at": book.now(),
        },
    )
    return refund_id


def of_source(conn: Connection, source: str) -> RowMapping | None:
    """The refund recorded by the closing posting ``source``, if any."""
    statement = select(REFUNDS).where(REFUNDS.c.source_transaction_id == source)
    return conn.execute(statement).mappings().first()


def due_on_loan(conn: Connection, loan_id: str) -> RowMapping | None:
    """The loan's refund still due (there is at most one: a loan closes once at a time)."""
    statement = select(REFUNDS).where(
        REFUNDS.c.loan_id == loan_id, REFUNDS.c.status == RefundStatus.DUE.value
    )
    return conn.execute(statement).mappings().first()


def cancel(conn: Connection, refund_id: str) -> None:
    conn.execute(
        update(REFUNDS).where(REFUNDS.c.id == refund_id).values(status=RefundStatus.CANCELLED.value)
    )


def mark_paid(
    conn: Connection, refund_id: str, by: str, at: datetime, on: date, transaction_id: str
) -> None:
    conn.execute(
        update(REFUNDS)
        .where(REFUNDS.c.id == refund_id, REFUNDS.c.status == RefundStatus.DUE.value)
        .values(
            status=RefundStatus.PAID.value,
            approved_by=by,
            approved_at=at,
            paid_on=on,
            transaction_id=transaction_id,
        )
    )


def listing(
    conn: Connection,
    start: date | None = None,
    end: date | None = None,
    loan_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every refund due or paid (or cancelled) whose due date or payout date falls in
    ``start``..``end`` (either bound optional), oldest first."""
    statement = select(REFUNDS).order_by(REFUNDS.c.due_on, REFUNDS.c.id)
    if loan_id is not None:
        statement = statement.where(REFUNDS.c.loan_id == loan_id)

    def within(column: Any) -> Any:
        conditions = [column.is_not(None)]
        if start is not None:
            conditions.append(column >= start)
        if end is not None:
            conditions.append(column <= end)
        return and_(*conditions)

    if start is not None or end is not None:
        statement = statement.where(or_(within(REFUNDS.c.due_on), within(REFUNDS.c.paid_on)))
    return [as_dict(row) for row in conn.execute(statement).mappings()]


def record(row: RowMapping) -> RefundRecord:
    """The refund row as a value, for the core's processors."""
    return RefundRecord(
        id=row["id"],
        amount_fen=int(row["amount_fen"]),
        status=row["status"],
        due_on=row["due_on"],
        source_transaction_id=row["source_transaction_id"],
        approved_by=row["approved_by"],
        paid_on=row["paid_on"],
    )


def as_dict(row: RowMapping) -> dict[str, Any]:
    return {
        "refund_id": row["id"],
        "loan_id": row["loan_id"],
        "amount": str(from_fen(row["amount_fen"])),
        "status": row["status"],
        "due_on": row["due_on"].isoformat(),
        "source_transaction_id": row["source_transaction_id"],
        "approved_by": row["approved_by"],
        "approved_at": row["approved_at"].isoformat() if row["approved_at"] else None,
        "paid_on": row["paid_on"].isoformat() if row["paid_on"] else None,
        "transaction_id": row["transaction_id"],
    }
