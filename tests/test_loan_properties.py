"""Property tests: principal parts sum to the loan amount, and any sequence of repayments,
prepayments and reversals keeps the trial balance at zero and never makes a balance negative."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from creditgraph.servicing import Method
from creditgraph.servicing.accounts import Account, normal_balance
from creditgraph.servicing.book import INSTALMENTS, LOANS, TRANSACTIONS
from creditgraph.servicing.errors import LoanError
from creditgraph.servicing.ledger import account_totals, trial_balance
from creditgraph.servicing.lifecycle import LoanStateError
from creditgraph.servicing.loans import LoanService
from creditgraph.store.db import make_engine, upgrade
from tests.loan_world import START, active_loan

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def service(db_url: str) -> Iterator[LoanService]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield LoanService(engine)
    engine.dispose()


@SETTINGS
@given(
    amount=st.integers(5000, 200000).map(str),
    term=st.sampled_from([3, 6, 12, 24, 36]),
    method=st.sampled_from(
        [Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST]
    ),
    rate=st.sampled_from(["0.072", "0.1234", "0.18"]),
)
def test_principal_parts_sum_to_the_loan_amount(
    service: LoanService, amount: str, term: int, method: Method, rate: str
) -> None:
    loan_id = active_loan(service, amount=amount, term=term, method=method, rate=rate)
    shown = service.show(loan_id)
    assert len(shown["schedule"]) == term
    assert sum(Decimal(r["principal"]) for r in shown["schedule"]) == Decimal(amount)
    assert shown["principal_outstanding"] == f"{Decimal(amount):.2f}"


repay = st.tuples(st.just("repay"), st.integers(1, 400_000), st.integers(-15, 45))
prepay = st.tuples(
    st.just("prepay"),
    st.one_of(st.none(), st.integers(1, 900_000)),
    st.integers(-15, 45),
    st.sampled_from(["shorter_term", "lower_instalment"]),
)
reverse = st.tuples(st.just("reverse"), st.integers(0, 20))
operations = st.lists(st.one_of(repay, repay, prepay, reverse), min_size=1, max_size=10)


@SETTINGS
@given(ops=operations, method=st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL]))
def test_any_postings_keep_the_books_balanced_and_no_balance_negative(
    service: LoanService, ops: list[tuple[Any, ...]], method: Method
) -> None:
    loan_id = active_loan(service, amount="12000", term=6, method=method)
    on = START
    postings: list[str] = []
    for n, op in enumerate(ops):
        before = _transactions(service.engine)
        try:
            if op[0] == "repay":
                on = max(START, on + timedelta(days=op[2]))
                result = service.repay(loan_id, Decimal(op[1]) / 100, on, key=f"{loan_id}-{n}")
            elif op[0] == "prepay":
                on = max(START, on + timedelta(days=op[2]))
                amount = None if op[1] is None else Decimal(op[1]) / 100
                result = service.prepay(
                    loan_id,
                    on,
                    amount=amount,
                    full=amount is None,
                    mode=op[3],
                    key=f"{loan_id}-{n}",
                )
            else:
                if not postings:
                    continue
                target = postings[op[1] % len(postings)]
                result = service.reverse(target, key=f"{loan_id}-{n}")
            event(f"{result.kind} posted")
            if result.kind != "reversal":
                postings.append(result.transaction_id)
        except (LoanError, LoanStateError) as exc:
            event(f"{op[0]} refused: {type(exc).__name__}")
            assert _transactions(service.engine) == before  # refused: nothing posted
        _check_books(service.engine, loan_id)


def _transactions(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one())


def _check_books(engine: Engine, loan_id: str) -> None:
    assert trial_balance(engine)["balanced"]
    with engine.connect() as conn:
        totals = account_totals(conn, loan_id)
        loan = conn.execute(select(LOANS).where(LOANS.c.id == loan_id)).mappings().one()
        rows = list(
            conn.execute(select(INSTALMENTS).where(INSTALMENTS.c.loan_id == loan_id)).mappings()
        )
        txs = list(
            conn.execute(
                select(
                    TRANSACTIONS.c.kind, TRANSACTIONS.c.reversed_by, TRANSACTIONS.c.detail
                ).where(TRANSACTIONS.c.loan_id == loan_id)
            ).mappings()
        )

    def bal(account: Account) -> int:
        d, c = totals.get(account, (0, 0))
        return normal_balance(account, d - c)

    for account in (
        Account.LOANS_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
        Account.FEE_RECEIVABLE,
        Account.BORROWER_CREDIT,
    ):
        assert bal(account) >= 0, account
    current = [r for r in rows if not r["superseded"]]
    for r in rows:
        for part in ("principal", "interest", "fee"):
            assert 0 <= r[f"{part}_paid_fen"] <= r[f"{part}_due_fen"], (part, dict(r))
        assert 0 <= r["interest_paid_fen"] <= r["interest_accrued_fen"], dict(r)
        assert 0 <= r["penalty_paid_fen"] <= r["penalty_accrued_fen"]
        if r["superseded"]:
            assert r["interest_accrued_fen"] == r["interest_paid_fen"]
        else:
            assert r["interest_accrued_fen"] <= r["interest_due_fen"]
    # The sub-ledger agrees with the ledger.
    assert bal(Account.LOANS_RECEIVABLE) == sum(
        r["principal_due_fen"] - r["principal_paid_fen"] for r in current
    )
    assert bal(Account.INTEREST_RECEIVABLE) == sum(
        r["interest_accrued_fen"] - r["interest_paid_fen"] for r in rows
    )
    assert bal(Account.BORROWER_CREDIT) == loan["credit_fen"] >= 0
    # Principal is conserved: the current schedule plus what prepayments took off it.
    prepaid = sum(
        t["detail"]["paid"]["prepaid_principal"]
        for t in txs
        if t["kind"] == "prepayment" and t["reversed_by"] is None
    )
    assert sum(r["principal_due_fen"] for r in current) + prepaid == loan["principal_fen"]
    if loan["state"] == "closed":
        assert bal(Account.LOANS_RECEIVABLE) == 0 and bal(Account.INTEREST_RECEIVABLE) == 0
