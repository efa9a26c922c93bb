"""The journal's statements: totals per account, and a loan's postings with their lines."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, func, select
from sqlalchemy.engine import Connection

from creditgraph.servicing.accounts import Account
from creditgraph.servicing.book import JOURNAL, LOANS, TRANSACTIONS


def account_totals(conn: Connection, loan_id: str | None = None) -> dict[Account, tuple[int, int]]:
    """Total debits and credits (fen) per account, over the book or one loan."""
    statement = select(
        JOURNAL.c.account, func.sum(JOURNAL.c.debit_fen), func.sum(JOURNAL.c.credit_fen)
    ).group_by(JOURNAL.c.account)
    if loan_id is not None:
        statement = statement.where(JOURNAL.c.loan_id == loan_id)
    return {Account(a): (int(d or 0), int(c or 0)) for a, d, c in conn.execute(statement)}


def loan_postings(
    conn: Connection, loan_id: str
) -> tuple[str, Sequence[RowMapping], Sequence[RowMapping]] | None:
    """The loan's state, its transactions (oldest first) and their journal lines (in order);
    None if there is no such loan."""
    loan = conn.execute(select(LOANS.c.id, LOANS.c.state).where(LOANS.c.id == loan_id)).first()
    if loan is None:
        return None
    txs = (
        conn.execute(
            select(TRANSACTIONS)
            .where(TRANSACTIONS.c.loan_id == loan_id)
            .order_by(TRANSACTIONS.c.created_at, TRANSACTIONS.c.id)
        )
        .mappings()
        .all()
    )
    lines = (
        conn.execute(select(JOURNAL).where(JOURNAL.c.loan_id == loan_id).order_by(JOURNAL.c.id))
        .mappings()
        .all()
    )
    return str(loan[1]), txs, lines
