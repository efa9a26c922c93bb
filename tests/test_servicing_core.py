"""The servicing core's processors with no database: plain values in, a posting plan out.

Each case is a row of a table: the loan's instalments as they stand, the money that arrives,
and what the plan must do to every instalment, the credit and the state. Every plan's journal
lines must balance. Property tests then throw random dues, amounts and allocation rules at the
repayment processor.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.servicing.accounts import Account, Line, check_balanced
from creditgraph.servicing.allocation import AllocationBy, AllocationRule, Component
from creditgraph.servicing.ceiling import OverpaymentError
from creditgraph.servicing.core.dates import BusinessDateError
from creditgraph.servicing.core.disbursement import disbursement
from creditgraph.servicing.core.plan import InstalmentDelta, PostingPlan, TransactionKind
from creditgraph.servicing.core.prepay import prepayment
from creditgraph.servicing.core.refund import refund_payout
from creditgraph.servicing.core.repayment import Source, check_repayment, repayment
from creditgraph.servicing.core.reversal import ReversalContext, reversal
from creditgraph.servicing.core.settlement import apply_delta
from creditgraph.servicing.core.values import (
    Instalment,
    LoanSnapshot,
    PostedTransaction,
    RefundRecord,
)
from creditgraph.servicing.errors import LoanInputError, RefundStateError
from creditgraph.servicing.prepayment import PrepayMode

DISBURSED = date(2026, 7, 1)
DUES = (date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1))
BY_COMPONENT = AllocationRule(by=AllocationBy.COMPONENT)
PRINCIPAL_FIRST = AllocationRule(
    (Component.PRINCIPAL, Component.INTEREST, Component.FEE, Component.PENALTY)
)


def a_loan(**changes: Any) -> LoanSnapshot:
    """A disbursed three-month loan of 3,000.00 at 12%, nothing paid, no end of day run."""
    loan = LoanSnapshot(
        id="LN-1",
        state="active",
        applicant_ref="app-1",
        product_code="JYD",
        principal_fen=300_000,
        upfront_fee_fen=3_000,
        fee_per_period_fen=0,
        nominal_rate=Decimal("0.12"),
        penalty_rate=Decimal("0.18"),
        prepayment_fee_rate=Decimal("0.01"),
        allocation=AllocationRule(),
        method="equal_installment",
        frequency="monthly",
        day_count="periodic",
        periods=3,
        credit_fen=0,
        dpd=0,
        bucket="M0",
        overdue_since=None,
        npa=False,
        maturity=DUES[-1],
        disbursed_on=DISBURSED,
        accrued_through=None,
        version=1,
        schedule_version=0,
    )
    return replace(loan, **changes)


def rows(*changes: dict[str, int]) -> list[Instalment]:
    """Three instalments of 1,000.00 principal and 30.00, 20.00, 10.00 interest (accrued in
    full), with per-row changes (paid amounts, penalty) applied."""
    interest = (3_000, 2_000, 1_000)
    starts = (DISBURSED, *DUES[:-1])
    out = []
    for n in range(3):
        row = Instalment(
            id=n + 1,
            number=n + 1,
            due_date=DUES[n],
            period_start=starts[n],
            principal_due_fen=100_000,
            interest_due_fen=interest[n],
            fee_due_fen=0,
            interest_accrued_fen=interest[n],
        )
        extra = changes[n] if n < len(changes) else {}
        out.append(replace(row, **extra))
    return out


def balanced(plan: PostingPlan) -> dict[Account, int]:
    """The plan's lines checked for balance, as net debit per account."""
    check_balanced(plan.lines)
    net: dict[Account, int] = {}
    for line in plan.lines:
        net[line.account] = net.get(line.account, 0) + line.debit_fen - line.credit_fen
    return net


def records(plan: PostingPlan) -> dict[int, list[int]]:
    return {d.instalment_id: d.record()[1:5] for d in plan.deltas if d.paid_fen}


# ---- disbursement -----------------------------------------------------------------------------


