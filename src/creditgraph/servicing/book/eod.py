"""The end of day in the database: which dates and loans are pending, one chunk read as arrays,
the chunk's plan written back in bulk, labels and the run's own rows.

Reads and writes only; what the day does to a loan is decided by
:mod:`creditgraph.servicing.core.day`. Every function takes an open ``Connection`` inside a
transaction and never commits. Writes go through ``executemany`` (thousands of rows in one
statement) and the postings through :func:`~creditgraph.servicing.book.write_postings`, like
every posting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
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

from creditgraph.servicing import book
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.book import (
    EOD_RUNS,
    INSTALMENTS,
    LOANS,
    SERVICED_STATES,
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
from creditgraph.servicing.book.ledger import account_totals
from creditgraph.servicing.core.day import (
    DayPlan,
    EntryBatch,
    EodPlan,
    LoanChunk,
    OpenRows,
    from_day_number,
    ints,
)
from creditgraph.servicing.core.day_labels import Label, LabelFacts, window_starts
from creditgraph.servicing.delinquency import BUCKETS, InstalmentArrays
from creditgraph.servicing.lifecycle import LoanEvent, LoanState
from creditgraph.store.db import write_transaction as write_transaction  # one per chunk
from creditgraph.store.models import IngestBatch, LoanOutcome, Person, table_of

ACTOR = "eod"
OUTCOMES = table_of(LoanOutcome)
PERSONS = table_of(Person)
BATCHES = table_of(IngestBatch)
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


def day_col(conn: Connection, column: Any) -> ColumnElement[int]:
    """A date column read as its day number, so a million dates arrive as plain integers."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(column) - 2440587.5, Integer)
    return type_coerce(column - literal_column("DATE '1970-01-01'"), Integer)


# --- the run ---------------------------------------------------------------------------------------


def completed_on(conn: Connection, day: date) -> bool:
    found = conn.execute(
        select(EOD_RUNS.c.business_date).where(
            EOD_RUNS.c.status == "completed", EOD_RUNS.c.business_date == day
        )
    ).first()
    return found is not None


def first_pending_day(conn: Connection, business_date: date) -> date:
    """The first date a run for ``business_date`` must process.

    The day after the last completed run; with no run yet, the earliest day any serviced loan
    still needs, so nothing a loan owes (penalty days, status changes) is skipped.
    """
    last = closed_through(conn)
    if last is not None:
        return last + timedelta(days=1)
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
    return first


def mark_started(conn: Connection, day: date) -> None:
    found = conn.execute(select(EOD_RUNS.c.status).where(EOD_RUNS.c.business_date == day)).first()
    if found is None:
        conn.execute(
            insert(EOD_RUNS).values(
                business_date=day, started_at=now(), status="running", loans_processed=0
            )
        )


def mark_completed(conn: Connection, day: date, loans: int) -> None:
    conn.execute(
        update(EOD_RUNS)
        .where(EOD_RUNS.c.business_date == day)
        .values(status="completed", finished_at=now(), loans_processed=loans)
    )


def pending_loan_ids(conn: Connection, day: date) -> list[str]:
    rows = conn.execute(select(LOANS.c.id).where(book.pending_filter(day)).order_by(LOANS.c.id))
    return [row[0] for row in rows]


# --- reading one chunk -----------------------------------------------------------------------------


