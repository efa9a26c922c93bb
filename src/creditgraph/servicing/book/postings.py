"""A posting plan applied: the one place a payment, a disbursement, a reversal or a refund
changes instalments, writes its transaction and journal lines, updates the loan and records
its events, all inside the caller's transaction.

Statements are few and batched: one ``executemany`` for every instalment delta of the plan,
two for the transaction rows and their lines (a reversal's catch-up penalty rides with it).
A repayment or prepayment also publishes its ``repayment_posted`` monitoring event to the
outbox in the same transaction (one read of the person and what is still due, one insert), and
a posting that moves the loan's bucket its ``dpd_bucket_changed``, so an event exists if and
only if its posting does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection

from creditgraph.servicing import book
from creditgraph.servicing.accounts import Line, check_balanced
from creditgraph.servicing.book import EOD_RUNS, INSTALMENTS, JOURNAL, LOANS, TRANSACTIONS
from creditgraph.servicing.book import refunds as refund_rows
from creditgraph.servicing.book.outbox import emit
from creditgraph.servicing.core.monitoring_events import (
    LoanStatus,
    moves_bucket,
    posting_emits,
    posting_events,
)
from creditgraph.servicing.core.plan import (
    REVERSIBLE_KINDS,
    InstalmentDelta,
    NewInstalment,
    PostingPlan,
)
from creditgraph.servicing.core.values import PostedTransaction

Hook = Callable[[str], None]

# One batched statement applies every instalment change of a posting (paid and accrued deltas).
ROW_DELTA_SQL = (
    "UPDATE loan_instalments SET principal_paid_fen = principal_paid_fen + ?, "
    "interest_paid_fen = interest_paid_fen + ?, fee_paid_fen = fee_paid_fen + ?, "
    "penalty_paid_fen = penalty_paid_fen + ?, interest_accrued_fen = interest_accrued_fen + ?, "
    "penalty_memo_fen = penalty_memo_fen - ? WHERE id = ?"
)
SUPERSEDE = (
    update(INSTALMENTS)
    .where(INSTALMENTS.c.id == bindparam("row_id"))
    .values(superseded=bindparam("flag"))
)
_ADD_PENALTY = (
    update(INSTALMENTS)
    .where(INSTALMENTS.c.id == bindparam("row_id"))
    .values(
        penalty_accrued_fen=INSTALMENTS.c.penalty_accrued_fen + bindparam("d_accrued"),
        penalty_memo_fen=INSTALMENTS.c.penalty_memo_fen + bindparam("d_memo"),
    )
)
BY_KEY = select(
    TRANSACTIONS.c.id,
    TRANSACTIONS.c.loan_id,
    TRANSACTIONS.c.kind,
    TRANSACTIONS.c.business_date,
    TRANSACTIONS.c.amount_fen,
    TRANSACTIONS.c.request_sha256,
    TRANSACTIONS.c.detail,
).where(TRANSACTIONS.c.idempotency_key == bindparam("key"))
_TRANSACTION = select(TRANSACTIONS).where(TRANSACTIONS.c.id == bindparam("tx_id"))
_LOAN_OF_TRANSACTION = select(TRANSACTIONS.c.loan_id).where(TRANSACTIONS.c.id == bindparam("tx_id"))
_LINES_OF = (
    select(JOURNAL.c.account, JOURNAL.c.debit_fen, JOURNAL.c.credit_fen)
    .where(JOURNAL.c.transaction_id == bindparam("tx_id"))
    .order_by(JOURNAL.c.id)
)
# The latest repayment or prepayment of a loan posted after a given one and not reversed.
_LATER_PAYMENT = (
    select(TRANSACTIONS.c.id)
    .where(
        TRANSACTIONS.c.loan_id == bindparam("loan_id"),
        TRANSACTIONS.c.kind.in_(sorted(REVERSIBLE_KINDS)),
        TRANSACTIONS.c.reversed_by.is_(None),
        TRANSACTIONS.c.id != bindparam("tx_id"),
        or_(
            TRANSACTIONS.c.created_at > bindparam("created_at"),
            and_(
                TRANSACTIONS.c.created_at == bindparam("created_at"),
                TRANSACTIONS.c.id > bindparam("tx_id"),
            ),
        ),
    )
    .order_by(TRANSACTIONS.c.created_at.desc(), TRANSACTIONS.c.id.desc())
    .limit(1)
)
# The first completed end of day started after a given instant.
_FIRST_RUN_SINCE = (
    select(EOD_RUNS.c.business_date)
    .where(EOD_RUNS.c.status == "completed", EOD_RUNS.c.started_at >= bindparam("at"))
    .order_by(EOD_RUNS.c.business_date)
    .limit(1)
)


# The loan's person and what its current instalments due by a date still owe (penalty included):
# what a repayment's event reports, read after the posting's own writes.
_PERSON_AND_DUE_SQL = (
    "SELECT l.person_id, (SELECT COALESCE(SUM(principal_due_fen - principal_paid_fen "
    "+ interest_due_fen - interest_paid_fen + fee_due_fen - fee_paid_fen "
    "+ penalty_accrued_fen - penalty_paid_fen), 0) FROM loan_instalments "
    "WHERE loan_id = ? AND superseded = ? AND due_date <= ?) FROM loans l WHERE l.id = ?"
)


_STATUS_OF = select(LOANS.c.bucket, LOANS.c.dpd).where(LOANS.c.id == bindparam("loan_id"))


def apply_deltas(conn: Connection, deltas: Iterable[InstalmentDelta]) -> None:
    """Apply per-instalment deltas in one batched statement (integers only, so straight to the
    driver: this runs on every posting)."""
    rows = [
        (
            d.principal_fen,
            d.interest_fen,
            d.fee_fen,
            d.penalty_fen,
            d.interest_accrued_fen,
            d.memo_paid_fen,
            d.instalment_id,
        )
        for d in deltas
        if d.changes_anything
    ]
    book.DriverValues(conn).executemany(ROW_DELTA_SQL, rows)


def insert_instalments(conn: Connection, loan_id: str, rows: Iterable[NewInstalment]) -> None:
    conn.execute(
        INSTALMENTS.insert(),
        [
            {
                "loan_id": loan_id,
                "number": r.number,
                "due_date": r.due_date,
                "period_start": r.period_start,
                "principal_due_fen": r.principal_due_fen,
                "interest_due_fen": r.interest_due_fen,
                "fee_due_fen": r.fee_due_fen,
                "principal_paid_fen": 0,
                "interest_paid_fen": 0,
                "fee_paid_fen": 0,
                "interest_accrued_fen": r.interest_accrued_fen,
                "penalty_accrued_fen": 0,
                "penalty_paid_fen": 0,
                "penalty_memo_fen": 0,
                "superseded": False,
                "schedule_version": r.schedule_version,
            }
            for r in rows
        ],
    )


def _ids_of_version(conn: Connection, loan_id: str, version: int) -> list[int]:
    statement = (
        select(INSTALMENTS.c.id)
        .where(INSTALMENTS.c.loan_id == loan_id, INSTALMENTS.c.schedule_version == version)
        .order_by(INSTALMENTS.c.number)
    )
    return [int(r[0]) for r in conn.execute(statement)]


def _posting(
    plan: PostingPlan,
    tx_id: str,
    detail: Any,
    key: str | None,
    digest: str | None,
    lines: Sequence[Line],
) -> book.Posting:
    return book.Posting(
        transaction_id=tx_id,
        loan_id=plan.loan_id,
        kind=plan.kind,
        business_date=plan.business_date,
        amount_fen=plan.amount_fen,
        actor=plan.actor,
        lines=lines,
        detail=detail,
        idempotency_key=key,
        request_sha256=digest,
        reversal_of=plan.reversal_of,
    )


def apply_plan(
    conn: Connection,
    plan: PostingPlan,
    *,
    key: str | None = None,
    digest: str | None = None,
    hook: Hook | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write ``plan`` inside the caller's transaction; returns the transaction id and the
    detail as stored. Lines are checked for balance before anything of the posting is written
    (:class:`~creditgraph.servicing.accounts.UnbalancedPostingError`)."""
    lines = check_balanced(plan.lines)
    tx_id = plan.transaction_id or book.new_id("TX")
    detail = dict(plan.detail)
    if plan.cancel_refund is not None:
        refund_rows.cancel(conn, plan.cancel_refund)
    if plan.delete_instalments:
        conn.execute(delete(INSTALMENTS).where(INSTALMENTS.c.id.in_(plan.delete_instalments)))
    if plan.restore_instalments:
        conn.execute(SUPERSEDE, [{"row_id": i, "flag": False} for i in plan.restore_instalments])
    if plan.new_instalments:
        insert_instalments(conn, plan.loan_id, plan.new_instalments)
        if plan.created_instalments_key is not None:
            version = plan.new_instalments[0].schedule_version
            detail[plan.created_instalments_key] = _ids_of_version(conn, plan.loan_id, version)
    if plan.supersede:
        conn.execute(SUPERSEDE, [{"row_id": i, "flag": True} for i in plan.supersede])
    apply_deltas(conn, plan.deltas)
    before = _status(conn, plan.loan_id) if moves_bucket(plan) else None
    book.update_loan(conn, plan.loan_id, plan.loan_values)
    if hook is not None:
        hook("before_journal")
    postings = [_posting(plan, tx_id, detail, key, digest, lines)]
    if plan.follow_up is not None:
        follow = plan.follow_up
        follow_id = follow.transaction_id or book.new_id("TX")
        follow_lines = check_balanced(follow.lines)
        postings.append(_posting(follow, follow_id, dict(follow.detail), None, None, follow_lines))
    book.write_postings(conn, postings)
    if plan.mark_reversed:
        conn.execute(
            update(TRANSACTIONS)
            .where(TRANSACTIONS.c.id.in_(plan.mark_reversed))
            .values(reversed_by=tx_id)
        )
    if plan.penalty_charges:
        conn.execute(
            _ADD_PENALTY,
            [
                {"row_id": c.instalment_id, "d_accrued": c.accrued_fen, "d_memo": c.memo_fen}
                for c in plan.penalty_charges
            ],
        )
    if plan.events:
        book.insert_events(
            conn,
            [
                {
                    "loan_id": plan.loan_id,
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "event": e.event,
                    "actor": plan.actor,
                    "at": book.now(),
                    "note": e.note,
                    "transaction_id": tx_id,
                }
                for e in plan.events
            ],
        )
    if plan.refund_due_fen:
        refund_rows.record_due(conn, plan.loan_id, plan.refund_due_fen, plan.business_date, tx_id)
    if plan.refund_payout is not None:
        payout = plan.refund_payout
        refund_rows.mark_paid(
            conn, payout.refund_id, payout.approved_by, book.now(), payout.paid_on, tx_id
        )
    if posting_emits(plan):
        publish_events(conn, plan, tx_id, before)
    return tx_id, detail


