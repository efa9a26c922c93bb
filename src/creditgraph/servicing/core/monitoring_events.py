"""Servicing's own monitoring events (event contract v1), from what a posting or a day already
decided: a repayment posted, an instalment missed, a DPD bucket changed, a loan written off.

The book publishes them to the outbox in the same transaction as the posting or the end-of-day
chunk, so an event exists if and only if what it reports does. Ids are deterministic, made from
what the event is about, so the same fact always carries the same ``event_id`` and a consumer
keyed by it applies it once however often it is delivered:

- ``repaid:<transaction id>``: the posting (one repayment or prepayment posting, one event);
- ``bucket:<transaction id>``: a posting that moved the loan's bucket (a cure, a reversal);
- ``missed:<loan id>:<instalment row id>``: a row's due date passes once;
- ``bucket:<loan id>:<YYYYMMDD>``: at most one bucket change per loan per business day;
- ``writeoff:<loan id>``: a loan is written off once.

An id longer than the outbox's 64 characters (never with the book's 40-character ids) becomes
its kind and a SHA-256 of the rest.

Servicing sits below monitoring, so the contract's type and field names are spelled here as
text; a test checks every event built here against ``monitoring.validate``. The person is the
loan's pseudonym as stored: servicing's events never pass the door. Money goes out as decimal
yuan text, as the contract reads it.

Pure: no database, no clock (the caller passes the instants).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from creditgraph.servicing.core.day import EodPlan, OpenRows, day_number
from creditgraph.servicing.core.plan import PostingPlan, TransactionKind
from creditgraph.servicing.delinquency import BUCKETS, bucket_index

SOURCE = "servicing"
VERSION = 1
EVENT_ID_LIMIT = 64
"""The outbox's ``event_id`` column."""

REPAYMENT_POSTED = "repayment_posted"
INSTALMENT_MISSED = "instalment_missed"
DPD_BUCKET_CHANGED = "dpd_bucket_changed"
LOAN_WRITTEN_OFF = "loan_written_off"
EVENT_TYPES = (REPAYMENT_POSTED, INSTALMENT_MISSED, DPD_BUCKET_CHANGED, LOAN_WRITTEN_OFF)

PAYMENT_KINDS = frozenset({TransactionKind.REPAYMENT, TransactionKind.PREPAYMENT})
"""Postings reported as ``repayment_posted``: money from the borrower (a channel's cash or
their credit) applied to the loan. Disbursements, reversals and refunds have no event type."""

Event = dict[str, Any]


def yuan(fen: int) -> str:
    """Fen as the contract's decimal yuan text (``1250`` -> ``"12.50"``), in integer arithmetic
    (exact, and several times cheaper than a ``Decimal`` on every repayment)."""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


def instant(at: datetime) -> str:
    """An aware instant as ISO 8601 with its offset."""
    if at.tzinfo is None:
        raise ValueError("an event's instant must be timezone-aware")
    return at.isoformat()


def day_closed_at(day: date, zone: ZoneInfo, now: datetime) -> datetime:
    """When business day ``day`` closed: midnight after it in the lender's zone, or ``now`` if
    that is still ahead (an end of day run early, or a simulated date), so no event is dated
    after it was written."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    closed = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return closed if closed <= now else now.astimezone(zone)


SERVICING_ID_KINDS = ("repaid", "bucket", "missed", "writeoff")
"""The first part of every id servicing gives its events; the intake refuses outside ids that
begin like them, so no sender can make the monitor take a write-off for a duplicate."""


def event_id(kind: str, *parts: object) -> str:
    """``<kind>:<part>:...``, or ``<kind>:<sha256 of the parts>`` if that is too long."""
    text = ":".join((kind, *(str(p) for p in parts)))
    if len(text) <= EVENT_ID_LIMIT:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{kind}:{digest[: EVENT_ID_LIMIT - len(kind) - 1]}"


def _event(kind: str, ident: str, person_id: str, at: str, fields: Mapping[str, object]) -> Event:
    return {
        "event_id": ident,
        "type": kind,
        "person_id": person_id,
        "occurred_at": at,
        "source": SOURCE,
        "version": VERSION,
        **fields,
    }


# --- postings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoanStatus:
    """The loan's bucket and days past due before a posting changed them."""

    bucket: str
    dpd: int


def moves_bucket(plan: PostingPlan) -> bool:
    """Whether ``plan`` sets the loan's bucket (a cure, a close, a reversal putting it back):
    the book then reads the bucket before the posting, and only then."""
    return "bucket" in plan.loan_values


def posting_emits(plan: PostingPlan) -> bool:
    """Whether applying ``plan`` may report an event (the book then reads the person and what
    is still due, and only then)."""
    return (plan.kind in PAYMENT_KINDS and plan.amount_fen > 0) or moves_bucket(plan)