def test_disbursement_pays_out_net_of_fee_and_builds_the_schedule() -> None:
    loan = a_loan(state="accepted", disbursed_on=None, maturity=None, version=0)
    plan = disbursement(loan, DISBURSED, actor="officer")
    net = balanced(plan)
    assert net == {
        Account.LOANS_RECEIVABLE: 300_000,
        Account.CASH_CLEARING: -297_000,
        Account.FEE_INCOME: -3_000,
    }
    assert plan.kind is TransactionKind.DISBURSEMENT and plan.amount_fen == 300_000
    assert [r.number for r in plan.new_instalments] == [1, 2, 3]
    assert sum(r.principal_due_fen for r in plan.new_instalments) == 300_000
    assert plan.new_instalments[0].period_start == DISBURSED
    assert plan.loan_values["state"] == "active"
    assert plan.loan_values["maturity"] == plan.new_instalments[-1].due_date
    assert [(e.from_state, e.to_state, e.event) for e in plan.events] == [
        ("accepted", "active", "disburse")
    ]


def test_disbursement_of_an_active_loan_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot disburse"):
        disbursement(a_loan(), DISBURSED, actor="officer")


# ---- repayment, table-driven --------------------------------------------------------------------

# (case, loan changes, row changes, cash, day, rule,
#  paid per row {id: [principal, interest, fee, penalty]}, credit after, state after, refund due)
REPAYMENTS: list[tuple[Any, ...]] = [
    (
        "exactly the first instalment on its due date",
        {},
        (),
        103_000,
        DUES[0],
        AllocationRule(),
        {1: [100_000, 3_000, 0, 0]},
        0,
        "active",
        0,
    ),
    (
        "partial: penalty first, then interest, then what is left of principal",
        {"state": "overdue", "dpd": 5},
        ({"penalty_accrued_fen": 500},),
        10_000,
        date(2026, 8, 6),
        AllocationRule(),
        {1: [6_500, 3_000, 0, 500]},
        0,
        "overdue",
        0,
    ),
    (
        "instalment order: the oldest instalment in full before the next",
        {"state": "overdue", "dpd": 32},
        ({"penalty_accrued_fen": 700}, {"penalty_accrued_fen": 100}),
        105_000,
        DUES[1],
        AllocationRule(),
        {1: [100_000, 3_000, 0, 700], 2: [0, 1_200, 0, 100]},
        0,
        "active",  # the oldest is cleared; the second falls due today, not yet late
        0,
    ),
    (
        "component order: each component across the instalments before the next",
        {"state": "overdue", "dpd": 32},
        ({"penalty_accrued_fen": 700}, {"penalty_accrued_fen": 100}),
        105_000,
        DUES[1],
        BY_COMPONENT,
        {1: [99_200, 3_000, 0, 700], 2: [0, 2_000, 0, 100]},
        0,
        "overdue",
        0,
    ),
    (
        "another order: principal first",
        {},
        (),
        50_000,
        DUES[0],
        PRINCIPAL_FIRST,
        {1: [50_000, 0, 0, 0]},
        0,
        "active",
        0,
    ),
    (
        "over-payment: the excess is held as the borrower's credit",
        {},
        (),
        150_000,
        DUES[0],
        AllocationRule(),
        {1: [100_000, 3_000, 0, 0]},
        47_000,
        "active",
        0,
    ),
    (
        "an overdue loan whose arrears are cleared is cured",
        {"state": "overdue", "dpd": 3, "bucket": "M1", "overdue_since": date(2026, 8, 2)},
        ({"penalty_accrued_fen": 90},),
        103_090,
        date(2026, 8, 4),
        AllocationRule(),
        {1: [100_000, 3_000, 0, 90]},
        0,
        "active",
        0,
    ),
    (
        "closing payment at maturity with money left: closed, the credit is a refund due",
        {"credit_fen": 0},
        (
            {"principal_paid_fen": 100_000, "interest_paid_fen": 3_000},
            {"principal_paid_fen": 100_000, "interest_paid_fen": 2_000},
        ),
        102_000,
        DUES[2],
        AllocationRule(),
        {3: [100_000, 1_000, 0, 0]},
        1_000,
        "closed",
        1_000,
    ),
]


