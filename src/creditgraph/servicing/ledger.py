"""Reading the journal: trial balance, balances by account, and a loan's statement.

The statements are the book's (:mod:`creditgraph.servicing.book.ledger`); this module shapes
what they read for people (yuan strings, each account's normal side).
"""

from __future__ import annotations

from typing import Any

from creditgraph.money import from_fen
from creditgraph.servicing.accounts import normal_balance
from creditgraph.servicing.book.ledger import account_totals, loan_postings
from creditgraph.servicing.book.uow import Engine, reading
from creditgraph.servicing.errors import LoanNotFoundError

__all__ = ["account_totals", "statement", "trial_balance"]


def trial_balance(engine: Engine) -> dict[str, Any]:
    """Debits and credits per account; ``difference`` is zero when the books balance."""
    with reading(engine) as uow:
        totals = account_totals(uow.conn)
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
    with reading(engine) as uow:
        found = loan_postings(uow.conn, loan_id)
        if found is None:
            raise LoanNotFoundError(f"loan {loan_id}: no such loan")
        state, txs, lines = found
        totals = account_totals(uow.conn, loan_id)
    by_tx: dict[str, list[dict[str, str]]] = {}
    for row in lines:
        by_tx.setdefault(row["transaction_id"], []).append(
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
            "lines": by_tx.get(tx["id"], []),
        }
        for tx in txs
    ]
    balances = {
        account.value: str(from_fen(normal_balance(account, d - c)))
        for account, (d, c) in sorted(totals.items())
    }
    return {"loan_id": loan_id, "state": state, "postings": postings, "balances": balances}
