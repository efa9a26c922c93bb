"""The end of day's pure core, day by day and with no database: accrual, DPD, buckets, penalty,
NPA, write-off and labels from values alone, each day's plan applied to an in-memory book."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.servicing.accounts import Account, Line, balances, check_balanced
from creditgraph.servicing.core.day import (
    DayPlan,
    EodPlan,
    LoanChunk,
    OpenRows,
    complete_day,
    day_number,
    from_day_number,
    plan_day,
    plan_write_off,
)
from creditgraph.servicing.core.day_labels import LabelFacts, good_labels
from creditgraph.servicing.delinquency import (
    Bucket,
    DelinquencyRules,
    InstalmentArrays,
    IntArray,
    accrual_days,
    daily_penalty,
)
from creditgraph.servicing.lifecycle import LoanEvent, LoanState

ZONE = ZoneInfo("Asia/Shanghai")
RULES = DelinquencyRules()
START = date(2026, 1, 10)


@dataclass(frozen=True)
class Limits:
    npa_dpd: int = 90
    write_off_dpd: int = 180


# --- a small in-memory book the plans are applied to ---------------------------------------------


@dataclass
class Row:
    id: int
    period_start: date
    due_date: date
    principal_due: int
    interest_due: int
    principal_paid: int = 0
    interest_paid: int = 0
    interest_accrued: int = 0
    fee_due: int = 0
    fee_paid: int = 0
    penalty_accrued: int = 0
    penalty_paid: int = 0
    penalty_memo: int = 0

    def owing(self) -> bool:
        return (
            self.principal_paid < self.principal_due
            or self.interest_paid < self.interest_due
            or self.fee_paid < self.fee_due
            or self.penalty_paid < self.penalty_accrued
        )

    def pay_in_full(self) -> None:
        self.principal_paid, self.interest_paid = self.principal_due, self.interest_due
        self.fee_paid, self.penalty_paid = self.fee_due, self.penalty_accrued


@dataclass
class Loan:
    id: str
    rows: list[Row]
    penalty_rate: str = "0.27"
    day_count: str = "act360"
    product: str = "XFD-GEN"
    state: str = LoanState.ACTIVE.value
    npa: bool = False
    dpd: int = 0
    overdue_since: int = -1
    bucket: str = Bucket.M0.value


@dataclass
class Book:
    """Loans and the journal as the store would hold them after each applied plan."""

    loans: list[Loan]
    journal: list[tuple[str, Line]] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)

    def serviced(self) -> list[Loan]:
        return [loan for loan in self.loans if loan.state in ("active", "overdue")]

    def chunk(self) -> tuple[LoanChunk, list[Loan]]:
        loans = self.serviced()
        return (
            LoanChunk(
                [loan.id for loan in loans],
                [loan.state for loan in loans],
                [loan.product for loan in loans],
                [loan.penalty_rate for loan in loans],
                [loan.day_count for loan in loans],
                np.asarray([loan.npa for loan in loans], dtype=np.bool_),
                np.asarray([loan.dpd for loan in loans], dtype=np.int64),
                np.asarray([loan.overdue_since for loan in loans], dtype=np.int64),
            ),
            loans,
        )

    def open_rows(self, loans: list[Loan], day: date) -> tuple[OpenRows, list[Row]]:
        """The rows the repository reads: begun, and still accruing or past due and unpaid."""
        picked = [
            (k, row)
            for k, loan in enumerate(loans)
            for row in loan.rows
            if row.period_start < day
            and (row.interest_accrued < row.interest_due or (row.due_date < day and row.owing()))
        ]
        if not picked:
            return OpenRows.empty(), []

        def column(get: Callable[[int, Row], int]) -> IntArray:
            return np.asarray([get(k, row) for k, row in picked], dtype=np.int64)

        arrays = InstalmentArrays(
            column(lambda k, r: k),
            column(lambda k, r: day_number(r.period_start)),
            column(lambda k, r: day_number(r.due_date)),
            column(lambda k, r: r.principal_due),
            column(lambda k, r: r.principal_paid),
            column(lambda k, r: r.interest_due),
            column(lambda k, r: r.interest_paid),
            column(lambda k, r: r.interest_accrued),
            column(lambda k, r: r.fee_due),
            column(lambda k, r: r.fee_paid),
            column(lambda k, r: r.penalty_accrued),
            column(lambda k, r: r.penalty_paid),
        )
        return OpenRows(column(lambda k, r: r.id), arrays), [row for _, row in picked]

    def owed(self, loan_id: str) -> dict[Account, tuple[int, int]]:
        totals: dict[Account, tuple[int, int]] = {}
        for owner, line in self.journal:
            if owner == loan_id:
                d, c = totals.get(line.account, (0, 0))
                totals[line.account] = (d + line.debit_fen, c + line.credit_fen)
        return totals

    def run(self, day: date, label_facts: list[LabelFacts] | None = None) -> EodPlan:
        """Plan ``day`` for every serviced loan and apply the plan, as the service does."""
        chunk, loans = self.chunk()
        open_rows, rows = self.open_rows(loans, day)
        planned = plan_day(day, chunk, open_rows, lambda product: self.limits)
        receivables = {loan_id: self.owed(loan_id) for loan_id in planned.write_off_ids()}
        plan = complete_day(planned, receivables, label_facts or [], RULES, ZONE)
        self.apply(plan, loans, rows)
        return plan

    def apply(self, plan: EodPlan, loans: list[Loan], rows: list[Row]) -> None:
        day = plan.day
        for batch in (day.accrual, day.penalty):
            for k, position in enumerate(batch.loan.tolist()):
                self.journal.extend((loans[position].id, line) for line in batch.lines(k))
        for k, row in enumerate(rows):
            row.interest_accrued += int(day.accrual_fen[k])
            row.penalty_accrued += int(day.penalty_fen[k] + day.memo_fen[k])
            row.penalty_memo += int(day.memo_fen[k])
        for k in day.changed.tolist():
            loan = loans[k]
            loan.dpd, loan.npa = int(day.dpd[k]), bool(day.npa[k])
            loan.overdue_since, loan.state = int(day.overdue_since[k]), day.state[k]
            loan.bucket = day.bucket_of(k).value
        by_id = {loan.id: loan for loan in loans}
        for write_off in plan.write_offs:
            self.journal.extend((write_off.loan_id, line) for line in write_off.lines)
            by_id[write_off.loan_id].state = write_off.to_state


def schedule(*periods: tuple[int, int, int], start: date = START, first_id: int = 1) -> list[Row]:
    """Rows from (days in the period, principal fen, interest fen), one after another."""
    rows, begin = [], start
    for k, (days, principal, interest) in enumerate(periods):
        due = begin + timedelta(days=days)
        rows.append(Row(first_id + k, begin, due, principal, interest))
        begin = due
    return rows


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def assert_balanced(journal: list[tuple[str, Line]]) -> None:
    lines = [line for _, line in journal]
    if lines:
        check_balanced(lines)
    assert sum(line.debit_fen for line in lines) == sum(line.credit_fen for line in lines)


def receivable(book: Book, loan_id: str, account: Account) -> int:
    d, c = book.owed(loan_id).get(account, (0, 0))
    return d - c


# --- accrual --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period_days", "interest_fen"),
    [(30, 1_000), (31, 7), (28, 123_457), (1, 99), (92, 0)],
)
def test_accrual_over_a_period_books_the_schedules_interest_day_by_day(
    period_days: int, interest_fen: int
) -> None:
    book = Book([Loan("L1", schedule((period_days, 50_000, interest_fen)))])
    due = START + timedelta(days=period_days)
    expected = accrual_days(Decimal(interest_fen) / 100, START, due)
    for on, amount in expected:
        plan = book.run(on)
        assert plan.day.accrual.total_fen == int(amount * 100), on
        assert plan.day.penalty.total_fen == 0
    assert receivable(book, "L1", Account.INTEREST_RECEIVABLE) == interest_fen
    assert book.loans[0].rows[0].interest_accrued == interest_fen
    assert_balanced(book.journal)


def test_nothing_accrues_on_the_first_day_of_a_period() -> None:
    book = Book([Loan("L1", schedule((30, 50_000, 3_000)))])
    plan = book.run(START)
    assert plan.day.accrual.total_fen == 0
    assert plan.day.accrual.loan.size == 0


def test_an_accrual_posting_names_its_rows_in_its_detail() -> None:
    book = Book([Loan("L1", schedule((10, 50_000, 1_000), (10, 50_000, 1_000), first_id=7))])
    plan = book.run(START + timedelta(days=1))
    assert plan.day.accrual.detail == ('{"instalments":[[7,100]]}',)
    assert plan.day.accrual.lines(0) == (
        Line(Account.INTEREST_RECEIVABLE, 100, 0),
        Line(Account.INTEREST_INCOME, 0, 100),
    )


# --- overdue, DPD and buckets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_late", "dpd", "bucket", "state"),
    [
        (0, 0, Bucket.M0, "active"),
        (1, 1, Bucket.M1, "overdue"),
        (30, 30, Bucket.M1, "overdue"),
        (31, 31, Bucket.M2, "overdue"),
        (61, 61, Bucket.M3, "overdue"),
        (91, 91, Bucket.M3_PLUS, "overdue"),
    ],
)
def test_a_missed_instalment_falls_overdue_and_climbs_the_buckets(
    days_late: int, dpd: int, bucket: Bucket, state: str
) -> None:
    book = Book([Loan("L1", schedule((30, 50_000, 1_000), (30, 50_000, 1_000)))])
    due = START + timedelta(days=30)
    for on in days(START, due + timedelta(days=days_late)):
        book.run(on)
    loan = book.loans[0]
    assert (loan.dpd, loan.bucket, loan.state) == (dpd, bucket.value, state)
    assert loan.overdue_since == (day_number(due) + 1 if dpd else -1)


def test_the_day_after_the_due_date_is_dpd_1_in_m1_with_one_overdue_event() -> None:
    book = Book([Loan("L1", schedule((30, 50_000, 1_000), (30, 50_000, 1_000)))])
    due = START + timedelta(days=30)
    for on in days(START, due):
        assert book.run(on).day.transitions == ()
    plan = book.run(due + timedelta(days=1))
    assert plan.day.dpd.tolist() == [1]
    assert plan.day.bucket_of(0) is Bucket.M1
    assert from_day_number(int(plan.day.overdue_since[0])) == due + timedelta(days=1)
    assert [(t.from_state, t.to_state, t.event) for t in plan.day.transitions] == [
        ("active", "overdue", LoanEvent.FALL_OVERDUE.value)
    ]
    assert plan.day.fell_overdue.tolist() == [True]


def test_paying_the_arrears_cures_the_loan() -> None:
    book = Book([Loan("L1", schedule((30, 50_000, 1_000), (30, 50_000, 1_000)))])
    due = START + timedelta(days=30)
    for on in days(START, due + timedelta(days=3)):
        book.run(on)
    book.loans[0].rows[0].pay_in_full()
    plan = book.run(due + timedelta(days=4))
    assert plan.day.cured.tolist() == [True]
    assert plan.day.state == ("active",)
    assert (book.loans[0].dpd, book.loans[0].bucket, book.loans[0].overdue_since) == (0, "M0", -1)


def test_a_paid_instalment_never_falls_overdue() -> None:
    book = Book([Loan("L1", schedule((30, 50_000, 1_000), (30, 50_000, 1_000)))])
    due = START + timedelta(days=30)
    for on in days(START, due):
        book.run(on)
    book.loans[0].rows[0].pay_in_full()
    plan = book.run(due + timedelta(days=1))
    assert plan.day.dpd.tolist() == [0]
    assert plan.day.changed.size == 0
    assert plan.day.penalty.total_fen == 0


# --- penalty ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "day_count", "principal_fen"),
    [
        ("0.27", "act360", 50_000),
        ("0.18", "act365", 123_456),
        ("0.036", "30360", 1),
        ("0.2412", "periodic", 9_999_999),
    ],
)
def test_penalty_runs_on_overdue_principal_at_the_daily_penalty_rate(
    rate: str, day_count: str, principal_fen: int
) -> None:
    rows = schedule((30, principal_fen, 1_000), (30, 50_000, 1_000))
    book = Book([Loan("L1", rows, penalty_rate=rate, day_count=day_count)])
    due = START + timedelta(days=30)
    for on in days(START, due):
        assert book.run(on).day.penalty.total_fen == 0
    expected = int(daily_penalty(Decimal(principal_fen) / 100, Decimal(rate), day_count) * 100)
    for k in range(1, 4):
        plan = book.run(due + timedelta(days=k))
        assert plan.day.penalty.total_fen == expected
        assert plan.day.memo_fen.sum() == 0
    assert rows[0].penalty_accrued == 3 * expected
    assert receivable(book, "L1", Account.PENALTY_RECEIVABLE) == 3 * expected
    assert_balanced(book.journal)


def test_penalty_runs_only_on_principal_left_unpaid() -> None:
    rows = schedule((30, 50_000, 1_000), (30, 50_000, 1_000))
    book = Book([Loan("L1", rows)])
    due = START + timedelta(days=30)
    for on in days(START, due):
        book.run(on)
    rows[0].principal_paid = 20_000  # interest still unpaid: overdue, penalty on 30,000 only
    plan = book.run(due + timedelta(days=1))
    assert plan.day.penalty.total_fen == int(daily_penalty(Decimal(300), Decimal("0.27")) * 100)


# --- NPA --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("npa_dpd", [1, 30, 90])
def test_from_the_npa_dpd_on_interest_is_not_booked_and_penalty_is_memo(npa_dpd: int) -> None:
    rows = schedule((30, 50_000, 1_000), (200, 50_000, 20_000))
    book = Book([Loan("L1", rows)], limits=Limits(npa_dpd=npa_dpd, write_off_dpd=180))
    due = START + timedelta(days=30)
    for on in days(START, due + timedelta(days=npa_dpd - 1)):
        plan = book.run(on)
    assert plan.day.npa.tolist() == [False]
    assert plan.day.accrual.total_fen > 0
    income_before = -receivable(book, "L1", Account.INTEREST_INCOME)
    plan = book.run(due + timedelta(days=npa_dpd))
    assert plan.day.npa.tolist() == [True]
    assert plan.day.became_npa == 1
    assert plan.day.accrual.total_fen == 0 and plan.day.accrual_fen.sum() == 0
    assert plan.day.penalty.total_fen == 0
    owed = int(daily_penalty(Decimal(500), Decimal("0.27")) * 100)
    assert plan.day.memo_fen.sum() == owed  # owed by the borrower, off the books
    assert -receivable(book, "L1", Account.INTEREST_INCOME) == income_before
    assert rows[0].penalty_memo == owed
    assert book.loans[0].npa


def test_an_npa_loan_stays_npa_while_in_arrears_below_the_threshold() -> None:
    rows = schedule((30, 50_000, 1_000), (30, 50_000, 1_000))
    book = Book([Loan("L1", rows, state="overdue", npa=True, dpd=95)])
    rows[0].interest_accrued = 1_000
    plan = book.run(START + timedelta(days=35))  # only 5 days late now: still NPA
    assert plan.day.npa.tolist() == [True]
    assert plan.day.dpd.tolist() == [5]
    assert plan.day.accrual.total_fen == 0


# --- write-off --------------------------------------------------------------------------------------


def test_reaching_the_write_off_dpd_clears_every_receivable() -> None:
    rows = schedule((30, 50_000, 1_000), (30, 50_000, 1_000))
    rows[0].fee_due = 500
    book = Book([Loan("L1", rows)], limits=Limits(npa_dpd=20, write_off_dpd=40))
    book.journal.append(("L1", Line(Account.LOANS_RECEIVABLE, 100_000, 0)))
    book.journal.append(("L1", Line(Account.CASH_CLEARING, 0, 100_000)))
    book.journal.append(("L1", Line(Account.FEE_RECEIVABLE, 500, 0)))
    book.journal.append(("L1", Line(Account.FEE_INCOME, 0, 500)))
    due = START + timedelta(days=30)
    for on in days(START, due + timedelta(days=39)):
        assert book.run(on).write_offs == ()
    plan = book.run(due + timedelta(days=40))
    (write_off,) = plan.write_offs
    assert (write_off.from_state, write_off.to_state) == ("overdue", "written_off")
    assert check_balanced(write_off.lines) == list(write_off.lines)
    assert write_off.lines[0] == Line(Account.WRITE_OFF_EXPENSE, write_off.total_fen, 0)
    for account in (
        Account.LOANS_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
        Account.FEE_RECEIVABLE,
    ):
        assert receivable(book, "L1", account) == 0, account
    assert write_off.detail[Account.LOANS_RECEIVABLE.value] == 100_000
    assert write_off.total_fen == plan.written_off_fen > 100_500
    assert book.loans[0].state == "written_off"
    assert book.run(due + timedelta(days=41)).day.loans.size == 0  # no longer serviced
    assert_balanced(book.journal)


def test_a_write_off_of_a_loan_owing_nothing_posts_no_lines() -> None:
    write_off = plan_write_off("L1", "overdue", {Account.LOANS_RECEIVABLE: 0})
    assert write_off.lines == () and write_off.total_fen == 0
    assert write_off.to_state == LoanState.WRITTEN_OFF.value


def test_a_write_off_clears_what_the_same_day_booked() -> None:
    """Receivables are read before the day's postings; the plan adds the penalty it books."""
    rows = schedule((30, 50_000, 1_000), (30, 50_000, 1_000))
    book = Book([Loan("L1", rows)], limits=Limits(npa_dpd=60, write_off_dpd=5))
    due = START + timedelta(days=30)
    for on in days(START, due + timedelta(days=5)):
        plan = book.run(on)
    (write_off,) = plan.write_offs
    booked_today = plan.day.penalty.total_fen
    assert booked_today > 0
    assert write_off.detail[Account.PENALTY_RECEIVABLE.value] == 5 * booked_today
    assert receivable(book, "L1", Account.PENALTY_RECEIVABLE) == 0
    assert receivable(book, "L1", Account.INTEREST_RECEIVABLE) == 0