def read_loans(conn: Connection, day: date, first: str, last: str) -> LoanChunk:
    """The chunk's pending loans, locked (``FOR UPDATE`` on PostgreSQL), in id order."""
    statement = (
        select(
            LOANS.c.id,
            LOANS.c.state,
            LOANS.c.product_code,
            LOANS.c.penalty_rate,
            LOANS.c.day_count,
            LOANS.c.npa,
            LOANS.c.dpd,
            func.coalesce(day_col(conn, LOANS.c.overdue_since), -1),
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
        return LoanChunk.empty()
    ids, state, product, rate, day_count, npa, dpd, since = zip(*rows, strict=True)
    return LoanChunk(
        list(ids),
        list(state),
        list(product),
        list(rate),
        list(day_count),
        np.asarray(npa, dtype=np.bool_),
        ints(dpd),
        ints(since),
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


def read_instalments(
    conn: Connection, day: date, first: str, last: str, loans: LoanChunk
) -> OpenRows:
    """Rows still accruing or past due and unpaid, keyed to the loans' positions in ``loans``."""
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
        day_col(conn, c.period_start),
        day_col(conn, c.due_date),
        *(c[name] for name in INSTALMENT_COLUMNS),
    ).where(
        c.loan_id >= first,
        c.loan_id <= last,
        c.superseded.is_(False),
        c.period_start < day,
        or_(c.interest_accrued_fen < c.interest_due_fen, and_(c.due_date < day, unpaid)),
    )
    positions = {loan_id: k for k, loan_id in enumerate(loans.ids)}
    rows = [row for row in conn.execute(statement).all() if row[1] in positions]
    if not rows:
        return OpenRows.empty()
    numbers = np.asarray([(row[0], *row[2:]) for row in rows], dtype=np.int64)
    loan = ints([positions[row[1]] for row in rows])
    return OpenRows(numbers[:, 0], InstalmentArrays(loan, *(numbers[:, k] for k in range(1, 12))))


def receivables(
    conn: Connection, loan_ids: Sequence[str]
) -> dict[str, dict[Account, tuple[int, int]]]:
    """(debit, credit) totals per account of each loan: what a write-off clears."""
    return {loan_id: account_totals(conn, loan_id) for loan_id in loan_ids}


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


def _facts(row: Any, *, closing: bool = False) -> LabelFacts:
    extra = {"state": row.state, "closed_on": row.closed_on} if closing else {}
    return LabelFacts(
        row.id,
        row.person_id,
        row.disbursed_on,
        row.principal_fen,
        row.periods,
        row.frequency,
        **extra,
    )


def unlabelled_facts(conn: Connection, loan_ids: Sequence[str]) -> list[LabelFacts]:
    """Label facts of those of ``loan_ids`` still unlabelled whose person is still stored."""
    if not loan_ids:
        return []
    found = conn.execute(
        select(*LABEL_COLUMNS).where(LOANS.c.id.in_(list(loan_ids)), _unlabelled())
    ).all()
    return [_facts(row) for row in found]


def good_label_candidates(conn: Connection, day: date, months: int) -> list[LabelFacts]:
    """Unlabelled loans that closed, or whose outcome window of ``months`` ends on ``day``."""
    found = conn.execute(
        select(*LABEL_COLUMNS, LOANS.c.state, LOANS.c.closed_on).where(
            _unlabelled(),
            LOANS.c.disbursed_on.is_not(None),
            or_(
                LOANS.c.state == LoanState.CLOSED.value,
                LOANS.c.disbursed_on.in_(window_starts(day, months)),
            ),
        )
    ).all()
    return [_facts(row, closing=True) for row in found]


# --- writing one chunk's plan ----------------------------------------------------------------------


def write_plan(conn: Connection, plan: EodPlan) -> None:
    """The chunk's plan, in order: postings, instalments, loan status and events, write-offs,
    default labels, and every loan of the chunk marked accrued through the day."""
    day = plan.day
    _write_entries(conn, TransactionKind.ACCRUAL, day, day.accrual)
    _write_entries(conn, TransactionKind.PENALTY, day, day.penalty)
    _update_instalments(conn, day)
    _update_status(conn, day)
    book.insert_events(
        conn,
        [book.eod_event(t.loan_id, t.from_state, t.to_state, t.event) for t in day.transitions],
    )
    _write_offs(conn, plan)
    insert_labels(conn, day.day, plan.default_labels)
    conn.execute(
        update(LOANS)
        .where(LOANS.c.id.in_(list(day.loans.ids)))
        .values(accrued_through=day.day, version=LOANS.c.version + 1, updated_at=now())
    )


def _write_entries(
    conn: Connection, kind: TransactionKind, plan: DayPlan, batch: EntryBatch
) -> None:
    if batch.loan.size == 0:
        return
    stem = f"TX-{plan.day:%Y%m%d}{POSTING_CODES[kind]}"
    ids, day, lines = plan.loans.ids, plan.day, batch.entry  # hoisted: a million postings a day
    postings = []
    for position, fen, detail in zip(
        batch.loan.tolist(), batch.amount_fen.tolist(), batch.detail, strict=True
    ):
        loan_id = ids[position]
        postings.append(
            Posting(
                transaction_id=posting_id(stem, loan_id),
                loan_id=loan_id,
                kind=kind,
                business_date=day,
                amount_fen=fen,
                actor=ACTOR,
                lines=lines(fen),
                detail=detail,
            )
        )
    write_postings(conn, postings)


def _update_instalments(conn: Connection, plan: DayPlan) -> None:
    """Raise the rows' accrued interest and penalty; memo penalty counts in both penalty columns
    (owed by the borrower) but has no journal line."""
    accrual, penalty, memo, row_ids = (
        plan.accrual_fen,
        plan.penalty_fen,
        plan.memo_fen,
        plan.row_ids,
    )
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


_STATUS = (
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


def _update_status(conn: Connection, plan: DayPlan) -> None:
    if plan.changed.size == 0:
        return
    conn.execute(
        _STATUS,
        [
            {
                "loan_id": plan.loans.ids[k],
                "new_dpd": int(plan.dpd[k]),
                "new_bucket": BUCKETS[int(plan.bucket[k])].value,
                "new_npa": bool(plan.npa[k]),
                "new_since": None
                if plan.overdue_since[k] < 0
                else from_day_number(plan.overdue_since[k]),
                "new_state": plan.state[k],
            }
            for k in plan.changed
        ],
    )


def _write_offs(conn: Connection, plan: EodPlan) -> None:
    """Each write-off: its posting (if anything was owed), the loan's state, its event."""
    for write_off in plan.write_offs:
        tx_id = None
        if write_off.lines:
            tx_id = post_lines(
                conn,
                write_off.loan_id,
                TransactionKind.WRITE_OFF,
                plan.day.day,
                write_off.lines,
                ACTOR,
                detail=write_off.detail,
            )
        update_loan(
            conn, write_off.loan_id, {"state": write_off.to_state, "written_off_on": plan.day.day}
        )
        book.insert_events(
            conn,
            [
                book.eod_event(
                    write_off.loan_id,
                    write_off.from_state,
                    write_off.to_state,
                    LoanEvent.WRITE_OFF.value,
                    tx_id,
                )
            ],
        )


# --- labels ------------------------------------------------------------------------------------------


def insert_labels(conn: Connection, day: date, labels: Sequence[Label]) -> None:
    if labels:
        batch_id = _label_batch(conn, day)
        conn.execute(
            insert(OUTCOMES),
            [{**label.row(), "row_hash": label.row_hash, "batch_id": batch_id} for label in labels],
        )


def _batch_id(day: date) -> str:
    return f"eod-{day.isoformat()}"


def _label_batch(conn: Connection, day: date) -> str:
    """The batch row the day's labels hang from (outcomes name the batch that brought them);
    created by the first chunk that labels a loan, summed up by :func:`finish_label_batch`."""
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


def finish_label_batch(conn: Connection, day: date) -> None:
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
