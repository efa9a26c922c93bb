"""The pure rules of servicing: the state machine, allocation orders, the servicing config and
prepayment maths."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from creditgraph.servicing import Method
from creditgraph.servicing.allocation import (
    AllocationBy,
    AllocationRule,
    Component,
    Due,
    allocate,
)
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.config import ServicingConfigError, parse_servicing_config
from creditgraph.servicing.config_file import load_servicing_config
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.lifecycle import LoanState, LoanStateError, transition
from creditgraph.servicing.prepayment import PrepayMode, Terms, prorata_fen, reschedule

P, F, IN, PR = Component.PENALTY, Component.FEE, Component.INTEREST, Component.PRINCIPAL


def test_the_lifecycle_allows_only_its_transitions() -> None:
    assert transition("accepted", "disburse") is LoanState.ACTIVE
    assert transition("active", "overdue") is LoanState.OVERDUE
    assert transition("overdue", "cure") is LoanState.ACTIVE
    assert transition("overdue", "repay_in_full") is LoanState.CLOSED
    assert transition("overdue", "write_off") is LoanState.WRITTEN_OFF
    assert transition("offered", "reject") is LoanState.REJECTED
    with pytest.raises(LoanStateError, match=r"loan LN-1 is closed: cannot disburse"):
        transition("closed", "disburse", "LN-1")
    with pytest.raises(LoanStateError, match="cannot accept"):
        transition("cancelled", "accept", "LN-2")
    with pytest.raises(LoanStateError, match="'flying'"):
        transition("flying", "accept", "LN-3")


def test_allocation_orders() -> None:
    dues = [
        Due(1, {P: 10, F: 5, IN: 100, PR: 1000}),
        Due(2, {P: 0, F: 5, IN: 90, PR: 1010}),
    ]
    by_instalment, left = allocate(1200, dues)
    assert [(a.key, a.component, a.fen) for a in by_instalment] == [
        (1, P, 10),
        (1, F, 5),
        (1, IN, 100),
        (1, PR, 1000),
        (2, F, 5),
        (2, IN, 80),
    ]
    assert left == 0
    interest_first = AllocationRule((IN, P, F, PR), AllocationBy.COMPONENT)
    spread, left = allocate(3000, dues, interest_first)
    assert [(a.key, a.component) for a in spread][:3] == [(1, IN), (2, IN), (1, P)]
    assert left == 3000 - 2220
    assert AllocationRule.decode(interest_first.encode()) == interest_first


def test_servicing_config_is_validated_with_per_product_overrides(tmp_path: Path) -> None:
    config = load_servicing_config()
    assert config.for_product("XFD-MED").penalty_multiplier == Decimal("1.5")
    assert config.for_product("XFD-MED").write_off_dpd == 180
    custom = parse_servicing_config(
        {
            "version": "t",
            "defaults": {"penalty_multiplier": "1.3"},
            "products": {"JYD": {"allocation_order": ["interest", "principal", "penalty", "fee"]}},
        }
    )
    assert custom.for_product("JYD").penalty_multiplier == Decimal("1.3")
    assert custom.for_product("JYD").allocation.order[0] is IN
    with pytest.raises(ServicingConfigError, match="penalty_multiplier"):
        parse_servicing_config({"version": "t", "defaults": {"penalty_multiplier": 1.5}})
    with pytest.raises(ServicingConfigError, match=r"products\.JYD"):
        parse_servicing_config(
            {"version": "t", "products": {"JYD": {"allocation_order": ["interest"]}}}
        )
    bad = tmp_path / "servicing.toml"
    bad.write_text('version = "x"\n[defaults]\nwrite_off_dpd = 0\n')
    with pytest.raises(ServicingConfigError, match="write_off_dpd"):
        load_servicing_config(bad)


def test_interest_accrues_pro_rata_by_day() -> None:
    start, due = date(2026, 7, 1), date(2026, 8, 1)
    assert prorata_fen(3100, start, due, start) == 0
    assert prorata_fen(3100, start, due, date(2026, 7, 11)) == 1000
    assert prorata_fen(3100, start, due, due) == 3100


def test_reschedule_shorter_term_keeps_the_instalment_lower_keeps_the_maturity() -> None:
    terms = Terms(
        Decimal("0.12"), Method.EQUAL_INSTALLMENT, Frequency.MONTHLY, DayCount.PERIODIC, 0
    )
    dues = [date(2026, m, 1) for m in range(2, 12)]
    shorter = reschedule(
        500_000, terms, date(2026, 1, 1), dues, 3, PrepayMode.SHORTER_TERM, 105_582, 0
    )
    lower = reschedule(
        500_000, terms, date(2026, 1, 1), dues, 3, PrepayMode.LOWER_INSTALMENT, 105_582, 0
    )
    assert sum(r.principal_fen for r in shorter) == sum(r.principal_fen for r in lower) == 500_000
    assert len(lower) == 10 and lower[-1].due_date == dues[-1]
    assert len(shorter) < 10
    assert all(r.principal_fen + r.interest_fen <= 105_582 for r in shorter)
    assert [r.number for r in lower] == list(range(3, 13))