@pytest.mark.parametrize(
    (
        "case",
        "loan_changes",
        "row_changes",
        "cash",
        "day",
        "rule",
        "paid",
        "credit",
        "state",
        "refund",
    ),
    REPAYMENTS,
    ids=[r[0] for r in REPAYMENTS],
)
def test_a_channel_repayment_allocates_as_the_table_says(
    case: str,
    loan_changes: dict[str, Any],
    row_changes: tuple[dict[str, int], ...],
    cash: int,
    day: date,
    rule: AllocationRule,
    paid: dict[int, list[int]],
    credit: int,
    state: str,
    refund: int,
) -> None:
    loan = a_loan(allocation=rule, **loan_changes)
    owing = [r for r in rows(*row_changes) if r.owed_fen]
    plan = repayment(loan, owing, day, source=Source.CHANNEL, actor="t", cash_fen=cash)
    assert plan is not None
    net = balanced(plan)
    assert records(plan) == paid, case
    assert plan.loan_values["credit_fen"] == credit
    assert plan.state_after == state
    assert plan.refund_due_fen == refund
    assert plan.amount_fen == cash
    assert net[Account.CASH_CLEARING] == cash
    assert net.get(Account.BORROWER_CREDIT, 0) == -(credit - loan.credit_fen)
    assert plan.detail["deltas"] == [d.record() for d in plan.deltas]


def test_interest_paid_before_it_accrued_is_accrued_first() -> None:
    owing = rows({"interest_accrued_fen": 1_000})
    plan = repayment(a_loan(), owing, DUES[0], source=Source.CHANNEL, actor="t", cash_fen=103_000)
    assert plan is not None
    net = balanced(plan)
    first = plan.deltas[0]
    assert first.interest_fen == 3_000 and first.interest_accrued_fen == 2_000
    assert net[Account.INTEREST_INCOME] == -2_000
    assert net[Account.INTEREST_RECEIVABLE] == -1_000


def test_memo_penalty_is_income_when_paid() -> None:
    owing = rows({"penalty_accrued_fen": 800, "penalty_memo_fen": 300})
    loan = a_loan(state="overdue", dpd=10)
    plan = repayment(loan, owing, date(2026, 8, 11), source=Source.CHANNEL, actor="t", cash_fen=800)
    assert plan is not None
    net = balanced(plan)
    assert plan.deltas[0].memo_paid_fen == 300
    assert net[Account.PENALTY_INCOME] == -300
    assert net[Account.PENALTY_RECEIVABLE] == -500


def test_payment_from_credit_uses_the_credit_and_brings_no_cash() -> None:
    loan = a_loan(credit_fen=120_000)
    plan = repayment(loan, rows(), DUES[0], source=Source.BORROWER_CREDIT, actor="eod")
    assert plan is not None
    net = balanced(plan)
    assert records(plan) == {1: [100_000, 3_000, 0, 0]}
    assert plan.amount_fen == 103_000
    assert net[Account.BORROWER_CREDIT] == 103_000
    assert Account.CASH_CLEARING not in net
    assert plan.loan_values["credit_fen"] == 17_000
    assert plan.detail["source"] == "borrower_credit" and "open_date" not in plan.detail


def test_payment_from_credit_leaves_the_cure_to_the_end_of_days_dpd_step() -> None:
    loan = a_loan(state="overdue", dpd=2, credit_fen=103_000)
    plan = repayment(loan, rows(), date(2026, 8, 3), source=Source.BORROWER_CREDIT, actor="eod")
    assert plan is not None
    assert plan.state_after == "overdue" and not plan.events


def test_payment_from_credit_that_pays_nothing_plans_nothing() -> None:
    nothing_due = repayment(
        a_loan(credit_fen=5_000),
        rows(),
        date(2026, 7, 20),
        source=Source.BORROWER_CREDIT,
        actor="eod",
    )
    assert nothing_due is None


def test_the_same_processor_serves_both_sources() -> None:
    """Credit of X paid at end of day and cash of X with no credit allocate identically."""
    by_credit = repayment(
        a_loan(credit_fen=60_000), rows(), DUES[0], source=Source.BORROWER_CREDIT, actor="eod"
    )
    by_cash = repayment(
        a_loan(), rows(), DUES[0], source=Source.CHANNEL, actor="eod", cash_fen=60_000
    )
    assert by_credit is not None and by_cash is not None
    assert by_credit.deltas == by_cash.deltas