# --- labels -------------------------------------------------------------------------------------------


def facts(
    loan_id: str, disbursed: date, state: str | None = None, closed_on: date | None = None
) -> LabelFacts:
    return LabelFacts(loan_id, f"P-{loan_id}", disbursed, 100_000, 2, "monthly", state, closed_on)


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("disbursed", "labelled"),
    [(START, True), (START - timedelta(days=366), False)],
)
def test_reaching_the_default_dpd_within_the_window_is_a_default_label(
    disbursed: date, labelled: bool
) -> None:
    book = Book([Loan("L1", schedule((30, 50_000, 1_000), (30, 50_000, 1_000)))])
    due = START + timedelta(days=30)
    for on in days(START, due + timedelta(days=RULES.default_dpd - 1)):
        assert book.run(on, [facts("L1", disbursed)]).default_labels == ()
    on = due + timedelta(days=RULES.default_dpd)
    plan = book.run(on, [facts("L1", disbursed)])
    if not labelled:
        assert plan.default_labels == ()
        return
    (label,) = plan.default_labels
    assert label.defaulted and label.loan_id == "L1" and label.person_id == "P-L1"
    assert label.observed_at == start_of(on + timedelta(days=1))
    assert label.applied_at == start_of(disbursed)
    assert (label.amount_fen, label.term_months) == (100_000, 2)
    assert len(label.row_hash) == 32


