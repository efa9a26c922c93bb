"""The end of day's scoring labels in the database: which loans may still get one, and the
``loan_outcomes`` rows with the ``ingest_batches`` row per date they hang from.

Decided by :mod:`creditgraph.servicing.core.day_labels`; every function here takes an open
``Connection`` inside a transaction and never commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from creditgraph.audit import outbox as audit_outbox
from creditgraph.servicing.book import LOANS, now
from creditgraph.servicing.core.day_labels import Label, LabelFacts, window_starts
from creditgraph.servicing.lifecycle import LoanState
from creditgraph.store.models import IngestBatch, LoanOutcome, Person, table_of

OUTCOMES = table_of(LoanOutcome)
PERSONS = table_of(Person)
BATCHES = table_of(IngestBatch)


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


# --- writing ---------------------------------------------------------------------------------------


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
    audit_outbox.record(conn, "ingest_batch", batch_id)
