"""The end of day in the database: which dates and loans are pending, one chunk read as arrays,
the chunk's plan written back in bulk, and the run's own rows (labels: :mod:`.eod_labels`).

Reads and writes only; what the day does to a loan is decided by
:mod:`creditgraph.servicing.core.day`. Every function takes an open ``Connection`` inside a
transaction and never commits. Writes go through ``executemany`` (thousands of rows in one
statement) and the postings through :func:`~creditgraph.servicing.book.write_postings`, like
every posting. The chunk's monitoring events (its credit sweep's repayments, instalments missed,
bucket changes, write-offs) are published to the outbox in the chunk's own transaction, in one
insert at its end (:func:`chunk_events`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    cast,
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

from creditgraph.audit import outbox as audit_log
from creditgraph.audit.kinds import trial_balance_sha256
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
from creditgraph.servicing.book.eod_labels import insert_labels
from creditgraph.servicing.book.ledger import account_totals
from creditgraph.servicing.book.outbox import emit, events_at_end
from creditgraph.servicing.core.day import (
    DayPlan,
    EntryBatch,
    EodPlan,
    LoanChunk,
    OpenRows,
    from_day_number,
    ints,
)
from creditgraph.servicing.core.monitoring_events import (
    day_closed_at,
    day_event_loans,
    day_events,
    missed_instalments,
)
from creditgraph.servicing.delinquency import BUCKETS, InstalmentArrays
from creditgraph.servicing.lifecycle import LoanEvent
from creditgraph.store.db import write_transaction as write_transaction  # one per chunk

ACTOR = "eod"
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
    """The day done, with the digest of its trial balance, committed to the audit log."""
    conn.execute(
        update(EOD_RUNS)
        .where(EOD_RUNS.c.business_date == day)
        .values(
            status="completed",
            finished_at=now(),
            loans_processed=loans,
            trial_balance_sha256=trial_balance_sha256(conn, day),
        )
    )
    audit_log.record(conn, "day_end", day.isoformat())


def pending_loan_ids(conn: Connection, day: date) -> list[str]:
    rows = conn.execute(select(LOANS.c.id).where(book.pending_filter(day)).order_by(LOANS.c.id))
    return [row[0] for row in rows]


@contextmanager
def chunk_events(conn: Connection) -> Iterator[None]:
    """Open around a chunk's work in its transaction: every monitoring event of the chunk is
    published in one insert when the block ends (see :mod:`.outbox` for why at the end)."""
    with events_at_end(conn):
        yield


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


# --- writing one chunk's plan ----------------------------------------------------------------------


def write_plan(conn: Connection, plan: EodPlan, rows: OpenRows, zone: ZoneInfo) -> None:
    """The chunk's plan, in order: postings, instalments, loan status and events, write-offs,
    default labels, the monitoring events, and every loan of the chunk marked accrued through
    the day. ``rows`` are the open instalments the plan was made from (before today's
    postings), ``zone`` the business day's time zone (when the day closed)."""
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
    publish_day_events(conn, plan, rows, zone)
    conn.execute(
        update(LOANS)
        .where(LOANS.c.id.in_(list(day.loans.ids)))
        .values(accrued_through=day.day, version=LOANS.c.version + 1, updated_at=now())
    )


def publish_day_events(conn: Connection, plan: EodPlan, rows: OpenRows, zone: ZoneInfo) -> None:
    """The chunk's monitoring events, in its transaction (into the chunk's one insert at its end
    when :func:`chunk_events` is open): two small reads, the people of the loans with events and
    the numbers of the missed rows, and none when the day reports nothing."""
    missed = missed_instalments(plan.day.day, rows)
    loan_ids = day_event_loans(plan, missed)
    if not loan_ids:
        return
    persons = {
        str(loan_id): str(person)
        for loan_id, person in conn.execute(
            select(LOANS.c.id, LOANS.c.person_id).where(LOANS.c.id.in_(loan_ids))
        )
    }
    numbers: dict[int, int] = {}
    if missed:
        found = conn.execute(
            select(INSTALMENTS.c.id, INSTALMENTS.c.number).where(
                INSTALMENTS.c.id.in_([m.row_id for m in missed])
            )
        )
        numbers = {int(row_id): int(number) for row_id, number in found}
    at = day_closed_at(plan.day.day, zone, datetime.now(UTC))
    emit(conn, day_events(plan, missed, numbers, persons, at))


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