@pytest.mark.parametrize(
    ("loan", "observed"),
    [
        (facts("W", date(2025, 3, 1)), date(2026, 3, 2)),  # the window ends today
        (
            facts("C", date(2025, 6, 1), state="closed", closed_on=date(2026, 2, 1)),
            date(2026, 2, 2),
        ),
        (
            facts("E", date(2025, 1, 1), state="closed", closed_on=date(2026, 2, 1)),
            date(2026, 1, 2),
        ),
        (facts("A", date(2025, 6, 1), state="active"), None),
        (facts("F", date(2025, 6, 1), state="closed", closed_on=date(2026, 3, 5)), None),
    ],
)
def test_good_labels_on_repayment_or_the_end_of_the_window(
    loan: LabelFacts, observed: date | None
) -> None:
    labels = good_labels(date(2026, 3, 1), [loan], RULES, ZONE)
    if observed is None:
        assert labels == ()
        return
    (label,) = labels
    assert not label.defaulted
    assert label.observed_at == start_of(observed)


# --- properties ------------------------------------------------------------------------------------


@st.composite
def books(draw: st.DrawFn) -> tuple[Book, list[tuple[int, int, int]]]:
    loans, paid = [], []
    for n in range(draw(st.integers(1, 4))):
        periods = draw(
            st.lists(
                st.tuples(st.integers(1, 40), st.integers(0, 10**7), st.integers(0, 10**6)),
                min_size=1,
                max_size=4,
            )
        )
        rate = draw(st.sampled_from(["0", "0.18", "0.27", "0.3650"]))
        rows = schedule(*periods, first_id=10 * n + 1)
        loans.append(Loan(f"L{n}", rows, penalty_rate=rate))
        for k, _ in enumerate(rows):
            paid.append((n, k, draw(st.sampled_from([-1, 0, 3, 1_000]))))  # pay after d days
    npa, write_off = sorted(draw(st.lists(st.integers(1, 60), min_size=2, max_size=2)))
    return Book(loans, limits=Limits(npa, write_off)), paid