def test_a_channel_payment_over_the_ceiling_is_refused() -> None:
    owing = rows()
    with pytest.raises(OverpaymentError):
        check_repayment(a_loan(), owing, 10_000_000, DUES[0], Decimal("100"))


def test_a_payment_dated_on_a_closed_day_is_refused() -> None:
    loan = a_loan(books_closed_through=date(2026, 8, 5))
    with pytest.raises(BusinessDateError, match="closed"):
        check_repayment(loan, rows(), 1_000, date(2026, 8, 5), Decimal("100"))


# ---- prepayment -------------------------------------------------------------------------------


def test_full_prepayment_settles_everything_and_closes() -> None:
    paid_first = rows({"principal_paid_fen": 100_000, "interest_paid_fen": 3_000})
    day = date(2026, 8, 16)  # half of the second period
    plan = prepayment(a_loan(), paid_first, day, None, PrepayMode.SHORTER_TERM, actor="t")
    net = balanced(plan)
    assert plan.kind is TransactionKind.PREPAYMENT
    assert plan.state_after == "closed"
    assert plan.detail["full"] is True and plan.supersede == (2, 3)
    assert not plan.new_instalments
    assert plan.detail["paid"]["prepaid_principal"] == 200_000
    # interest to the day: at least what the current period had accrued (2,000.00 in full here)
    assert plan.detail["paid"]["prepayment_interest"] == 2_000
    assert plan.detail["paid"]["prepayment_fee"] == 2_000  # 1% of 2,000.00
    assert net[Account.LOANS_RECEIVABLE] == -200_000
    assert net[Account.CASH_CLEARING] == plan.amount_fen == 204_000


def test_partial_prepayment_reschedules_the_rest() -> None:
    paid_first = rows(
        {"principal_paid_fen": 100_000, "interest_paid_fen": 3_000},
        {"interest_accrued_fen": 0},
        {"interest_accrued_fen": 0},
    )
    plan = prepayment(
        a_loan(), paid_first, date(2026, 8, 1), 50_000, PrepayMode.LOWER_INSTALMENT, actor="t"
    )
    balanced(plan)
    assert plan.state_after == "active"
    assert plan.supersede == (2, 3)
    assert sum(r.principal_due_fen for r in plan.new_instalments) == 150_000
    assert {r.schedule_version for r in plan.new_instalments} == {1}
    assert plan.loan_values["schedule_version"] == 1
    assert plan.created_instalments_key == "created"


def test_prepaying_more_than_is_left_is_refused() -> None:
    with pytest.raises(LoanInputError, match="more than the principal"):
        prepayment(a_loan(), rows(), date(2026, 7, 15), 400_000, PrepayMode.SHORTER_TERM, actor="t")


# ---- reversal ---------------------------------------------------------------------------------


def _posted(plan: PostingPlan, tx_id: str = "TX-1") -> PostedTransaction:
    return PostedTransaction(
        id=tx_id,
        loan_id=plan.loan_id,
        kind=plan.kind.value,
        business_date=plan.business_date,
        amount_fen=plan.amount_fen,
        created_at=datetime(2026, 8, 1, 10),
        detail=plan.detail,
        lines=tuple((line.account.value, line.debit_fen, line.credit_fen) for line in plan.lines),
    )


def _after(before: list[Instalment], plan: PostingPlan) -> list[Instalment]:
    by_id = {d.instalment_id: d for d in plan.deltas}
    return [apply_delta(r, by_id[r.id]) if r.id in by_id else r for r in before]


def _reverse(loan: LoanSnapshot, tx: PostedTransaction, found: list[Instalment]) -> PostingPlan:
    context = ReversalContext(
        tx=tx, rows=found, later_payment=None, refund=None, first_run_after=None, npa_dpd=90
    )
    return reversal(
        loan,
        context,
        None,
        actor="officer",
        note="bounced",
        reversal_id="TX-R",
        catch_up_id="TX-C",
    )


