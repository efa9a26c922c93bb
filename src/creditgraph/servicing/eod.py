"""The end-of-day job: borrower credit, accrual, overdue detection, DPD, buckets, penalty, NPA,
write-off, labels.

The service: it decides nothing itself. Each business date is processed in chunks of loans, one
write transaction per chunk (so repayments are never held up for the whole run). A chunk first
settles what falls due from the borrower credit of the few loans that hold any
(``credit_sweep``), then reads its loans and their open instalments as arrays
(``book.eod``), plans the day for all of them at once with the pure core
(``core.day.plan_day`` and ``complete_day``: accrual, DPD, buckets, penalty, NPA, state changes,
write-offs, default labels) and writes the plan back in bulk (``book.eod.write_plan``). Each loan
carries ``accrued_through``, so a chunk that committed is never processed again, and ``eod_runs``
marks a date complete: a second run for the same date changes nothing. Dates skipped since the
last run are processed one by one, in order.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from creditgraph.servicing import credit_sweep
from creditgraph.servicing.book import closed_through
from creditgraph.servicing.book import eod as repository
from creditgraph.servicing.book import eod_labels as label_store
from creditgraph.servicing.book.eod import posting_id, write_transaction
from creditgraph.servicing.book.uow import Connection, Engine
from creditgraph.servicing.config import ServicingConfig
from creditgraph.servicing.config_file import load_servicing_config
from creditgraph.servicing.core.day import (
    EodPlan,
    complete_day,
    day_number,
    from_day_number,
    plan_day,
)
from creditgraph.servicing.core.day_labels import good_labels
from creditgraph.servicing.delinquency import DelinquencyRules

__all__ = [
    "CHUNK_LOANS",
    "DayResult",
    "EodError",
    "EodResult",
    "completed_through",
    "dates_to_process",
    "day_number",
    "from_day_number",
    "posting_id",
    "run_eod",
]

CHUNK_LOANS = 5_000
"""Loans per write transaction: small enough that a repayment waits well under a second."""

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
        if repository.completed_on(conn, business_date):
            return []
        first = repository.first_pending_day(conn, business_date)
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
    with write_transaction(engine) as conn:
        repository.mark_started(conn, day)
    with engine.connect() as conn:
        ids = repository.pending_loan_ids(conn, day)
    total = DayResult(day)
    label = f"end of day {day.isoformat()}"
    if progress is not None:
        progress(label, 0, len(ids))
    for start in range(0, len(ids), chunk_loans):
        chunk = ids[start : start + chunk_loans]
        with write_transaction(engine) as conn, repository.chunk_events(conn):
            total.add(_process_chunk(conn, day, chunk[0], chunk[-1], config, rules, zone))
        if progress is not None:
            progress(label, start + len(chunk), len(ids))
    with write_transaction(engine) as conn:
        candidates = label_store.good_label_candidates(conn, day, rules.outcome_months)
        goods = good_labels(day, candidates, rules, zone)
        label_store.insert_labels(conn, day, goods)
        total.goods_labelled += len(goods)
        label_store.finish_label_batch(conn, day)
        repository.mark_completed(conn, day, total.loans)
    total.seconds = clock.perf_counter() - started
    return total


def _process_chunk(
    conn: Connection,
    day: date,
    first: str,
    last: str,
    config: ServicingConfig,
    rules: DelinquencyRules,
    zone: ZoneInfo,
) -> DayResult:
    """One chunk's day in its own transaction: credit first, then read the chunk, plan its day
    (DPD, accrual, penalty, states, write-offs, default labels) and write the plan, all from what
    this transaction read."""
    result = DayResult(day)
    result.credit_loans, result.credit_applied_fen = credit_sweep.apply_credit(
        conn, day, first, last
    )
    loans = repository.read_loans(conn, day, first, last)
    if loans.size == 0:
        return result
    rows = repository.read_instalments(conn, day, first, last, loans)
    planned = plan_day(day, loans, rows, config.for_product)
    plan = complete_day(
        planned,
        repository.receivables(conn, planned.write_off_ids()),
        label_store.unlabelled_facts(conn, list(planned.default_candidates(rules))),
        rules,
        zone,
    )
    repository.write_plan(conn, plan, rows, zone)
    _count(result, plan)
    return result


def _count(result: DayResult, plan: EodPlan) -> None:
    day = plan.day
    result.loans = day.loans.size
    result.accrued_fen = day.accrual.total_fen
    result.penalty_fen = day.penalty.total_fen
    result.penalty_memo_fen = int(day.memo_fen.sum())
    result.fell_overdue = int(day.fell_overdue.sum())
    result.cured = int(day.cured.sum())
    result.became_npa = day.became_npa
    result.written_off = len(plan.write_offs)
    result.written_off_fen = plan.written_off_fen
    result.defaults_labelled = len(plan.default_labels)