@settings(max_examples=60, deadline=None)
@given(books())
def test_every_plan_balances_dpd_is_never_negative_and_accrual_meets_the_schedule(
    drawn: tuple[Book, list[tuple[int, int, int]]],
) -> None:
    book, payments = drawn
    last = max(row.due_date for loan in book.loans for row in loan.rows) + timedelta(days=3)
    for on in days(START, last):
        for n, k, after in payments:
            row = book.loans[n].rows[k]
            if after >= 0 and on == row.due_date + timedelta(days=after):
                row.pay_in_full()
        plan = book.run(on)
        day: DayPlan = plan.day
        assert (day.dpd >= 0).all()
        assert (day.accrual_fen >= 0).all() and (day.penalty_fen >= 0).all()
        assert (day.memo_fen >= 0).all()
        for batch in (day.accrual, day.penalty):
            assert (batch.amount_fen > 0).all()
            for k in range(batch.loan.size):
                check_balanced(batch.lines(k))
        for write_off in plan.write_offs:
            if write_off.lines:
                check_balanced(write_off.lines)
        assert_balanced(book.journal)
    assert sum(balances(line for _, line in book.journal).values()) == 0
    for loan in book.loans:
        for row in loan.rows:
            if loan.state != "written_off" and not loan.npa:
                # every day of every period ran: the row accrued exactly its interest
                assert row.interest_accrued == row.interest_due
            assert row.interest_accrued <= row.interest_due


def test_the_day_core_loads_no_database_or_web_library() -> None:
    code = (
        "import sys; import creditgraph.servicing.core.day, creditgraph.servicing.core.day_labels; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'duckdb', 'fastapi'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