def test_reversal_mirrors_the_lines_and_takes_back_the_deltas() -> None:
    loan = a_loan(state="overdue", dpd=3, bucket="M1", overdue_since=date(2026, 8, 2))
    before = rows({"penalty_accrued_fen": 90})
    paid = repayment(
        loan, before, date(2026, 8, 4), source=Source.CHANNEL, actor="t", cash_fen=150_000
    )
    assert paid is not None and paid.state_after == "active"
    after_loan = a_loan(state="active", credit_fen=paid.loan_values["credit_fen"], version=2)
    undo = _reverse(after_loan, _posted(paid), _after(before, paid))
    net = balanced(undo)
    assert net == {account: -fen for account, fen in balanced(paid).items()}
    assert [d.negated() for d in undo.deltas] == list(paid.deltas)
    assert undo.loan_values["credit_fen"] == 0
    # no end of day ran: the status the payment replaced comes back
    assert undo.state_after == "overdue"
    assert undo.loan_values["overdue_since"] == date(2026, 8, 2)
    assert undo.mark_reversed == ("TX-1",)
    assert undo.transaction_id == "TX-R"  # the service's id, so a catch-up can name it


def test_reversal_of_a_closing_payment_reopens_the_loan() -> None:
    before = rows(
        {"principal_paid_fen": 100_000, "interest_paid_fen": 3_000},
        {"principal_paid_fen": 100_000, "interest_paid_fen": 2_000},
    )
    paid = repayment(a_loan(), before, DUES[2], source=Source.CHANNEL, actor="t", cash_fen=101_000)
    assert paid is not None and paid.state_after == "closed"
    undo = _reverse(a_loan(state="closed", version=2), _posted(paid), _after(before, paid))
    balanced(undo)
    assert undo.state_after == "active"
    assert [e.event for e in undo.events] == ["reopen"]


def test_reversal_reads_six_slot_records_of_old_postings() -> None:
    """Postings from before memo penalty stored six-slot deltas; they still reverse."""
    before = rows()
    paid = repayment(a_loan(), before, DUES[0], source=Source.CHANNEL, actor="t", cash_fen=103_000)
    assert paid is not None
    old_detail = {**paid.detail, "deltas": [d.record()[:6] for d in paid.deltas]}
    tx = replace(_posted(paid), detail=old_detail)
    undo = _reverse(a_loan(version=2), tx, _after(before, paid))
    balanced(undo)
    assert undo.deltas == tuple(d.negated() for d in paid.deltas)
    assert InstalmentDelta.from_record([1, 2, 3, 4, 5, 6]).memo_paid_fen == 0


def test_a_reversal_is_refused_when_a_later_payment_depends_on_it() -> None:
    paid = repayment(a_loan(), rows(), DUES[0], source=Source.CHANNEL, actor="t", cash_fen=1_000)
    assert paid is not None
    context = ReversalContext(
        tx=_posted(paid),
        rows=rows(),
        later_payment="TX-2",
        refund=None,
        first_run_after=None,
        npa_dpd=90,
    )
    with pytest.raises(LoanInputError, match="later payment TX-2"):
        reversal(
            a_loan(), context, None, actor="o", note=None, reversal_id="TX-R", catch_up_id="TX-C"
        )


# ---- refund -----------------------------------------------------------------------------------


def test_refund_payout_pays_back_the_credit() -> None:
    loan = a_loan(state="closed", credit_fen=1_000)
    due = RefundRecord("RF-1", 1_000, "due", DUES[2], "TX-9")
    plan = refund_payout(loan, due, None, by="officer")
    assert balanced(plan) == {Account.BORROWER_CREDIT: 1_000, Account.CASH_CLEARING: -1_000}
    assert plan.loan_values == {"credit_fen": 0}
    assert plan.business_date == DUES[2]
    assert plan.refund_payout is not None and plan.refund_payout.approved_by == "officer"


def test_a_paid_refund_is_not_paid_again() -> None:
    loan = a_loan(state="closed", credit_fen=1_000)
    with pytest.raises(RefundStateError):
        refund_payout(loan, RefundRecord("RF-1", 1_000, "paid", DUES[2], "TX-9"), None, by="o")


