"""One allocation serves every path: a channel's repayment and the end of day's payment from
borrower credit both split money through ``servicing.allocation.allocate``.

Proved on a real database: the function is wrapped (to record who calls it, or to force another
order), and both a ``LoanService.repay`` and an end-of-day run that sweeps borrower credit pass
through it and change with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from creditgraph.servicing import allocation
from creditgraph.servicing.allocation import Allocated, AllocationRule, Component, Due
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.loans import LoanService
from tests.loan_world import START, active_loan, instalment_rows

FIRST_DUE = date(2026, 8, 1)
PRINCIPAL_FIRST = AllocationRule(
    (Component.PRINCIPAL, Component.INTEREST, Component.FEE, Component.PENALTY)
)


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def _wrap(
    monkeypatch: pytest.MonkeyPatch, force: AllocationRule | None
) -> list[tuple[int, AllocationRule]]:
    """Replace ``allocation.allocate`` with a wrapper that records (funds, rule) of each call
    and, given ``force``, allocates in that order instead of the loan's."""
    calls: list[tuple[int, AllocationRule]] = []
    real = allocation.allocate

    def wrapped(
        amount_fen: int, dues: Sequence[Due], rule: AllocationRule = AllocationRule()
    ) -> tuple[list[Allocated], int]:
        calls.append((amount_fen, rule))
        return real(amount_fen, dues, force or rule)

    monkeypatch.setattr(allocation, "allocate", wrapped)
    return calls


def _first_row_paid(engine: Engine, loan_id: str) -> tuple[int, int]:
    first = instalment_rows(engine, loan_id)[0]
    return first["principal_paid_fen"], first["interest_paid_fen"]


def test_a_repayment_and_the_end_of_days_credit_sweep_both_call_allocate(
    service: LoanService, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = service.engine
    paying, holding = active_loan(service), active_loan(service)
    run_eod(engine, START + timedelta(days=8))
    service.repay(holding, "500.00", START + timedelta(days=9), key="ahead")  # held as credit

    calls = _wrap(monkeypatch, None)
    service.repay(paying, "300.00", START + timedelta(days=9), key="cash")
    assert [fen for fen, _ in calls] == [30_000]  # nothing due yet: all of it becomes credit

    calls.clear()
    result = run_eod(engine, FIRST_DUE)  # both loans' credit pays the first instalment
    assert sum(day.credit_applied_fen for day in result.days) == 80_000
    assert sorted(fen for fen, _ in calls) == [30_000, 50_000], calls


@pytest.mark.parametrize(
    ("force", "paid"),
    [
        (None, (38_000, 12_000)),  # the loan's order: interest 120.00 before principal
        (PRINCIPAL_FIRST, (50_000, 0)),  # another order: all 500.00 to principal
    ],
    ids=["loan's order", "principal first"],
)
def test_a_change_to_the_allocation_order_changes_both_paths(
    service: LoanService,
    monkeypatch: pytest.MonkeyPatch,
    force: AllocationRule | None,
    paid: tuple[int, int],
) -> None:
    engine = service.engine
    by_cash, by_credit = active_loan(service), active_loan(service)
    run_eod(engine, START + timedelta(days=8))
    service.repay(by_credit, "500.00", START + timedelta(days=9), key="ahead")  # nothing due yet
    run_eod(engine, FIRST_DUE - timedelta(days=1))

    _wrap(monkeypatch, force)
    service.repay(by_cash, "500.00", FIRST_DUE, key="on-the-day")
    run_eod(engine, FIRST_DUE)  # pays the due instalment from the credit held

    assert _first_row_paid(engine, by_cash) == paid
    assert _first_row_paid(engine, by_credit) == paid
