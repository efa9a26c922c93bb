"""The journal: balanced postings only, one positive side per line (enforced by the database
too), reversals mirror, and the trial balance sums to zero on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from creditgraph.servicing import book
from creditgraph.servicing.accounts import (
    Account,
    Line,
    UnbalancedPostingError,
    check_balanced,
    credit,
    debit,
    entry,
    mirror,
)
from creditgraph.servicing.ledger import statement, trial_balance
from creditgraph.servicing.loans import LoanService
from creditgraph.store.db import write_transaction
from tests.loan_world import active_loan

DAY = date(2026, 7, 2)


def test_lines_must_balance_and_be_one_sided() -> None:
    lines = entry(Account.INTEREST_RECEIVABLE, Account.INTEREST_INCOME, 150)
    assert check_balanced(lines) == lines
    assert entry(Account.CASH_CLEARING, Account.FEE_INCOME, 0) == []
    with pytest.raises(UnbalancedPostingError, match="do not balance"):
        check_balanced([debit(Account.CASH_CLEARING, 100), credit(Account.FEE_INCOME, 99)])
    with pytest.raises(UnbalancedPostingError, match="exactly one positive side"):
        check_balanced([Line(Account.CASH_CLEARING, 5, 5)])
    with pytest.raises(UnbalancedPostingError, match="at least one"):
        check_balanced([])
    assert mirror(lines) == [
        credit(Account.INTEREST_RECEIVABLE, 150),
        debit(Account.INTEREST_INCOME, 150),
    ]


def test_post_lines_for_the_end_of_day_job(engine: Engine) -> None:
    loan_id = active_loan(LoanService(engine))
    with write_transaction(engine) as conn:
        loan = book.lock_loan(conn, loan_id)
        assert loan is not None and loan["state"] == "active"
        tx = book.post_lines(
            conn,
            loan_id,
            book.TransactionKind.ACCRUAL,
            DAY,
            entry(Account.INTEREST_RECEIVABLE, Account.INTEREST_INCOME, 387),
            actor="eod",
            detail={"accrued": 387},
        )
        book.update_loan(conn, loan_id, {"accrued_through": DAY})
    assert tx.startswith("TX-")
    with pytest.raises(UnbalancedPostingError), write_transaction(engine) as conn:
        book.post_lines(
            conn,
            loan_id,
            "accrual",
            DAY,
            [debit(Account.INTEREST_RECEIVABLE, 1), credit(Account.INTEREST_INCOME, 2)],
            actor="eod",
        )
    balances = statement(engine, loan_id)["balances"]
    assert balances["interest_receivable"] == "3.87" and balances["interest_income"] == "3.87"
    assert trial_balance(engine)["balanced"]


def test_the_database_refuses_a_two_sided_line(engine: Engine) -> None:
    loan_id = active_loan(LoanService(engine))
    with engine.connect() as conn:
        tx = conn.execute(
            select(book.TRANSACTIONS.c.id).where(book.TRANSACTIONS.c.loan_id == loan_id)
        ).scalar_one()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(book.JOURNAL),
            {
                "transaction_id": tx,
                "loan_id": loan_id,
                "account": "cash_clearing",
                "debit_fen": 5,
                "credit_fen": 5,
                "business_date": DAY,
            },
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(book.JOURNAL)).scalar_one() == 3
