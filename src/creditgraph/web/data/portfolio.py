"""The portfolio as of a closed business day: balances and DPD buckets, portfolio at risk, vintage
curves and decision rates, read with SQLAlchemy Core (no HTML here).

The ``loans`` row holds only today's DPD and bucket, so a past day is rebuilt from the day-end
history the book already keeps:

- outstanding principal at the end of day ``D`` is the ``loans_receivable`` balance of the loan's
  journal lines dated on or before ``D`` (disbursement less principal repaid and written off);
- the bucket and DPD at the end of ``D`` come from the loan's last ``dpd_bucket_changed`` event
  on or before ``D`` (the end of day publishes one per change, a cure or reversal posting one
  too): DPD is the event's DPD plus the days since, capped at the bucket's last day (servicing's
  ``BUCKET_UPPER_DPD``: a payment that lowers the DPD inside a bucket publishes nothing, so the
  aged figure can only be too high, never past the bucket the loan is known to be in), or 0 once
  the loan is back in M0;
- the latest closed day reads what the end of day itself left on the ``loans`` row (``dpd`` and
  ``bucket``, exact) for every loan with nothing dated after that day (no journal line of an
  open-day posting or of a later end of day already begun, ``accrued_through`` not past it);
  only the others are rebuilt as above.

Portfolio at risk follows the buckets' edges: PAR1 is the outstanding principal of loans 1 or
more days past due (M1 and worse), PAR30 of loans more than 30 days past due (M2 and worse),
PAR90 of loans more than 90 (M3+), each over all outstanding principal. A vintage's loan counts
as "30+" from the first end of day it was more than 30 days past due (its first move into M2 or
worse, exact from the events).

A closed day's books never change (postings are dated in the open day), so the per-loan history
of a day is read once per (day, last closed day) and kept; each request then narrows the loans by
its filters in SQL and sums a few thousand cached figures.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from creditgraph.servicing.accounts import Account
from creditgraph.servicing.calendar import add_months
from creditgraph.servicing.delinquency import BUCKET_UPPER_DPD
from creditgraph.servicing.delinquency import BUCKETS as SERVICING_BUCKETS
from creditgraph.servicing.lifecycle import SERVICED
from creditgraph.store.models import (
    DecisionRecord,
    EodRun,
    EventOutbox,
    JournalLine,
    Loan,
    LoanInstalment,
    LoanTransaction,
    Person,
    table_of,
)

LOANS = table_of(Loan)
PERSONS = table_of(Person)
DECISIONS = table_of(DecisionRecord)
JOURNAL = table_of(JournalLine)
OUTBOX = table_of(EventOutbox)
TRANSACTIONS = table_of(LoanTransaction)
INSTALMENTS = table_of(LoanInstalment)
EOD_RUNS = table_of(EodRun)

BUCKETS: tuple[str, ...] = tuple(b.value for b in SERVICING_BUCKETS)
"""M0 (current), M1 (1-30), M2 (31-60), M3 (61-90), M3+ (over 90)."""
BUCKET_CAP: dict[str, int] = dict(zip(BUCKETS, BUCKET_UPPER_DPD, strict=False))
"""The last DPD of each bucket but M3+ (servicing's edges): an aged DPD never passes it."""
PAR_OVER: tuple[tuple[int, int], ...] = (
    (1, BUCKET_UPPER_DPD[0]),
    (30, BUCKET_UPPER_DPD[1]),
    (90, BUCKET_UPPER_DPD[3]),
)
"""(PAR's name, the DPD a loan must be over to count): PAR1 > 0 (M1+), PAR30 > 30 (M2+),
PAR90 > 90 (M3+), on the buckets' own edges."""
PAR_THRESHOLDS = tuple(name for name, _ in PAR_OVER)
LATE_AFTER = BUCKET_UPPER_DPD[1]
"""A vintage's loan is late once more than this many days past due (M2 or worse)."""
OUTCOMES = ("approve", "refer", "decline")
PAGE_SIZE = 50
UNKNOWN = "unknown"
"""The segment and region of a loan whose person is no longer stored (erased)."""

_EVENT_TYPE = "dpd_bucket_changed"
_UP_TO: dict[int, tuple[str, ...]] = {
    cap: tuple(b for b, c in BUCKET_CAP.items() if c <= cap) for cap in BUCKET_UPPER_DPD
}
"""For each bucket edge, the buckets whose DPD never passes it."""
SERVICED_STATES = tuple(sorted(state.value for state in SERVICED))
_CACHE_LIMIT = 64
_lock = threading.RLock()


class BadFilter(ValueError):
    """A filter value that cannot be read (a malformed date, an as-of after the last close)."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"{name}={value}")
        self.name = name
        self.value = value


# --- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    """What the analyst asked for: the as-of day and the loans' product, segment, region and
    origination range (disbursement for loans, the decision's date for decisions)."""

    as_of: date
    product: str | None = None
    segment: str | None = None
    region: str | None = None
    start: date | None = None
    end: date | None = None

    def params(self, **extra: str | int | None) -> dict[str, str]:
        values: dict[str, str | int | None] = {
            "as_of": self.as_of.isoformat(),
            "product": self.product,
            "segment": self.segment,
            "region": self.region,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            **extra,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def query(self, **extra: str | int | None) -> str:
        """The filters as a URL query string (for links that keep them)."""
        return urlencode(self.params(**extra))


@dataclass(frozen=True, slots=True)
class Options:
    """The values each filter offers, read from the book."""

    products: tuple[str, ...]
    segments: tuple[str, ...]
    regions: tuple[str, ...]


def _day(name: str, raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadFilter(name, text[:40]) from None


def parse_filters(params: Mapping[str, str], latest: date | None, options: Options) -> Filters:
    """The filters of a request; a malformed date raises :class:`BadFilter`, an unknown product,
    segment or region is dropped (the filter resets to all)."""
    as_of = _day("as_of", params.get("as_of"))
    start = _day("from", params.get("from"))
    end = _day("to", params.get("to"))
    if latest is None:
        latest = as_of or date.today()
    if as_of is None:
        as_of = latest
    elif as_of > latest:
        raise BadFilter("as_of", as_of.isoformat())
    if start and end and start > end:
        raise BadFilter("from", f"{start.isoformat()} > {end.isoformat()}")

    def known(name: str, allowed: tuple[str, ...]) -> str | None:
        value = (params.get(name) or "").strip()
        return value if value in allowed else None

    return Filters(
        as_of=as_of,
        product=known("product", options.products),
        segment=known("segment", options.segments),
        region=known("region", options.regions),
        start=start,
        end=end,
    )


def latest_closed(conn: Connection) -> date | None:
    """The last business day whose end of day completed (the default as-of)."""
    value = conn.execute(
        select(func.max(EOD_RUNS.c.business_date)).where(EOD_RUNS.c.status == "completed")
    ).scalar()
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value


def options(conn: Connection) -> Options:
    products = {str(p) for (p,) in conn.execute(select(LOANS.c.product_code).distinct())}
    products |= {str(p) for (p,) in conn.execute(select(DECISIONS.c.product_code).distinct())}
    segments = {str(s) for (s,) in conn.execute(select(PERSONS.c.segment).distinct())}
    regions = {str(r) for (r,) in conn.execute(select(PERSONS.c.region_tier).distinct())}
    return Options(tuple(sorted(products)), tuple(sorted(segments)), tuple(sorted(regions)))


# --- the day-end history, per loan (cached per closed day) --------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """A bucket change at the end of ``day``: the loan's bucket and DPD from then on."""

    day: date
    order: int
    """0 for a posting's change, 1 for the end of day's (a day's postings come before its close)."""
    bucket: str
    dpd: int


@dataclass(frozen=True, slots=True)
class History:
    """Every loan's bucket changes, in order, and the first day each was more than 30 days
    past due (``reached_30``)."""

    moves: dict[str, list[Move]]
    reached_30: dict[str, date]


def _as_date(value: Any) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _first_past(moves: list[Move], over: int) -> date | None:
    """The first end of day at which the DPD was more than ``over``, a bucket edge: the first
    move into a bucket beyond it (the end of day publishes the move the day the edge is
    crossed, so the date is exact; ageing an earlier event could pass a payment by)."""
    for move in moves:
        if move.bucket != BUCKETS[0] and move.bucket not in _UP_TO.get(over, ()):
            return move.day
    return None


def _bucket_ids(conn: Connection) -> ColumnElement[bool]:
    """Event ids beginning ``bucket:``: an index range where text compares byte by byte
    (SQLite), a prefix match elsewhere (a locale collation may sort the range's ``;`` apart)."""
    if conn.dialect.name == "sqlite":
        return and_(OUTBOX.c.event_id >= "bucket:", OUTBOX.c.event_id < "bucket;")
    return OUTBOX.c.event_id.startswith("bucket:", autoescape=True)


def read_history(conn: Connection) -> History:
    """The bucket changes of every loan, from the outbox's day-end and posting events (an
    index range on the event id; a posting's change is dated by its transaction)."""
    rows = conn.execute(
        select(OUTBOX.c.event_id, OUTBOX.c.payload, TRANSACTIONS.c.business_date)
        .select_from(
            OUTBOX.outerjoin(TRANSACTIONS, TRANSACTIONS.c.id == func.substr(OUTBOX.c.event_id, 8))
        )
        .where(_bucket_ids(conn), OUTBOX.c.type == _EVENT_TYPE)
    ).all()
    moves: dict[str, list[Move]] = defaultdict(list)
    for event_id, payload, posted_on in rows:
        parts = str(event_id).split(":")
        if posted_on is not None:
            day, order = _as_date(posted_on), 0
        elif len(parts) == 3 and len(parts[2]) == 8 and parts[2].isdigit():
            stamp = parts[2]
            day, order = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:])), 1
        else:
            continue  # a hashed id: neither a day-end nor a posting of this book
        moves[str(payload["loan_id"])].append(
            Move(day, order, str(payload["to_bucket"]), int(payload.get("dpd") or 0))
        )
    reached: dict[str, date] = {}
    for loan_id, changes in moves.items():
        changes.sort(key=lambda m: (m.day, m.order))
        first = _first_past(changes, LATE_AFTER)
        if first is not None:
            reached[loan_id] = first
    return History(dict(moves), reached)


def status_at(moves: list[Move] | None, day: date) -> tuple[str, int]:
    """(bucket, DPD) at the end of ``day``: the last change on or before it, aged by the days
    since but never past the bucket's last day (0 and M0 without one). Without a move the loan
    stayed in its bucket, so a DPD past the bucket's edge would contradict the bucket."""
    last: Move | None = None
    for move in moves or ():
        if move.day > day:
            break
        last = move
    if last is None or last.bucket == BUCKETS[0]:
        return BUCKETS[0], 0
    aged = last.dpd + (day - last.day).days
    cap = BUCKET_CAP.get(last.bucket)
    return last.bucket, aged if cap is None else min(aged, cap)


def posted_after(conn: Connection, day: date) -> set[str]:
    """Loans with a journal line dated after ``day``: an open-day posting, or a later end of
    day already begun (an index range on the lines' business date)."""
    rows = conn.execute(
        select(JOURNAL.c.loan_id).where(
            JOURNAL.c.business_date > day, JOURNAL.c.loan_id.is_not(None)
        )
    ).scalars()
    return {str(loan_id) for loan_id in rows}


def closed_statuses(conn: Connection, day: date) -> dict[str, tuple[str, int]]:
    """(bucket, DPD) the ``loans`` row holds for each loan whose row the end of ``day`` wrote
    last: ``day`` must be the latest closed day, and nothing may be dated after it for the loan
    (a posting since, or a later end of day's chunk, would have moved the row on)."""
    later = posted_after(conn, day)
    rows = conn.execute(
        select(LOANS.c.id, LOANS.c.bucket, LOANS.c.dpd).where(
            or_(LOANS.c.accrued_through.is_(None), LOANS.c.accrued_through <= day)
        )
    ).all()
    return {
        str(loan_id): (str(bucket), int(dpd or 0))
        for loan_id, bucket, dpd in rows
        if str(loan_id) not in later
    }


def _receivable_after(conn: Connection, day: date) -> dict[str, int]:
    """Principal each loan's journal took off ``loans_receivable`` after ``day``: the few lines
    of an index range on the business date, summed here (grouped in SQL, SQLite walks the whole
    journal by its loan index instead)."""
    rows = conn.execute(
        select(JOURNAL.c.loan_id, JOURNAL.c.credit_fen - JOURNAL.c.debit_fen).where(
            JOURNAL.c.business_date > day, JOURNAL.c.account == Account.LOANS_RECEIVABLE.value
        )
    ).all()
    moved: dict[str, int] = defaultdict(int)
    for loan_id, fen in rows:
        moved[str(loan_id)] += int(fen)
    return dict(moved)


def outstanding_at(
    conn: Connection,
    day: date,
    latest: date | None = None,
    only: Collection[str] | None = None,
) -> dict[str, int]:
    """Outstanding principal (fen) of each loan at the end of ``day``; loans with nothing
    outstanding are left out.

    A past day sums the loan's ``loans_receivable`` lines dated on or before it. The last
    closed day, the default, is read faster and to the same figures: what the serviced loans'
    current instalments still owe in principal, plus what the open day's postings repaid.
    ``only`` narrows the last closed day to those loans (a few late ones, by their index).
    """
    if day != latest:
        balance = func.sum(JOURNAL.c.debit_fen - JOURNAL.c.credit_fen)
        rows = conn.execute(
            select(JOURNAL.c.loan_id, balance)
            .where(
                JOURNAL.c.account == Account.LOANS_RECEIVABLE.value,
                JOURNAL.c.business_date <= day,
            )
            .group_by(JOURNAL.c.loan_id)
            .having(balance != 0)
        ).all()
        return {str(loan_id): int(fen) for loan_id, fen in rows}
    owed = func.sum(INSTALMENTS.c.principal_due_fen - INSTALMENTS.c.principal_paid_fen)
    where: list[ColumnElement[bool]] = [
        INSTALMENTS.c.superseded.is_(False),
        LOANS.c.state.in_(SERVICED_STATES),
    ]
    if only is not None:
        where.append(INSTALMENTS.c.loan_id.in_(sorted(only)))
    now = {
        str(loan_id): int(fen or 0)
        for loan_id, fen in conn.execute(
            select(INSTALMENTS.c.loan_id, owed)
            .select_from(INSTALMENTS.join(LOANS, LOANS.c.id == INSTALMENTS.c.loan_id))
            .where(*where)
            .group_by(INSTALMENTS.c.loan_id)
        )
    }
    for loan_id, fen in _receivable_after(conn, day).items():
        if only is None or loan_id in only:
            now[loan_id] = now.get(loan_id, 0) + fen
    return {loan_id: fen for loan_id, fen in now.items() if fen != 0}


@dataclass(frozen=True, slots=True)
class DayState:
    """Each loan's (outstanding fen, DPD, bucket) at the end of one day."""

    loans: dict[str, tuple[int, int, str]]


def _cached(cache: dict[str, Any], key: str, build: Any) -> Any:
    found = cache.get(key)
    if found is not None:
        return found
    with _lock:
        found = cache.get(key)
        if found is None:
            found = build()
            mine = [k for k in cache if k.startswith("portfolio.")]
            if len(mine) >= _CACHE_LIMIT:
                for old in mine[: _CACHE_LIMIT // 2]:  # the oldest half (dicts keep order)
                    cache.pop(old, None)
            cache[key] = found
    return found


def history(conn: Connection, cache: dict[str, Any], latest: date | None) -> History:
    built: History = _cached(cache, f"portfolio.history.{latest}", lambda: read_history(conn))
    return built


def cached_options(conn: Connection, cache: dict[str, Any], latest: date | None) -> Options:
    """The filters' values, read again once a day closes (new products and segments are rare;
    a day's new one shows from the next close)."""
    built: Options = _cached(cache, f"portfolio.options.{latest}", lambda: options(conn))
    return built


def day_state(conn: Connection, cache: dict[str, Any], latest: date | None, day: date) -> DayState:
    """Each outstanding loan's figures at the end of ``day``: the end of day's own DPD and
    bucket on the latest closed day where the loans row still holds them, else rebuilt."""

    def build() -> DayState:
        moves = history(conn, cache, latest).moves
        kept = closed_statuses(conn, day) if day == latest else {}
        state: dict[str, tuple[int, int, str]] = {}
        for loan_id, fen in outstanding_at(conn, day, latest).items():
            found = kept.get(loan_id)
            bucket, dpd = found if found is not None else status_at(moves.get(loan_id), day)
            state[loan_id] = (fen, dpd, bucket)
        return DayState(state)

    built: DayState = _cached(cache, f"portfolio.day.{latest}.{day}", build)
    return built


# --- the filtered loans -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoanRow:
    id: str
    person_id: str
    product: str
    principal_fen: int
    all_in_rate: str | None
    disbursed_on: date
    segment: str
    region: str


def _loan_filters(f: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        LOANS.c.disbursed_on.is_not(None),
        LOANS.c.disbursed_on <= f.as_of,
    ]
    if f.product:
        where.append(LOANS.c.product_code == f.product)
    if f.segment:
        where.append(PERSONS.c.segment == f.segment)
    if f.region:
        where.append(PERSONS.c.region_tier == f.region)
    if f.start:
        where.append(LOANS.c.disbursed_on >= f.start)
    if f.end:
        where.append(LOANS.c.disbursed_on <= f.end)
    return where


def filtered_loans(conn: Connection, f: Filters) -> list[LoanRow]:
    """The loans disbursed by the as-of day that the filters keep, in one query."""
    rows = conn.execute(
        select(
            LOANS.c.id,
            LOANS.c.person_id,
            LOANS.c.product_code,
            LOANS.c.principal_fen,
            LOANS.c.all_in_rate,
            LOANS.c.disbursed_on,
            PERSONS.c.segment,
            PERSONS.c.region_tier,
        )
        .select_from(LOANS.outerjoin(PERSONS, PERSONS.c.person_id == LOANS.c.person_id))
        .where(and_(*_loan_filters(f)))
    ).all()
    return [
        LoanRow(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            int(r[3]),
            r[4],
            _as_date(r[5]),
            str(r[6] or UNKNOWN),
            str(r[7] or UNKNOWN),
        )
        for r in rows
    ]


# --- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketLine:
    bucket: str
    loans: int
    outstanding_fen: int
    share: Decimal | None


@dataclass(frozen=True, slots=True)
class Par:
    threshold: int
    """The PAR's name: 1, 30 or 90."""
    over: int
    """A loan counts when its DPD is more than this (0, 30, 90)."""
    outstanding_fen: int
    ratio: Decimal | None


@dataclass(frozen=True, slots=True)
class Buckets:
    lines: list[BucketLine]
    total_loans: int
    total_fen: int
    par: list[Par]


def _ratio(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else Decimal(part) / Decimal(whole)


def buckets(loans: Iterable[LoanRow], state: DayState) -> Buckets:
    """Counts and outstanding principal by bucket, and PAR1/30/90: principal of loans more than
    0, 30 or 90 days past due (M1+, M2+, M3+) over all outstanding principal."""
    count = dict.fromkeys(BUCKETS, 0)
    fen = dict.fromkeys(BUCKETS, 0)
    par = dict.fromkeys(PAR_THRESHOLDS, 0)
    for loan in loans:
        found = state.loans.get(loan.id)
        if found is None:
            continue
        outstanding, dpd, bucket = found
        count[bucket] += 1
        fen[bucket] += outstanding
        for name, over in PAR_OVER:
            if dpd > over:
                par[name] += outstanding
    total = sum(fen.values())
    return Buckets(
        [BucketLine(b, count[b], fen[b], _ratio(fen[b], total)) for b in BUCKETS],
        sum(count.values()),
        total,
        [Par(k, over, par[k], _ratio(par[k], total)) for k, over in PAR_OVER],
    )


@dataclass(frozen=True, slots=True)
class BucketLoan:
    id: str
    person_id: str
    product: str
    disbursed_on: date
    outstanding_fen: int
    dpd: int
    bucket: str


def bucket_loans(loans: Iterable[LoanRow], state: DayState, bucket: str) -> list[BucketLoan]:
    """The loans in ``bucket`` at the as-of day, latest first by DPD then balance."""
    found = []
    for loan in loans:
        got = state.loans.get(loan.id)
        if got is not None and got[2] == bucket:
            found.append(
                BucketLoan(
                    loan.id, loan.person_id, loan.product, loan.disbursed_on, got[0], got[1], got[2]
                )
            )
    found.sort(key=lambda x: (-x.dpd, -x.outstanding_fen, x.id))
    return found


@dataclass(frozen=True, slots=True)
class Vintage:
    """One origination month: its disbursed principal and the cumulative share of it that had
    been more than 30 days past due by each month on book (1, 2, ...) fully observed by the
    as-of day."""

    month: str
    loans: int
    disbursed_fen: int
    shares: list[Decimal]


def vintages(
    loans: Iterable[LoanRow], reached_30: Mapping[str, date], as_of: date
) -> list[Vintage]:
    groups: dict[str, list[LoanRow]] = defaultdict(list)
    for loan in loans:
        groups[f"{loan.disbursed_on:%Y-%m}"].append(loan)
    out = []
    for month in sorted(groups):
        members = groups[month]
        disbursed = sum(m.principal_fen for m in members)
        last = max(m.disbursed_on for m in members)
        observed = 0  # the months on book every loan of the vintage has completed
        while add_months(last, observed + 1) <= as_of:
            observed += 1
        late_by = [0] * (observed + 1)  # principal first 30+ in month on book k
        for m in members:
            reached = reached_30.get(m.id)
            if reached is None:
                continue
            k = 1
            while k <= observed and reached > add_months(m.disbursed_on, k):
                k += 1
            if k <= observed:
                late_by[k] += m.principal_fen
        shares: list[Decimal] = []
        running = 0
        for k in range(1, observed + 1):
            running += late_by[k]
            shares.append(Decimal(running) / Decimal(disbursed) if disbursed else Decimal(0))
        out.append(Vintage(month, len(members), disbursed, shares))
    return out


@dataclass(frozen=True, slots=True)
class DecisionLine:
    """Decisions of one segment and product: counts by outcome, the approval rate, the mean
    approved limit, and the principal-weighted all-in rate of the loans disbursed."""

    segment: str
    product: str
    counts: dict[str, int]
    total: int
    approval_rate: Decimal | None
    mean_limit_fen: int | None
    all_in_rate: Decimal | None


def decision_lines(conn: Connection, f: Filters, loans: Iterable[LoanRow]) -> list[DecisionLine]:
    """Decisions made by the as-of day (within the origination range), by segment and product,
    aggregated in SQL; the all-in rate from the filtered loans (exact decimals)."""
    segment = func.coalesce(PERSONS.c.segment, UNKNOWN)
    where: list[ColumnElement[bool]] = [DECISIONS.c.as_of <= f.as_of]
    if f.product:
        where.append(DECISIONS.c.product_code == f.product)
    if f.segment:
        where.append(PERSONS.c.segment == f.segment)
    if f.region:
        where.append(PERSONS.c.region_tier == f.region)
    if f.start:
        where.append(DECISIONS.c.as_of >= f.start)
    if f.end:
        where.append(DECISIONS.c.as_of <= f.end)
    rows = conn.execute(
        select(
            segment,
            DECISIONS.c.product_code,
            DECISIONS.c.outcome,
            func.count(),
            func.sum(DECISIONS.c.limit_fen),
        )
        .select_from(DECISIONS.outerjoin(PERSONS, PERSONS.c.person_id == DECISIONS.c.person_id))
        .where(and_(*where))
        .group_by(segment, DECISIONS.c.product_code, DECISIONS.c.outcome)
    ).all()
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    limits: dict[tuple[str, str], int] = defaultdict(int)
    for seg, product, outcome, n, limit_sum in rows:
        key = (str(seg), str(product))
        counts[key][str(outcome)] = counts[key].get(str(outcome), 0) + int(n)
        if outcome == "approve":
            limits[key] += int(limit_sum or 0)
    weighted: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    principal: dict[tuple[str, str], int] = defaultdict(int)
    for loan in loans:
        if loan.all_in_rate:
            key = (loan.segment, loan.product)
            weighted[key] += Decimal(loan.all_in_rate) * loan.principal_fen
            principal[key] += loan.principal_fen
    lines = []
    for key in sorted(set(counts) | set(principal)):
        by = counts.get(key, dict.fromkeys(OUTCOMES, 0))
        total = sum(by.values())
        approved = by.get("approve", 0)
        lines.append(
            DecisionLine(
                key[0],
                key[1],
                by,
                total,
                _ratio(approved, total),
                (limits[key] // approved) if approved else None,
                (weighted[key] / principal[key]) if principal.get(key) else None,
            )
        )
    return lines


# --- the page's read model ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Portfolio:
    filters: Filters
    latest: date | None
    buckets: Buckets
    vintages: list[Vintage]
    decisions: list[DecisionLine]
    options: Options = field(default_factory=lambda: Options((), (), ()))


def yuan(fen: int) -> str:
    """Integer fen as exact yuan text with two decimals (``-1250`` -> ``"-12.50"``)."""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"