def _status(conn: Connection, loan_id: str) -> LoanStatus | None:
    found = conn.execute(_STATUS_OF, {"loan_id": loan_id}).first()
    return None if found is None else LoanStatus(str(found[0]), int(found[1]))


def publish_events(
    conn: Connection, plan: PostingPlan, tx_id: str, before: LoanStatus | None = None
) -> None:
    """Publish the applied ``plan``'s monitoring events to the outbox on ``conn`` (the posting's
    own transaction: they commit or roll back with it; see :mod:`.outbox`); ``before`` is the
    loan's bucket before the posting, when the plan sets it. The person and what is still due
    are read now, right after the posting's own writes."""
    driver = book.DriverValues(conn)
    sql = _PERSON_AND_DUE_SQL if driver.sqlite else _PERSON_AND_DUE_SQL.replace("?", "%s")
    params = (plan.loan_id, False, driver.day(plan.business_date), plan.loan_id)
    # On the driver's own cursor: SQLAlchemy's execution costs more than this small read.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    finally:
        cursor.close()
    if found is None or not found[0]:
        return
    at = datetime.now(UTC)
    emit(conn, posting_events(plan, tx_id, str(found[0]), int(found[1]), at, before), tx_id)


def by_key(conn: Connection, key: str) -> RowMapping | None:
    """The posting stored under idempotency key ``key``, if any."""
    return conn.execute(BY_KEY, {"key": key}).mappings().first()


