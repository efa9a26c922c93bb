"""The unit of work the servicing services use: one database transaction, the typed reads a
posting needs, and :meth:`UnitOfWork.apply` for the plan the core returned.

``with unit_of_work(engine) as uow:`` is one write transaction (committed when the block ends,
rolled back if it raises); ``with reading(engine) as uow:`` reads without writing. A write the
database refuses for a unique key comes out as :class:`WriteConflictError`, so services need
no database import to tell a retried key from a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Engine, RowMapping
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from creditgraph.servicing import book
from creditgraph.servicing.book import loans, postings
from creditgraph.servicing.core.plan import PostingPlan
from creditgraph.servicing.core.values import Instalment, LoanSnapshot, PostedTransaction
from creditgraph.store.db import write_transaction

T = TypeVar("T")

__all__ = [
    "Connection",
    "Engine",
    "UnitOfWork",
    "WriteConflictError",
    "reading",
    "unit_of_work",
]


class WriteConflictError(Exception):
    """The database refused a write for a unique key (an idempotency key or a channel
    reference already stored); nothing of the unit of work was written."""


class UnitOfWork:
    """The open transaction and the book's reads and writes on it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- loans ------------------------------------------------------------------------------

    def lock(self, loan_id: str) -> LoanSnapshot | None:
        return loans.lock(self.conn, loan_id)

    def lock_with_owing(self, loan_id: str) -> tuple[LoanSnapshot | None, list[Instalment]]:
        return loans.lock_with_owing(self.conn, loan_id)

    def current(self, loan_id: str) -> list[Instalment]:
        return loans.current(self.conn, loan_id)

    def owing(self, loan_id: str) -> list[Instalment]:
        return loans.owing(self.conn, loan_id)

    def due_by(self, loan_id: str, on: date) -> list[Instalment]:
        return loans.due_by(self.conn, loan_id, on)

    def current_and(self, loan_id: str, ids: list[int]) -> list[Instalment]:
        return loans.current_and(self.conn, loan_id, ids)

    def loan_row(self, loan_id: str) -> RowMapping | None:
        return loans.row(self.conn, loan_id)

    def loan(self, loan_id: str) -> LoanSnapshot | None:
        """The loan as stored, unlocked (for reads such as the ceiling)."""
        row = loans.row(self.conn, loan_id)
        return None if row is None else loans.snapshot(row)

    # ---- postings ---------------------------------------------------------------------------

    def apply(
        self,
        plan: PostingPlan,
        *,
        key: str | None = None,
        digest: str | None = None,
        hook: Callable[[str], None] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Write ``plan``; returns its transaction id and the detail as stored."""
        return postings.apply_plan(self.conn, plan, key=key, digest=digest, hook=hook)

    def new_transaction_id(self) -> str:
        return book.new_id("TX")

    def by_key(self, key: str) -> RowMapping | None:
        return postings.by_key(self.conn, key)

    def loan_of_transaction(self, tx_id: str) -> str | None:
        return postings.loan_of_transaction(self.conn, tx_id)

    def transaction(self, tx_id: str) -> PostedTransaction | None:
        return postings.transaction(self.conn, tx_id)

    def later_payment(self, loan_id: str, tx: PostedTransaction) -> str | None:
        return postings.later_payment(self.conn, loan_id, tx)

    def first_run_after(self, tx: PostedTransaction) -> date | None:
        return postings.first_run_since(self.conn, tx.created_at)

    # ---- savepoints -------------------------------------------------------------------------

    def attempt(self, work: Callable[[], T]) -> T:
        """Run ``work`` inside a savepoint of this transaction: if it raises, what it wrote is
        rolled back alone and the error is raised (a unique-key refusal as
        :class:`WriteConflictError`); the rest of the transaction carries on."""
        # A plain SAVEPOINT on the driver: SQLAlchemy's nested-transaction object costs more
        # than the statement, and this runs once per payment of a file.
        self.conn.exec_driver_sql("SAVEPOINT payment")
        try:
            result = work()
        except BaseException as exc:
            self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT payment")
            self.conn.exec_driver_sql("RELEASE SAVEPOINT payment")
            if isinstance(exc, IntegrityError):
                raise WriteConflictError(str(exc.orig)) from exc
            raise
        self.conn.exec_driver_sql("RELEASE SAVEPOINT payment")
        return result


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[UnitOfWork]:
    """One write transaction (see :func:`creditgraph.store.db.write_transaction`)."""
    try:
        with write_transaction(engine) as conn:
            yield UnitOfWork(conn)
    except IntegrityError as exc:
        raise WriteConflictError(str(exc.orig)) from exc


@contextmanager
def reading(engine: Engine) -> Iterator[UnitOfWork]:
    """A read-only connection with the same reads."""
    with engine.connect() as conn:
        yield UnitOfWork(conn)
