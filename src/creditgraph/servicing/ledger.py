"""Reading the journal: trial balance, balances by account, and a loan's statement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from creditgraph.money import from_fen
from creditgraph.servicing.accounts import Account, normal_balance
from creditgraph.servicing.book import JOURNAL, LOANS, TRANSACTIONS
from creditgraph.servicing.errors import LoanNotFoundError


def account_totals(conn: Connection, loan_id: str | None = None) -> dict[Account, tuple[int, int]]:
    """Total debits and credits (fen) per account, over the book or one loan."""
    statement = select(
        JOURNAL.c.account, func.sum(JOURNAL.c.debit_fen), func.sum(JOURNAL.c.credit_fen)
    ).group_by(JOURNAL.c.account)
    if loan_id is not None:
        statement = statement.where(JOURNAL.c.loan_id == loan_id)
    return {Account(a): (int(d or 0), int(c or 0)) for a, d, c in conn.execute(statement)}


def trial_balance(engine: Engine) -> dict[str, Any]:
    """Debits and credits per account; ``difference`` is zero when the books balance."""
    with engine.connect() as conn:
        totals = account_totals(conn)
    rows = [
        {
            "account": account.value,
            "debit": str(from_fen(d)),
            "credit": str(from_fen(c)),
            "balance": str(from_fen(normal_balance(account, d - c))),
        }
        for account, (d, c) in sorted(totals.items())
    ]
    debit = sum(d for d, _ in totals.values())
    credit = sum(c for _, c in totals.values())
    return {
        "accounts": rows,
        "total_debit": str(from_fen(debit)),
        "total_credit": str(from_fen(credit)),
        "difference": str(from_fen(debit - credit)),
        "balanced": debit == credit,
    }


def statement(engine: Engine, loan_id: str) -> dict[str, Any]:
    """Every posting of a loan, oldest first, with its lines and the loan's closing balances."""
    with engine.connect() as conn:
        loan = conn.execute(select(LOANS.c.id, LOANS.c.state).where(LOANS.c.id == loan_id)).first()
        if loan is None:
            raise LoanNotFoundError(f"loan {loan_id}: no such loan")
        txs = conn.execute(
            select(TRANSACTIONS)
            .where(TRANSACTIONS.c.loan_id == loan_id)
            .order_by(TRANSACTIONS.c.created_at, TRANSACTIONS.c.id)
        ).mappings()
        lines: dict[str, list[dict[str, str]]] = {}
        for row in conn.execute(
            select(JOURNAL).where(JOURNAL.c.loan_id == loan_id).order_by(JOURNAL.c.id)
        ).mappings():
            lines.setdefault(row["transaction_id"], []).append(
                {
                    "account": row["account"],
                    "debit": str(from_fen(row["debit_fen"])),
                    "credit": str(from_fen(row["credit_fen"])),
                }
            )
        postings = [
            {
                "transaction_id": tx["id"],
                "kind": tx["kind"],
                "business_date": tx["business_date"].isoformat(),
                "amount": str(from_fen(tx["amount_fen"])),
                "reversal_of": tx["reversal_of"],
                "reversed_by": tx["reversed_by"],
                "lines": lines.get(tx["id"], []),
            }
            for tx in txs
        ]
        totals = account_totals(conn, loan_id)
    balances = {
        account.value: str(from_fen(normal_balance(account, d - c)))
        for account, (d, c) in sorted(totals.items())
    }
    return {"loan_id": loan_id, "state": loan[1], "postings": postings, "balances": balances}
