"""The loan book in the database: the only servicing code that touches it.

This module holds what every part of the book shares (tables, loan locks, the batched posting
writer, events); :mod:`.uow` is the unit of work the services use, and :mod:`.loans`,
:mod:`.postings`, :mod:`.refunds`, :mod:`.intents` and :mod:`.ledger` hold each aggregate's
statements. ``BusinessDateError``, ``date_rule`` and ``TransactionKind`` live in the pure core
and are re-exported here for the end of day.

Every function here takes an open ``Connection`` inside a transaction and never commits, so a
loan change, its journal lines and its events commit together or not at all. Statements are
SQLAlchemy Core against tables known at import time: no reflection, no ORM, so a posting is a
handful of round trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from creditgraph.ids import time_ordered_id
from creditgraph.servicing.accounts import Line, check_balanced
from creditgraph.servicing.core.dates import BusinessDateError, date_rule
from creditgraph.servicing.core.plan import TransactionKind
from creditgraph.servicing.lifecycle import SERVICED
from creditgraph.store.db import json_dumps
from creditgraph.store.models import (
    EodRun,
    JournalLine,
    Loan,
    LoanEvent,
    LoanInstalment,
    LoanTransaction,
    table_of,
)

__all__ = ["BusinessDateError", "TransactionKind", "date_rule"]

LOANS = table_of(Loan)
INSTALMENTS = table_of(LoanInstalment)
TRANSACTIONS = table_of(LoanTransaction)
JOURNAL = table_of(JournalLine)
EVENTS = table_of(LoanEvent)
EOD_RUNS = table_of(EodRun)

CLOSED_THROUGH = "closed_through"  # the extra column of a locked loan row

# Statements built once: the compiled-statement cache then makes each execution cheap.
_LAST_CLOSED = (
    select(EOD_RUNS.c.business_date)
    .where(EOD_RUNS.c.status == "completed")
    .order_by(EOD_RUNS.c.business_date.desc())
    .limit(1)
)
# The loan with the books' last closed date in the same round trip: every posting needs both.
_LOAN_BY_ID = select(LOANS, _LAST_CLOSED.scalar_subquery().label(CLOSED_THROUGH)).where(
    LOANS.c.id == bindparam("loan_id")
)
_LOAN_FOR_UPDATE = _LOAN_BY_ID.with_for_update(of=LOANS)
_CURRENT_ROWS = (
    select(INSTALMENTS)
    .where(INSTALMENTS.c.loan_id == bindparam("loan_id"), INSTALMENTS.c.superseded.is_(False))
    .order_by(INSTALMENTS.c.number)
)
# A current instalment with anything left to pay (due or not yet due): what a repayment reads,
# the due ones to pay and all of them for its ceiling.
_OWING = and_(
    INSTALMENTS.c.superseded.is_(False),
    or_(
        INSTALMENTS.c.principal_paid_fen < INSTALMENTS.c.principal_due_fen,
        INSTALMENTS.c.interest_paid_fen < INSTALMENTS.c.interest_due_fen,
        INSTALMENTS.c.fee_paid_fen < INSTALMENTS.c.fee_due_fen,
        INSTALMENTS.c.penalty_paid_fen < INSTALMENTS.c.penalty_accrued_fen,
    ),
)
# One of those due by ``:on``: what a repayment can touch.
_UNSETTLED = and_(_OWING, INSTALMENTS.c.due_date <= bindparam("on"))
_OWING_ROWS = (
    select(INSTALMENTS)
    .where(INSTALMENTS.c.loan_id == bindparam("loan_id"), _OWING)
    .order_by(INSTALMENTS.c.number)
)
_UNSETTLED_DUE = (
    select(INSTALMENTS)
    .where(INSTALMENTS.c.loan_id == bindparam("loan_id"), _UNSETTLED)
    .order_by(INSTALMENTS.c.number)
)
# The last completed end of day: walks the primary key (business_date) down from the newest
# run and stops at the first completed one (at most a running date or two above it).
_LOAN_OWING = (
    select(
        LOANS,
        _LAST_CLOSED.scalar_subquery().label(CLOSED_THROUGH),
        *(column.label(f"i_{column.name}") for column in INSTALMENTS.c),
    )
    .select_from(LOANS.outerjoin(INSTALMENTS, and_(INSTALMENTS.c.loan_id == LOANS.c.id, _OWING)))
    .where(LOANS.c.id == bindparam("loan_id"))
    .order_by(INSTALMENTS.c.number)
)
LOAN_OWING_FOR_UPDATE = _LOAN_OWING.with_for_update(of=LOANS)
LOAN_OWING = _LOAN_OWING
"""The loan, the books' last closed date and its owing instalments, in one outer join: what a
repayment reads (the loan's columns come once per owing instalment, or once with none)."""
_LOAN_UPDATES: dict[tuple[str, ...], str] = {}


def now() -> datetime:
    """Naive UTC, as every table stores times."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id(prefix: str) -> str:
    """A unique id that sorts by creation time (see :mod:`creditgraph.ids`)."""
    return time_ordered_id(prefix)


def lock_loan(conn: Connection, loan_id: str) -> RowMapping | None:
    """The loan row, locked for this transaction (``FOR UPDATE`` on PostgreSQL; on SQLite the
    whole database is already locked by :func:`write_transaction`). None if there is no such loan.
    """
    statement = _LOAN_FOR_UPDATE if conn.dialect.name == "postgresql" else _LOAN_BY_ID
    return conn.execute(statement, {"loan_id": loan_id}).mappings().first()


def current_instalments(conn: Connection, loan_id: str) -> list[RowMapping]:
    """The loan's current (not superseded) instalments, oldest first, in one query."""
    return list(conn.execute(_CURRENT_ROWS, {"loan_id": loan_id}).mappings())


def owing_rows(conn: Connection, loan_id: str) -> list[RowMapping]:
    """The current instalments with anything left to pay, due or not, oldest first."""
    return list(conn.execute(_OWING_ROWS, {"loan_id": loan_id}).mappings())


def unsettled_due(conn: Connection, loan_id: str, on: date) -> list[RowMapping]:
    """The current instalments due on or before ``on`` with anything left to pay, oldest first:
    all a repayment can touch, in one query that skips the settled and the future rows."""
    return list(conn.execute(_UNSETTLED_DUE, {"loan_id": loan_id, "on": on}).mappings())


def closed_through(conn: Connection, loan: RowMapping | None = None) -> date | None:
    """The last business date whose end of day completed (its books are closed), if any.

    Read with the locked loan row when one is given (:func:`lock_loan` selects it), else one
    indexed query.
    """
    value = loan[CLOSED_THROUGH] if loan is not None else conn.execute(_LAST_CLOSED).scalar()
    if isinstance(value, str):  # a raw SQLite read of a row written outside SQLAlchemy
        return date.fromisoformat(value)
    return value


def open_business_date(conn: Connection) -> date | None:
    """The one date postings may carry: the day after the last completed end of day.

    None when no end of day has run yet (any date on or after disbursement is then allowed).
    """
    last = closed_through(conn)
    return None if last is None else last + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Posting:
    """One ``loan_transactions`` row and its journal lines, ready to write."""

    transaction_id: str
    loan_id: str
    kind: TransactionKind
    business_date: date
    amount_fen: int
    actor: str
    lines: Sequence[Line]
    detail: Mapping[str, Any] | str  # a mapping, or JSON text already made
    idempotency_key: str | None = None
    request_sha256: str | None = None
    reversal_of: str | None = None


class DriverValues:
    """Values as the database driver takes them, for ``executemany`` straight to the driver.

    SQLAlchemy's per-statement and per-row parameter processing costs more than the insert itself
    on the posting path and at a million end-of-day rows; these statements are plain SQL with
    ``?`` markers, values in the forms SQLAlchemy itself stores (ISO text dates and times on
    SQLite, native ones on PostgreSQL, JSON as text).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def instant(self, value: datetime) -> Any:
        return value.isoformat(sep=" ", timespec="microseconds") if self.sqlite else value

    def value(self, value: Any) -> Any:
        """Dates and times as the driver takes them; every other value as it is."""
        if isinstance(value, datetime):
            return self.instant(value)
        if isinstance(value, date):
            return self.day(value)
        return value

    def executemany(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run ``sql`` once per row on the DB-API cursor of this connection's transaction."""
        if not rows:
            return
        statement = sql if self.conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")
        self.conn.exec_driver_sql(statement, list(rows))


_INSERT_TRANSACTIONS = (
    "INSERT INTO loan_transactions (id, loan_id, kind, business_date, amount_fen, "
    "idempotency_key, request_sha256, reversal_of, actor, created_at, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LINES = (
    "INSERT INTO journal_lines (transaction_id, loan_id, account, debit_fen, credit_fen, "
    "business_date) VALUES (?, ?, ?, ?, ?, ?)"
)


def write_postings(conn: Connection, postings: Iterable[Posting]) -> None:
    """Write postings and their journal lines in two statements, however many there are.

    The one writer of ``loan_transactions`` and ``journal_lines``: a single repayment and the
    end of day's million accruals go through the same rows. Lines must already be balanced
    (:func:`post_lines` checks; the end of day builds one debit and one credit of one amount).
    """
    driver = DriverValues(conn)
    created = driver.instant(now())
    transactions: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    for p in postings:
        day = driver.day(p.business_date)
        detail = p.detail if isinstance(p.detail, str) else json_dumps(p.detail)
        transactions.append(
            (
                p.transaction_id,
                p.loan_id,
                p.kind.value,
                day,
                p.amount_fen,
                p.idempotency_key,
                p.request_sha256,
                p.reversal_of,
                p.actor,
                created,
                detail,
            )
        )
        lines.extend(
            (p.transaction_id, p.loan_id, line.account.value, line.debit_fen, line.credit_fen, day)
            for line in p.lines
        )
    driver.executemany(_INSERT_TRANSACTIONS, transactions)
    driver.executemany(_INSERT_LINES, lines)


def post_lines(
    conn: Connection,
    loan_id: str,
    kind: TransactionKind | str,
    business_date: date,
    lines: Iterable[Line],
    actor: str,
    detail: Mapping[str, Any] | None = None,
    *,
    amount_fen: int | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
    reversal_of: str | None = None,
    transaction_id: str | None = None,
) -> str:
    """Write one balanced posting (a ``loan_transactions`` row and its journal lines).

    Raises :class:`~creditgraph.servicing.accounts.UnbalancedPostingError` before writing
    anything if the lines do not balance. ``amount_fen`` defaults to the total debits. Returns
    the transaction id. The caller owns the transaction and the loan change that goes with it.
    """
    checked = check_balanced(lines)
    tx_id = transaction_id or new_id("TX")
    total = sum(line.debit_fen for line in checked)
    write_postings(
        conn,
        [
            Posting(
                transaction_id=tx_id,
                loan_id=loan_id,
                kind=TransactionKind(kind),
                business_date=business_date,
                amount_fen=total if amount_fen is None else amount_fen,
                actor=actor,
                lines=checked,
                detail=dict(detail or {}),
                idempotency_key=idempotency_key,
                request_sha256=request_sha256,
                reversal_of=reversal_of,
            )
        ],
    )
    return tx_id


def record_event(
    conn: Connection,
    loan_id: str,
    from_state: str | None,
    to_state: str,
    event: str,
    actor: str,
    *,
    note: str | None = None,
    transaction_id: str | None = None,
) -> None:
    """Append one lifecycle event to ``loan_events`` (the loan's audit trail)."""
    conn.execute(
        EVENTS.insert(),
        {
            "loan_id": loan_id,
            "from_state": from_state,
            "to_state": to_state,
            "event": event,
            "actor": actor,
            "at": now(),
            "note": note,
            "transaction_id": transaction_id,
        },
    )


def update_loan(conn: Connection, loan_id: str, values: Mapping[str, Any]) -> None:
    """Update loan columns, bumping ``version`` and ``updated_at``.

    Straight to the driver (this runs on every posting); the column names come from code and are
    checked against the table.
    """
    names = tuple(sorted(values))
    sql = _LOAN_UPDATES.get(names)
    if sql is None:
        unknown = [n for n in names if n not in LOANS.c]
        if unknown:
            raise ValueError(f"loans has no column {', '.join(unknown)}")
        assignments = "".join(f"{name} = ?, " for name in names)
        sql = f"UPDATE loans SET {assignments}version = version + 1, updated_at = ? WHERE id = ?"
        _LOAN_UPDATES[names] = sql
    driver = DriverValues(conn)
    row = (*(driver.value(values[name]) for name in names), driver.instant(now()), loan_id)
    driver.executemany(sql, [row])


def eod_event(
    loan_id: str, before: str, after: str, event: str, tx: str | None = None
) -> dict[str, Any]:
    """An event row written by the end of day (or its credit sweep)."""
    return {
        "loan_id": loan_id,
        "from_state": before,
        "to_state": after,
        "event": event,
        "actor": "eod",
        "at": now(),
        "note": None,
        "transaction_id": tx,
    }


def insert_events(conn: Connection, events: list[dict[str, Any]]) -> None:
    if events:
        conn.execute(insert(EVENTS), events)


SERVICED_STATES = tuple(sorted(state.value for state in SERVICED))


def pending_filter(day: date, *, by_state_index: bool = True) -> ColumnElement[bool]:
    """Loans the end of day of ``day`` still has to process."""
    # Inside a chunk the id range must drive the query: ``state || ''`` keeps a planner
    # without statistics (SQLite) from scanning the whole state index for every chunk.
    state = LOANS.c.state if by_state_index else LOANS.c.state.concat("")
    return and_(
        state.in_(SERVICED_STATES),
        LOANS.c.disbursed_on <= day,
        or_(LOANS.c.accrued_through.is_(None), LOANS.c.accrued_through < day),
    )


def credit_holders(conn: Connection, day: date, first: str, last: str) -> list[str]:
    """Loans of an end-of-day chunk holding borrower credit: the few that can pay dues
    without cash."""
    statement = (
        select(LOANS.c.id)
        .where(
            LOANS.c.id >= first,
            LOANS.c.id <= last,
            LOANS.c.credit_fen > 0,
            pending_filter(day, by_state_index=False),
        )
        .order_by(LOANS.c.id)
    )
    return [row[0] for row in conn.execute(statement)]