# ---- properties -------------------------------------------------------------------------------

components = st.integers(min_value=0, max_value=50_000)
an_instalment = st.tuples(components, components, components, components)
a_rule = st.builds(
    AllocationRule,
    st.permutations(list(Component)).map(tuple),
    st.sampled_from(list(AllocationBy)),
)


def _owing(parts: list[tuple[int, int, int, int]]) -> list[Instalment]:
    return [
        Instalment(
            id=k + 1,
            number=k + 1,
            due_date=date(2026, 8, 1 + k),
            period_start=date(2026, 7, 1 + k),
            principal_due_fen=p,
            interest_due_fen=i,
            fee_due_fen=f,
            interest_accrued_fen=i // 2,
            penalty_accrued_fen=pen,
            penalty_memo_fen=pen // 3,
        )
        for k, (p, i, f, pen) in enumerate(parts)
    ]


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(an_instalment, min_size=1, max_size=4),
    cash=st.integers(min_value=1, max_value=300_000),
    credit=st.integers(min_value=0, max_value=50_000),
    rule=a_rule,
    from_credit=st.booleans(),
)
def test_repayment_plans_balance_and_never_pay_more_than_is_owed(
    parts: list[tuple[int, int, int, int]],
    cash: int,
    credit: int,
    rule: AllocationRule,
    from_credit: bool,
) -> None:
    owing = _owing(parts)
    loan = a_loan(allocation=rule, credit_fen=credit, maturity=date(2027, 1, 1))
    day = date(2026, 8, 10)
    source = Source.BORROWER_CREDIT if from_credit else Source.CHANNEL
    plan = repayment(
        loan, owing, day, source=source, actor="p", cash_fen=0 if from_credit else cash
    )
    funds = credit + (0 if from_credit else cash)
    if plan is None:
        assert from_credit
        return
    check_balanced(plan.lines)
    by_id = {r.id: r for r in owing}
    allocated = 0
    for d in plan.deltas:
        row = by_id[d.instalment_id]
        owed = row.outstanding()
        assert 0 <= d.principal_fen <= owed[Component.PRINCIPAL]
        assert 0 <= d.interest_fen <= owed[Component.INTEREST]
        assert 0 <= d.fee_fen <= owed[Component.FEE]
        assert 0 <= d.penalty_fen <= owed[Component.PENALTY]
        assert 0 <= d.memo_paid_fen <= min(d.penalty_fen, row.penalty_memo_fen)
        allocated += d.paid_fen
    assert allocated + plan.loan_values["credit_fen"] == funds
    assert allocated <= sum(r.owed_fen for r in owing)


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(an_instalment, min_size=1, max_size=4), cash=st.integers(1, 300_000))
def test_reversing_any_repayment_gives_back_exactly_its_lines(
    parts: list[tuple[int, int, int, int]], cash: int
) -> None:
    owing = _owing(parts)
    loan = a_loan(maturity=date(2027, 1, 1))
    plan = repayment(
        loan, owing, date(2026, 8, 10), source=Source.CHANNEL, actor="p", cash_fen=cash
    )
    assert plan is not None
    after = _after(owing, plan)
    state = plan.state_after
    undo = _reverse(
        a_loan(
            state=state,
            credit_fen=plan.loan_values["credit_fen"],
            version=2,
            maturity=date(2027, 1, 1),
        ),
        _posted(plan),
        after,
    )
    mirrored = sorted((line.account, line.credit_fen, line.debit_fen) for line in plan.lines)
    assert (
        sorted((line.account, line.debit_fen, line.credit_fen) for line in undo.lines) == mirrored
    )
    assert undo.loan_values["credit_fen"] == 0
    restored = _after(after, undo)
    assert restored == owing


def test_lines_built_by_hand_still_balance_in_the_checker() -> None:
    """The checker the property tests rely on does refuse an unbalanced plan."""
    with pytest.raises(ValueError):
        check_balanced([Line(Account.CASH_CLEARING, debit_fen=1)])
