"""The alerts page's read model: monitoring's alerts filtered by type, severity and status, the
audit trail of one alert, and the servicing book's stress signals beside them.

The queue reads the ``alerts`` table itself rather than through ``monitoring.alerts.list_alerts``
because that list has no severity filter and no count; rows are shaped by the module's own
``public`` so the page shows what the API shows. One alert is read with ``get_alert``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, case, func, select

from creditgraph.monitoring.actions import AUDIT, COLLECTIONS
from creditgraph.monitoring.alerts import ALERTS, public
from creditgraph.monitoring.detectors import Detector, Severity
from creditgraph.settings import Settings
from creditgraph.store.models import Loan, table_of
from creditgraph.web.data import portfolio
from creditgraph.web.errors import WebError

LOANS = table_of(Loan)

PAGE_SIZE = 50
TYPES = (*(d.value for d in Detector), "fairness_disparity")
SEVERITIES = tuple(s.value for s in Severity)
STATUSES = ("unresolved", "open", "acknowledged", "resolved", "all")
"""The status filter: unresolved is open or acknowledged."""
FILTER_KEYS = ("type", "severity", "status", "page")
STRESS_WINDOW_DAYS = 30
LATE_STATES = ("active", "overdue")


@dataclass(frozen=True, slots=True)
class AlertFilters:
    type: str | None = None
    severity: str | None = None
    status: str = "unresolved"
    page: int = 1

    def query(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "type": self.type,
            "severity": self.severity,
            "status": None if self.status == "unresolved" else self.status,
            "page": None if self.page == 1 else self.page,
            **changes,
        }
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


def parse_filters(params: Mapping[str, str]) -> AlertFilters:
    """The filters of a query: an unknown type, severity or status is a 400 naming the choices;
    a malformed page number starts at the first page."""

    def choice(name: str, allowed: tuple[str, ...]) -> str | None:
        value = (params.get(name) or "").strip() or None
        if value is not None and value not in allowed:
            raise WebError(400, "error.bad_input", detail=f"{name}: {' | '.join(allowed)}")
        return value

    kind = choice("type", TYPES)
    severity = choice("severity", SEVERITIES)
    status = choice("status", STATUSES) or "unresolved"
    try:
        page = max(1, int(params.get("page") or 1))
    except ValueError:
        page = 1
    return AlertFilters(kind, severity, status, page)


def _conditions(filters: AlertFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.status == "unresolved":
        where.append(ALERTS.c.status.in_(("open", "acknowledged")))
    elif filters.status != "all":
        where.append(ALERTS.c.status == filters.status)
    if filters.type is not None:
        where.append(ALERTS.c.type == filters.type)
    if filters.severity is not None:
        where.append(ALERTS.c.severity == filters.severity)
    return where or [ALERTS.c.id.is_not(None)]


@dataclass(frozen=True, slots=True)
class AlertQueue:
    rows: list[dict[str, Any]]
    total: int
    pages: int
    filters: AlertFilters
    unresolved: dict[str, int]
    """Unresolved alerts by severity."""

    @property
    def has_next(self) -> bool:
        return self.filters.page < self.pages


def queue(engine: Engine, filters: AlertFilters) -> AlertQueue:
    """A page of alerts, newest first, and the unresolved count by severity."""
    where = _conditions(filters)
    with engine.connect() as conn:
        total = int(
            conn.execute(select(func.count()).select_from(ALERTS).where(*where)).scalar_one()
        )
        pages = max(1, -(-total // PAGE_SIZE))
        page_no = min(filters.page, pages)
        rows = [
            public(r)
            for r in conn.execute(
                select(ALERTS)
                .where(*where)
                .order_by(ALERTS.c.id.desc())
                .offset((page_no - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            ).mappings()
        ]
        by_severity = {
            str(s): int(n)
            for s, n in conn.execute(
                select(ALERTS.c.severity, func.count())
                .where(ALERTS.c.status.in_(("open", "acknowledged")))
                .group_by(ALERTS.c.severity)
            )
        }
    filters = AlertFilters(filters.type, filters.severity, filters.status, page_no)
    return AlertQueue(rows, total, pages, filters, {s: by_severity.get(s, 0) for s in SEVERITIES})


def audit_trail(engine: Engine, alert_id: str) -> list[dict[str, Any]]:
    """Every step taken on the alert (the policy's actions and people's), oldest first."""
    stmt = (
        select(AUDIT.c.action, AUDIT.c.outcome, AUDIT.c.actor, AUDIT.c.at, AUDIT.c.params)
        .where(AUDIT.c.alert_id == alert_id)
        .order_by(AUDIT.c.at, AUDIT.c.id)
        .limit(200)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


# -- servicing stress --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketLine:
    bucket: str
    loans: int
    outstanding_fen: int


@dataclass(frozen=True, slots=True)
class StressSignals:
    """What the servicing book says about stress, as of its latest completed day end."""

    as_of: date | None
    window_days: int
    late: list[BucketLine]
    entered_late: int
    written_off: int
    collections_open: int
    collections_recent: int
    recent_late: list[dict[str, Any]]


def _day_end_utc(day: date, zone: ZoneInfo) -> datetime:
    """The end of business ``day`` in ``zone`` as naive UTC (how ``added_at`` is stored)."""
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return end.astimezone(UTC).replace(tzinfo=None)


def _late_at_close(conn: Connection, as_of: date) -> list[BucketLine]:
    """Loans past due at the end of ``as_of`` (the latest close) by bucket, with their
    outstanding principal then: the same figures as the portfolio's for that day (the end of
    day's own DPD and bucket, rebuilt only for a loan posted since; the principal of the
    close, not what an open-day payment left)."""
    kept = portfolio.closed_statuses(conn, as_of)
    late = {loan_id: got for loan_id, got in kept.items() if got[1] > 0}
    moved = portfolio.posted_after(conn, as_of)
    if moved:
        moves = portfolio.read_history(conn).moves
        for loan_id in moved:
            bucket, dpd = portfolio.status_at(moves.get(loan_id), as_of)
            if dpd > 0:
                late[loan_id] = (bucket, dpd)
    if not late:
        return []
    owed = portfolio.outstanding_at(conn, as_of, as_of, only=set(late))
    count: dict[str, int] = {}
    fen: dict[str, int] = {}
    for loan_id, amount in owed.items():
        bucket = late[loan_id][0]
        count[bucket] = count.get(bucket, 0) + 1
        fen[bucket] = fen.get(bucket, 0) + amount
    return [BucketLine(b, count[b], fen[b]) for b in portfolio.BUCKETS if b in count]


def stress(engine: Engine, zone: str | None = None) -> StressSignals:
    """Late loans by bucket (outstanding principal), loans that fell late or were written off and
    people put on the collections list in the 30 days up to the latest completed day end, all
    as of that close, as the portfolio reads it (never today's rows or the wall clock)."""
    where = ZoneInfo(zone or Settings.model_fields["timezone"].default)
    with engine.connect() as conn:
        as_of = portfolio.latest_closed(conn)
        if as_of is None:
            return StressSignals(None, STRESS_WINDOW_DAYS, [], 0, 0, 0, 0, [])
        first = as_of - timedelta(days=STRESS_WINDOW_DAYS - 1)
        late = _late_at_close(conn, as_of)

        def within(column: Any) -> Any:
            return case(((column >= first) & (column <= as_of), 1), else_=0)

        counts = conn.execute(
            select(
                func.coalesce(func.sum(within(LOANS.c.overdue_since)), 0),
                func.coalesce(func.sum(within(LOANS.c.written_off_on)), 0),
            ).where(LOANS.c.state.in_((*LATE_STATES, "written_off")))
        ).one()
        opened = _day_end_utc(first - timedelta(days=1), where)
        closed = _day_end_utc(as_of, where)
        added = (COLLECTIONS.c.added_at >= opened) & (COLLECTIONS.c.added_at < closed)
        collections = conn.execute(
            select(
                func.coalesce(
                    func.sum(
                        case(
                            (
                                (COLLECTIONS.c.status == "open")
                                & (COLLECTIONS.c.added_at < closed),
                                1,
                            ),
                            else_=0,
                        )
                    ),
                    0,
                ),
                func.coalesce(func.sum(case((added, 1), else_=0)), 0),
            )
        ).one()
        recent = [
            dict(r)
            for r in conn.execute(
                select(
                    LOANS.c.id,
                    LOANS.c.person_id,
                    LOANS.c.product_code,
                    LOANS.c.state,
                    LOANS.c.dpd,
                    LOANS.c.bucket,
                    LOANS.c.overdue_since,
                )
                .where(
                    LOANS.c.state.in_((*LATE_STATES, "written_off")),
                    LOANS.c.overdue_since >= first,
                    LOANS.c.overdue_since <= as_of,
                )
                .order_by(LOANS.c.overdue_since.desc(), LOANS.c.id)
                .limit(10)
            ).mappings()
        ]
    return StressSignals(
        as_of=as_of,
        window_days=STRESS_WINDOW_DAYS,
        late=late,
        entered_late=int(counts[0]),
        written_off=int(counts[1]),
        collections_open=int(collections[0]),
        collections_recent=int(collections[1]),
        recent_late=recent,
    )
