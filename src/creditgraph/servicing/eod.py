"""The end-of-day job: borrower credit, accrual, overdue detection, DPD, buckets, penalty, NPA,
write-off, labels.

Set-based so a million loans fit in minutes: each business date is processed in chunks of loans,
one write transaction per chunk (so repayments are never held up for the whole run). A chunk
first settles what falls due from the borrower credit of the few loans that hold any (one
repayment-style posting each), then reads its loans and their open instalments in two queries
under the write lock, works out the day for all of them at once with numpy
(``delinquency.assess_day``), and writes back with ``executemany``: instalment accruals, journal
postings, loan status, lifecycle events, and the default labels of loans that reached the default
DPD. Each loan carries ``accrued_through``, so a chunk that committed is never processed again,
and ``eod_runs`` marks a date complete: a second run for the same date changes nothing. Dates
skipped since the last run are processed one by one, in order.
"""

from __future__ import annotations

import hashlib
import json
import time as clock
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import (
    Engine,
    Integer,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from creditgraph.servicing import book, credit_sweep
from creditgraph.servicing.accounts import Account, Line, credit, debit
from creditgraph.servicing.book import (
    EOD_RUNS,
    INSTALMENTS,
    LOANS,
    DriverValues,
    Posting,
    TransactionKind,
    closed_through,
    new_id,
    now,
    post_lines,
    update_loan,
    write_postings,
)
from creditgraph.servicing.calendar import Frequency, add_months
from creditgraph.servicing.config import ServicingConfig
from creditgraph.servicing.config_file import load_servicing_config
from creditgraph.servicing.delinquency import (
    BUCKETS,
    DelinquencyRules,
    InstalmentArrays,
    IntArray,
    assess_day,
    bucket_index,
    daily_basis,
    daily_penalty_fen,
    segment_sum,
)
from creditgraph.servicing.ledger import account_totals
from creditgraph.servicing.lifecycle import SERVICED, LoanEvent, LoanState, transition
from creditgraph.store.db import write_transaction
from creditgraph.store.models import IngestBatch, LoanOutcome, Person, table_of

ACTOR = "eod"
CHUNK_LOANS = 5_000
"""Loans per write transaction: small enough that a repayment waits well under a second."""
EPOCH = date(1970, 1, 1)
OUTCOMES = table_of(LoanOutcome)
PERSONS = table_of(Person)
BATCHES = table_of(IngestBatch)
RECEIVABLES = (
    Account.LOANS_RECEIVABLE,
    Account.INTEREST_RECEIVABLE,
    Account.PENALTY_RECEIVABLE,
    Account.FEE_RECEIVABLE,
)
SERVICED_STATES = tuple(sorted(state.value for state in SERVICED))

Progress = Callable[[str, int, int | None], None]


class EodError(ValueError):
    """An end-of-day request that cannot be run as asked."""


@dataclass
class DayResult:
    """What the job did on one business date (amounts in fen)."""

    business_date: date
    loans: int = 0
    credit_applied_fen: int = 0
    """Borrower credit used to settle what fell due (repayment postings by the end of day)."""
    credit_loans: int = 0
    accrued_fen: int = 0
    penalty_fen: int = 0
    penalty_memo_fen: int = 0
    """Penalty of NPA loans: owed by the borrower, kept on the rows, not booked (income when paid)."""
    fell_overdue: int = 0
    cured: int = 0
    became_npa: int = 0
    written_off: int = 0
    written_off_fen: int = 0
    defaults_labelled: int = 0
    goods_labelled: int = 0
    seconds: float = 0.0

    def add(self, other: DayResult) -> None:
        for name in (
            "loans",
            "credit_applied_fen",
            "credit_loans",
            "accrued_fen",
            "penalty_fen",
            "penalty_memo_fen",
            "fell_overdue",
            "cured",
            "became_npa",
            "written_off",
            "written_off_fen",
            "defaults_labelled",
            "goods_labelled",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class EodResult:
    """The dates a run processed, in order; empty when the requested date was already done."""

    requested: date
    days: list[DayResult] = field(default_factory=list)
    already_done: bool = False
    closed_through: date | None = None
    """With ``already_done``: the last business date whose end of day has completed."""

    @property
    def seconds(self) -> float:
        return sum(day.seconds for day in self.days)


def day_number(day: date) -> int:
    """Days since 1970-01-01: how dates travel in the job's arrays."""
    return (day - EPOCH).days


def from_day_number(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


def _day_col(conn: Connection, column: Any) -> ColumnElement[int]:
    """A date column read as its day number, so a million dates arrive as plain integers."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(column) - 2440587.5, Integer)
    return type_coerce(column - literal_column("DATE '1970-01-01'"), Integer)


# --- which dates to process ---------------------------------------------------------------------


def completed_through(engine: Engine) -> date | None:
    """The last business date whose end of day completed, if any."""
    with engine.connect() as conn:
        return closed_through(conn)


def dates_to_process(engine: Engine, business_date: date) -> list[date]:
    """Every date from the day after the last completed run through ``business_date``.

    With no run yet, processing starts at the earliest day any serviced loan still needs, so
    nothing a loan owes (penalty days, status changes) is skipped.
    """
    with engine.connect() as conn:
        done = conn.execute(
            select(EOD_RUNS.c.business_date).where(
                EOD_RUNS.c.status == "completed", EOD_RUNS.c.business_date == business_date
            )
        ).first()
        if done is not None:
            return []
        last = closed_through(conn)
        if last is None:
            pending = conn.execute(
                select(
                    func.min(LOANS.c.accrued_through),
                    func.min(LOANS.c.disbursed_on),
                    func.count(),
                ).where(LOANS.c.state.in_(SERVICED_STATES))
            ).one()
            first = business_date
            if pending[2]:
                candidates = [d + timedelta(days=1) for d in (pending[0],) if d is not None]
                if pending[1] is not None:
                    candidates.append(pending[1])
                first = min([business_date, *candidates])
        else:
            first = last + timedelta(days=1)
    return [first + timedelta(days=k) for k in range((business_date - first).days + 1)]


def run_eod(
    engine: Engine,
    business_date: date,
    *,
    config: ServicingConfig | None = None,
    rules: DelinquencyRules | None = None,
    timezone: str = "Asia/Shanghai",
    chunk_loans: int = CHUNK_LOANS,
    progress: Progress | None = None,
) -> EodResult:
    """Run the end of day for ``business_date`` (and any dates skipped before it), in order.

    Idempotent: a date already completed is not processed again. ``config`` gives each product's
    NPA and write-off DPD (default: the packaged servicing catalogue); ``rules`` the default-label
    definition; ``timezone`` the business day the label times are measured in.
    """
    if isinstance(business_date, datetime) or not isinstance(business_date, date):
        raise EodError(f"business date must be a date, got {business_date!r}")
    config = config or load_servicing_config()
    rules = rules or DelinquencyRules()
    result = EodResult(business_date)
    days = dates_to_process(engine, business_date)
    if not days:
        result.already_done = True
        result.closed_through = completed_through(engine)
        return result
    zone = ZoneInfo(timezone)
    for index, day in enumerate(days):
        if progress is not None and len(days) > 1:
            progress("business dates", index, len(days))
        result.days.append(_run_day(engine, day, config, rules, zone, chunk_loans, progress))
    if progress is not None and len(days) > 1:
        progress("business dates", len(days), len(days))
    return result


def _run_day(
    engine: Engine,
    day: date,
    config: ServicingConfig,
    rules: DelinquencyRules,
    zone: ZoneInfo,
    chunk_loans: int,
    progress: Progress | None,
) -> DayResult:
    started = clock.perf_counter()
    _mark_started(engine, day)
    ids = _pending_loan_ids(engine, day)
    total = DayResult(day)
    label = f"end of day {day.isoformat()}"
    if progress is not None:
        progress(label, 0, len(ids))
    for start in range(0, len(ids), chunk_loans):
        chunk = ids[start : start + chunk_loans]
        with write_transaction(engine) as conn:
            total.add(_process_chunk(conn, day, chunk[0], chunk[-1], config, rules, zone))
        if progress is not None:
            progress(label, start + len(chunk), len(ids))
    with write_transaction(engine) as conn:
        total.goods_labelled += _write_good_labels(conn, day, rules, zone)
        _finish_label_batch(conn, day)
        conn.execute(
            update(EOD_RUNS)
            .where(EOD_RUNS.c.business_date == day)
            .values(status="completed", finished_at=now(), loans_processed=total.loans)
        )
    total.seconds = clock.perf_counter() - started
    return total


def _mark_started(engine: Engine, day: date) -> None:
    with write_transaction(engine) as conn:
        found = conn.execute(
            select(EOD_RUNS.c.status).where(EOD_RUNS.c.business_date == day)
        ).first()
        if found is None:
            conn.execute(
                insert(EOD_RUNS).values(
                    business_date=day, started_at=now(), status="running", loans_processed=0
                )
            )


def _pending_loan_ids(engine: Engine, day: date) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(LOANS.c.id).where(book.pending_filter(day)).order_by(LOANS.c.id))
        return [row[0] for row in rows]


# --- one chunk of loans on one day --------------------------------------------------------------


@dataclass
class _Chunk:
    """The loans of one chunk as read under the write lock."""

    ids: list[str]
    state: list[str]
    product: list[str]
    penalty_rate: list[str]
    day_count: list[str]
    npa: np.ndarray
    dpd: IntArray
    overdue_since: IntArray


def _read_loans(conn: Connection, day: date, first: str, last: str) -> _Chunk:
    statement = (
        select(
            LOANS.c.id,
            LOANS.c.state,
            LOANS.c.product_code,
            LOANS.c.penalty_rate,
            LOANS.c.day_count,
            LOANS.c.npa,
            LOANS.c.dpd,
            func.coalesce(_day_col(conn, LOANS.c.overdue_since), -1),
        )
        .where(
            LOANS.c.id >= first, LOANS.c.id <= last, book.pending_filter(day, by_state_index=False)
        )
        .order_by(LOANS.c.id)
    )
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update()
    rows = conn.execute(statement).all()
    if not rows:
        return _Chunk([], [], [], [], [], np.zeros(0, bool), _ints([]), _ints([]))
    ids, state, product, rate, day_count, npa, dpd, since = zip(*rows, strict=True)
    return _Chunk(
        list(ids),
        list(state),
        list(product),
        list(rate),
        list(day_count),
        np.asarray(npa, dtype=bool),
        _ints(dpd),
        _ints(since),
    )


INSTALMENT_COLUMNS = (
    "principal_due_fen",
    "principal_paid_fen",
    "interest_due_fen",
    "interest_paid_fen",
    "interest_accrued_fen",
    "fee_due_fen",
    "fee_paid_fen",
    "penalty_accrued_fen",
    "penalty_paid_fen",
)


def _read_instalments(
    conn: Connection, day: date, first: str, last: str, positions: dict[str, int]
) -> tuple[IntArray, InstalmentArrays]:
    """Rows still accruing or past due and unpaid: (row ids, arrays keyed to loan positions)."""
    c = INSTALMENTS.c
    unpaid = or_(
        c.principal_paid_fen < c.principal_due_fen,
        c.interest_paid_fen < c.interest_due_fen,
        c.fee_paid_fen < c.fee_due_fen,
        c.penalty_paid_fen < c.penalty_accrued_fen,
    )
    statement = select(
        c.id,
        c.loan_id,
        _day_col(conn, c.period_start),
        _day_col(conn, c.due_date),
        *(c[name] for name in INSTALMENT_COLUMNS),
    ).where(
        c.loan_id >= first,
        c.loan_id <= last,
        c.superseded.is_(False),
        c.period_start < day,
        or_(c.interest_accrued_fen < c.interest_due_fen, and_(c.due_date < day, unpaid)),
    )
    rows = [row for row in conn.execute(statement).all() if row[1] in positions]
    if not rows:
        empty = _ints([])
        return empty, InstalmentArrays(*([empty] * 12))
    numbers = np.asarray([(row[0], *row[2:]) for row in rows], dtype=np.int64)
    loan = _ints([positions[row[1]] for row in rows])
    return numbers[:, 0], InstalmentArrays(loan, *(numbers[:, k] for k in range(1, 12)))


def _ints(values: Sequence[Any]) -> IntArray:
    return np.asarray(values, dtype=np.int64)


def _process_chunk(
    conn: Connection,
    day: date,
    first: str,
    last: str,
    config: ServicingConfig,
    rules: DelinquencyRules,
    zone: ZoneInfo,
) -> DayResult:
    """One chunk's day in its own transaction: credit, then DPD, accrual, penalty, states,
    write-offs and default labels, all from what this transaction read and computed."""
    result = DayResult(day)
    result.credit_loans, result.credit_applied_fen = credit_sweep.apply_credit(
        conn, day, first, last
    )
    loans = _read_loans(conn, day, first, last)
    n = len(loans.ids)
    if n == 0:
        return result
    positions = {loan_id: k for k, loan_id in enumerate(loans.ids)}
    row_ids, rows = _read_instalments(conn, day, first, last, positions)
    today = day_number(day)
    assessed = assess_day(today, n, rows)
    dpd = assessed.dpd

    params = [config.for_product(code) for code in loans.product]
    npa_dpd = _ints([p.npa_dpd for p in params])
    write_off_dpd = _ints([p.write_off_dpd for p in params])
    npa = (dpd >= npa_dpd) | (loans.npa & (dpd > 0))
    accruing_row = ~npa[rows.loan]

    accrual = np.where(accruing_row, assessed.accrual, 0)
    contractual = _penalties(loans, rows, assessed.overdue_principal)
    penalty = np.where(accruing_row, contractual, 0)
    memo = contractual - penalty  # NPA: owed, kept on the rows, not booked
    accrual_by_loan = segment_sum(accrual, rows.loan, n)
    penalty_by_loan = segment_sum(penalty, rows.loan, n)

    _post_entries(
        conn,
        TransactionKind.ACCRUAL,
        day,
        loans.ids,
        accrual_by_loan,
        Account.INTEREST_RECEIVABLE,
        Account.INTEREST_INCOME,
        rows.loan,
        row_ids,
        accrual,
    )
    _post_entries(
        conn,
        TransactionKind.PENALTY,
        day,
        loans.ids,
        penalty_by_loan,
        Account.PENALTY_RECEIVABLE,
        Account.PENALTY_INCOME,
        rows.loan,
        row_ids,
        penalty,
    )
    _update_instalments(conn, row_ids, accrual, penalty, memo)

    overdue_since = np.where(assessed.oldest_overdue >= 0, assessed.oldest_overdue + 1, -1)
    states = np.asarray(loans.state)
    fell = (states == LoanState.ACTIVE.value) & (dpd > 0)
    cured = (states == LoanState.OVERDUE.value) & (dpd == 0)
    write_off = (dpd >= write_off_dpd) & ((states == LoanState.OVERDUE.value) | fell)
    events: list[dict[str, Any]] = []
    new_state = list(loans.state)
    for k in np.flatnonzero(fell | cured):
        event = LoanEvent.FALL_OVERDUE if fell[k] else LoanEvent.CURE
        target = transition(loans.state[k], event, loans.ids[k])
        events.append(book.eod_event(loans.ids[k], loans.state[k], target.value, event.value))
        new_state[k] = target.value

    new_bucket = bucket_index(dpd)
    old_bucket = bucket_index(loans.dpd)
    changed = (
        (dpd != loans.dpd)
        | (npa != loans.npa)
        | (overdue_since != loans.overdue_since)
        | fell
        | cured
        | (new_bucket != old_bucket)
    )
    _update_status(
        conn, loans, np.flatnonzero(changed), dpd, new_bucket, npa, overdue_since, new_state
    )
    book.insert_events(conn, events)
    for k in np.flatnonzero(write_off):
        result.written_off_fen += _write_off(conn, loans.ids[k], new_state[k], day)
    result.defaults_labelled = _write_default_labels(conn, day, loans, dpd, rules, zone)
    conn.execute(
        update(LOANS)
        .where(LOANS.c.id.in_(loans.ids))
        .values(accrued_through=day, version=LOANS.c.version + 1, updated_at=now())
    )

    result.loans = n
    result.accrued_fen = int(accrual_by_loan.sum())
    result.penalty_fen = int(penalty_by_loan.sum())
    result.penalty_memo_fen = int(memo.sum())
    result.fell_overdue = int(fell.sum())
    result.cured = int(cured.sum())
    result.became_npa = int((npa & ~loans.npa).sum())
    result.written_off = int(write_off.sum())
    return result


def _penalties(loans: _Chunk, rows: InstalmentArrays, overdue_principal: IntArray) -> IntArray:
    """Contractual penalty per row: a day of the loan's penalty rate on its overdue principal.

    Owed whether or not the loan is NPA; NPA only decides whether it is booked.
    """
    penalty = np.zeros(rows.size, dtype=np.int64)
    due = np.flatnonzero(overdue_principal > 0)
    if due.size == 0:
        return penalty
    owners = rows.loan[due]
    rates = [Decimal(loans.penalty_rate[k]) for k in owners]
    basis = _ints([daily_basis(loans.day_count[k]) for k in owners])
    penalty[due] = daily_penalty_fen(overdue_principal[due], rates, basis)
    return penalty


def _post_entries(
    conn: Connection,
    kind: TransactionKind,
    day: date,
    loan_ids: list[str],
    amounts: IntArray,
    debit_account: Account,
    credit_account: Account,
    row_loan: IntArray,
    row_ids: IntArray,
    row_amounts: IntArray,
) -> None:
    """One balanced two-line posting per loan with a positive amount, written in bulk.

    Through ``book.write_postings`` like every posting, for thousands of loans in two
    ``executemany`` statements; balanced by construction (one debit and one credit of the same
    positive amount). ``detail`` names the instalment rows and amounts.
    """
    posting = np.flatnonzero(amounts > 0)
    if posting.size == 0:
        return
    parts: dict[int, list[str]] = {}
    paid = np.flatnonzero(row_amounts > 0)
    for owner, row_id, fen in zip(
        row_loan[paid].tolist(), row_ids[paid].tolist(), row_amounts[paid].tolist(), strict=True
    ):
        parts.setdefault(owner, []).append(f"[{row_id},{fen}]")
    fens = amounts[posting].tolist()
    stem = f"TX-{day:%Y%m%d}{POSTING_CODES[kind]}"
    postings = []
    for k, fen in zip(posting.tolist(), fens, strict=True):
        loan_id = loan_ids[k]
        tx_id = posting_id(stem, loan_id)
        postings.append(
            Posting(
                transaction_id=tx_id,
                loan_id=loan_id,
                kind=kind,
                business_date=day,
                amount_fen=fen,
                actor=ACTOR,
                lines=(debit(debit_account, fen), credit(credit_account, fen)),
                detail='{"instalments":[' + ",".join(parts.get(k, ())) + "]}",
            )
        )
    write_postings(conn, postings)


POSTING_CODES = {TransactionKind.ACCRUAL: "A", TransactionKind.PENALTY: "P"}
ID_LENGTH = 40


def posting_id(stem: str, loan_id: str) -> str:
    """The id of a loan's end-of-day posting of one kind on one date: ``TX-20260915A<loan id>``.

    A loan takes at most one accrual and one penalty posting a day, so the id is unique by
    construction (a second one could not be inserted), and ids of a chunk sort together, so the
    indexes grow at one place instead of at random. Loan ids too long for it get a random id.
    """
    tx_id = stem + loan_id
    return tx_id if len(tx_id) <= ID_LENGTH else new_id("TX")


def _update_instalments(
    conn: Connection, row_ids: IntArray, accrual: IntArray, penalty: IntArray, memo: IntArray
) -> None:
    """Raise the rows' accrued interest and penalty; memo penalty counts in both penalty columns
    (owed by the borrower) but has no journal line (``penalty_memo_fen`` says how much)."""
    booked = np.flatnonzero((accrual > 0) | (penalty > 0))
    DriverValues(conn).executemany(
        "UPDATE loan_instalments SET interest_accrued_fen = interest_accrued_fen + ?, "
        "penalty_accrued_fen = penalty_accrued_fen + ? WHERE id = ?",
        list(
            zip(
                accrual[booked].tolist(),
                penalty[booked].tolist(),
                row_ids[booked].tolist(),
                strict=True,
            )
        ),
    )
    off_balance = np.flatnonzero(memo > 0)
    DriverValues(conn).executemany(
        "UPDATE loan_instalments SET penalty_accrued_fen = penalty_accrued_fen + ?, "
        "penalty_memo_fen = penalty_memo_fen + ? WHERE id = ?",
        list(
            zip(
                memo[off_balance].tolist(),
                memo[off_balance].tolist(),
                row_ids[off_balance].tolist(),
                strict=True,
            )
        ),
    )


def _update_status(
    conn: Connection,
    loans: _Chunk,
    changed: IntArray,
    dpd: IntArray,
    buckets: IntArray,
    npa: np.ndarray,
    overdue_since: IntArray,
    states: list[str],
) -> None:
    if changed.size == 0:
        return
    statement = (
        update(LOANS)
        .where(LOANS.c.id == bindparam("loan_id"))
        .values(
            dpd=bindparam("new_dpd"),
            bucket=bindparam("new_bucket"),
            npa=bindparam("new_npa"),
            overdue_since=bindparam("new_since"),
            state=bindparam("new_state"),
        )
    )
    conn.execute(
        statement,
        [
            {
                "loan_id": loans.ids[k],
                "new_dpd": int(dpd[k]),
                "new_bucket": BUCKETS[int(buckets[k])].value,
                "new_npa": bool(npa[k]),
                "new_since": None if overdue_since[k] < 0 else from_day_number(overdue_since[k]),
                "new_state": states[k],
            }
            for k in changed
        ],
    )


def _write_off(conn: Connection, loan_id: str, state: str, day: date) -> int:
    """Write the loan off: Dr write_off_expense, Cr every receivable it still carries."""
    target = transition(state, LoanEvent.WRITE_OFF, loan_id)
    totals = account_totals(conn, loan_id)
    owed = {account: totals.get(account, (0, 0)) for account in RECEIVABLES}
    lines: list[Line] = [credit(account, d - c) for account, (d, c) in owed.items() if d - c > 0]
    total = sum(line.credit_fen for line in lines)
    tx_id = None
    if total:
        tx_id = post_lines(
            conn,
            loan_id,
            TransactionKind.WRITE_OFF,
            day,
            [debit(Account.WRITE_OFF_EXPENSE, total), *lines],
            ACTOR,
            detail={line.account.value: line.credit_fen for line in lines},
        )
    update_loan(conn, loan_id, {"state": target.value, "written_off_on": day})
    book.insert_events(
        conn, [book.eod_event(loan_id, state, target.value, LoanEvent.WRITE_OFF.value, tx_id)]
    )
    return total


# --- labels for scoring -------------------------------------------------------------------------


def _instant(day: date, zone: ZoneInfo) -> datetime:
    """The start of ``day`` in the business time zone, as naive UTC (how tables store times)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def _term_months(periods: int, frequency: str) -> int:
    per_year = Frequency(frequency).periods_per_year
    return max(1, -(-periods * 12 // per_year))


LABEL_COLUMNS = (
    LOANS.c.id,
    LOANS.c.person_id,
    LOANS.c.disbursed_on,
    LOANS.c.principal_fen,
    LOANS.c.periods,
    LOANS.c.frequency,
)


def _unlabelled() -> ColumnElement[bool]:
    """Loans with no outcome yet whose person is still stored (an erased person gets none)."""
    return and_(
        ~exists().where(OUTCOMES.c.loan_id == LOANS.c.id),
        exists().where(PERSONS.c.person_id == LOANS.c.person_id),
    )


def _write_default_labels(
    conn: Connection,
    day: date,
    loans: _Chunk,
    dpd: IntArray,
    rules: DelinquencyRules,
    zone: ZoneInfo,
) -> int:
    """Default labels for the chunk's loans that have reached ``rules.default_dpd`` within
    ``rules.outcome_months`` of disbursement, decided from the DPD this transaction computed.

    Written in the chunk's own transaction: a repayment committed after it cannot cure the loan
    out of its label, as it could if labels were read back from the loans later.
    """
    past = np.flatnonzero(dpd >= rules.default_dpd).tolist()
    if not past:
        return 0
    crossed = {loans.ids[k]: day - timedelta(days=int(dpd[k]) - rules.default_dpd) for k in past}
    found = conn.execute(
        select(*LABEL_COLUMNS).where(LOANS.c.id.in_(list(crossed)), _unlabelled())
    ).all()
    observed = _instant(day + timedelta(days=1), zone)
    rows = [
        _label_row(row, True, observed, zone)
        for row in found
        if crossed[row.id] <= add_months(row.disbursed_on, rules.outcome_months)
    ]
    _insert_labels(conn, day, rows)
    return len(rows)


def _write_good_labels(conn: Connection, day: date, rules: DelinquencyRules, zone: ZoneInfo) -> int:
    """Good labels that became known on ``day``: loans repaid in full, or whose outcome window
    ended, without a default (defaults were labelled by the chunks, so any loan still without a
    label did not reach the default DPD within its window)."""
    candidates = conn.execute(
        select(*LABEL_COLUMNS, LOANS.c.state, LOANS.c.closed_on).where(
            _unlabelled(),
            LOANS.c.disbursed_on.is_not(None),
            or_(
                LOANS.c.state == LoanState.CLOSED.value,
                LOANS.c.disbursed_on.in_(_window_starts(day, rules.outcome_months)),
            ),
        )
    ).all()
    rows: list[dict[str, Any]] = []
    for row in candidates:
        window_end = add_months(row.disbursed_on, rules.outcome_months)
        if (
            row.state == LoanState.CLOSED.value
            and row.closed_on is not None
            and row.closed_on <= day
        ):
            observed = _instant(min(row.closed_on, window_end) + timedelta(days=1), zone)
        elif window_end == day:
            observed = _instant(day + timedelta(days=1), zone)
        else:
            continue
        rows.append(_label_row(row, False, observed, zone))
    _insert_labels(conn, day, rows)
    return len(rows)


def _label_row(loan: Any, defaulted: bool, observed: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """One ``loan_outcomes`` row (without its batch) as scoring reads it."""
    return {
        "loan_id": loan.id,
        "person_id": loan.person_id,
        "applied_at": _instant(loan.disbursed_on, zone),
        "amount_fen": int(loan.principal_fen),
        "term_months": _term_months(int(loan.periods), loan.frequency),
        "defaulted": defaulted,
        "observed_at": observed,
    }


def _insert_labels(conn: Connection, day: date, rows: list[dict[str, Any]]) -> None:
    if rows:
        batch_id = _label_batch(conn, day)
        conn.execute(
            insert(OUTCOMES),
            [{**row, "row_hash": _row_hash(row), "batch_id": batch_id} for row in rows],
        )


def _window_starts(day: date, months: int) -> list[date]:
    """Every disbursement date whose outcome window of ``months`` ends on ``day``."""
    anchor = add_months(day, -months)  # month ends clamp down, so later days can map here too
    candidates = (anchor + timedelta(days=k) for k in range(4))
    return [d for d in candidates if add_months(d, months) == day]


def _row_hash(row: dict[str, Any]) -> str:
    canonical = json.dumps(row, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest()


def _batch_id(day: date) -> str:
    return f"eod-{day.isoformat()}"


def _label_batch(conn: Connection, day: date) -> str:
    """The batch row the day's labels hang from (outcomes name the batch that brought them);
    created by the first chunk that labels a loan, summed up by ``_finish_label_batch``."""
    batch_id = _batch_id(day)
    found = conn.execute(select(BATCHES.c.id).where(BATCHES.c.id == batch_id)).first()
    if found is None:
        stamp = now()
        conn.execute(
            insert(BATCHES).values(
                id=batch_id,
                name=f"end of day {day.isoformat()}",
                source="servicing-eod",
                started_at=stamp,
                finished_at=stamp,
                status="done",
                content_sha256=hashlib.sha256(b"").hexdigest(),
                contract_version="eod",
                counts={"loan_outcomes": {"accepted": 0}},
            )
        )
    return batch_id


def _finish_label_batch(conn: Connection, day: date) -> None:
    """Count and hash the day's labels once every chunk has written its own."""
    batch_id = _batch_id(day)
    if conn.execute(select(BATCHES.c.id).where(BATCHES.c.id == batch_id)).first() is None:
        return
    loan_ids = sorted(
        row[0]
        for row in conn.execute(select(OUTCOMES.c.loan_id).where(OUTCOMES.c.batch_id == batch_id))
    )
    conn.execute(
        update(BATCHES)
        .where(BATCHES.c.id == batch_id)
        .values(
            finished_at=now(),
            content_sha256=hashlib.sha256("\n".join(loan_ids).encode()).hexdigest(),
            counts={"loan_outcomes": {"accepted": len(loan_ids)}},
        )
    )