def posting_events(
    plan: PostingPlan,
    transaction_id: str,
    person_id: str,
    remaining_due_fen: int,
    at: datetime,
    before: LoanStatus | None = None,
) -> list[Event]:
    """The events of one applied posting, in order: ``repayment_posted`` for a repayment or
    prepayment, then ``dpd_bucket_changed`` when the posting moved the loan's bucket (a payment
    that cures or closes an overdue loan, a reversal that puts it back); the end of day reports
    only the moves it makes itself, so without this the loan would stay in its old bucket for
    monitoring.

    ``remaining_due_fen`` is what the loan's current instalments due on or before the posting's
    business date still owe after it (penalty included), ``before`` the loan's bucket and DPD
    before it, both as the book reads them in the posting's transaction.
    """
    out: list[Event] = []
    when = instant(at)
    if plan.kind in PAYMENT_KINDS and plan.amount_fen > 0:
        out.append(
            _event(
                REPAYMENT_POSTED,
                event_id("repaid", transaction_id),
                person_id,
                when,
                {
                    "loan_id": plan.loan_id,
                    "posting_id": transaction_id,
                    "amount": yuan(plan.amount_fen),
                    "remaining_due": yuan(max(remaining_due_fen, 0)),
                },
            )
        )
    after = str(plan.loan_values.get("bucket", ""))
    if before is not None and after and after != before.bucket:
        out.append(
            _event(
                DPD_BUCKET_CHANGED,
                event_id("bucket", transaction_id),
                person_id,
                when,
                {
                    "loan_id": plan.loan_id,
                    "from_bucket": before.bucket,
                    "to_bucket": after,
                    "dpd": int(plan.loan_values.get("dpd", before.dpd)),
                },
            )
        )
    return out


# --- the end of day ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MissedInstalment:
    """A row whose due date passed yesterday without it being paid in full (fen)."""

    row_id: int
    loan: int
    """Its loan's position in the chunk."""
    due_date: date
    amount_due_fen: int
    amount_paid_fen: int


def missed_instalments(day: date, rows: OpenRows) -> list[MissedInstalment]:
    """Rows that fall past due on ``day``: due the day before and not paid in full.

    The end of day runs every business day in order, and a row is past due once its due date
    is behind the day, so each missed row is found exactly once, on the day after its due date.
    What counts is the scheduled principal, interest and fee, and what had been paid of them by
    then (the borrower's credit already applied by the day's sweep).
    """
    r = rows.rows
    if r.size == 0:
        return []
    due = r.principal_due + r.interest_due + r.fee_due
    paid = r.principal_paid + r.interest_paid + r.fee_paid
    hit = np.flatnonzero((r.due_date == day_number(day) - 1) & (paid < due) & (due > 0))
    due_on = day - timedelta(days=1)
    return [
        MissedInstalment(int(row_id), int(loan), due_on, int(d), int(p))
        for row_id, loan, d, p in zip(
            rows.ids[hit].tolist(),
            r.loan[hit].tolist(),
            due[hit].tolist(),
            paid[hit].tolist(),
            strict=True,
        )
    ]


def bucket_changes(plan: EodPlan) -> list[tuple[int, int]]:
    """The chunk's loans whose DPD bucket changes today: (position, bucket index before)."""
    day = plan.day
    if day.changed.size == 0:
        return []
    before = bucket_index(day.loans.dpd[day.changed])
    moved = before != day.bucket[day.changed]
    return list(zip(day.changed[moved].tolist(), before[moved].tolist(), strict=True))


def day_event_loans(plan: EodPlan, missed: Sequence[MissedInstalment]) -> list[str]:
    """The loans the day reports an event about (the book reads their people), in chunk order."""
    ids = plan.day.loans.ids
    positions = {m.loan for m in missed} | {k for k, _ in bucket_changes(plan)}
    written = {w.loan_id for w in plan.write_offs}
    return [ids[k] for k in sorted(positions)] + sorted(written - {ids[k] for k in positions})


def day_events(
    plan: EodPlan,
    missed: Sequence[MissedInstalment],
    numbers: Mapping[int, int],
    persons: Mapping[str, str],
    at: datetime,
) -> list[Event]:
    """The chunk's events for the day, per loan in chunk order: its missed instalments (by due
    date), then its bucket change, then its write-off.

    ``numbers`` maps the missed rows' ids to their instalment numbers and ``persons`` the loans
    to their people's pseudonyms, both read by the book in the same transaction; what is
    missing from them reports nothing.
    """
    day = plan.day
    ids = day.loans.ids
    when = instant(at)
    stamp = f"{day.day:%Y%m%d}"
    per_loan: dict[str, list[Event]] = {}

    def add(loan_id: str, kind: str, ident: str, fields: Mapping[str, object]) -> None:
        person = persons.get(loan_id)
        if person:
            per_loan.setdefault(loan_id, []).append(_event(kind, ident, person, when, fields))

    for m in sorted(missed, key=lambda item: (item.loan, numbers.get(item.row_id, 0))):
        loan_id = ids[m.loan]
        if m.row_id not in numbers:
            continue
        add(
            loan_id,
            INSTALMENT_MISSED,
            event_id("missed", loan_id, m.row_id),
            {
                "loan_id": loan_id,
                "instalment": numbers[m.row_id],
                "due_date": m.due_date.isoformat(),
                "amount_due": yuan(m.amount_due_fen),
                "amount_paid": yuan(m.amount_paid_fen),
            },
        )
    for k, before in bucket_changes(plan):
        loan_id = ids[k]
        add(
            loan_id,
            DPD_BUCKET_CHANGED,
            event_id("bucket", loan_id, stamp),
            {
                "loan_id": loan_id,
                "from_bucket": BUCKETS[before].value,
                "to_bucket": day.bucket_of(k).value,
                "dpd": int(day.dpd[k]),
            },
        )
    for w in plan.write_offs:
        add(
            w.loan_id,
            LOAN_WRITTEN_OFF,
            event_id("writeoff", w.loan_id),
            {"loan_id": w.loan_id, "amount": yuan(w.total_fen)},
        )
    order = {loan_id: k for k, loan_id in enumerate(ids)}
    return [
        event
        for loan_id in sorted(per_loan, key=lambda item: order.get(item, len(order)))
        for event in per_loan[loan_id]
    ]