def loan_of_transaction(conn: Connection, tx_id: str) -> str | None:
    found = conn.execute(_LOAN_OF_TRANSACTION, {"tx_id": tx_id}).first()
    return None if found is None else str(found[0])


def transaction(conn: Connection, tx_id: str) -> PostedTransaction | None:
    """A posted transaction with its journal lines, for a reversal."""
    row = conn.execute(_TRANSACTION, {"tx_id": tx_id}).mappings().first()
    if row is None:
        return None
    lines = [(str(a), int(d), int(c)) for a, d, c in conn.execute(_LINES_OF, {"tx_id": tx_id})]
    return PostedTransaction(
        id=row["id"],
        loan_id=row["loan_id"],
        kind=row["kind"],
        business_date=row["business_date"],
        amount_fen=int(row["amount_fen"]),
        created_at=row["created_at"],
        detail=row["detail"],
        reversed_by=row["reversed_by"],
        lines=tuple(lines),
    )


def later_payment(conn: Connection, loan_id: str, tx: PostedTransaction) -> str | None:
    """A repayment or prepayment of the loan posted after ``tx`` and not reversed, if any."""
    params = {"loan_id": loan_id, "tx_id": tx.id, "created_at": tx.created_at}
    found = conn.execute(_LATER_PAYMENT, params).scalar()
    return None if found is None else str(found)


def first_run_since(conn: Connection, at: datetime) -> date | None:
    """The business date of the first completed end of day started at or after ``at``."""
    found: date | None = conn.execute(_FIRST_RUN_SINCE, {"at": at}).scalar()
    return found
