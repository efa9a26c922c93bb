"""The review queue's read model: review requests beside their decisions, with age and SLA,
filtered and counted in SQL, a page at a time.

The SLA is stated per kind in business days (Monday to Friday; public holidays are not
counted): a referral or a monitoring referral holds a loan or a borrower in suspense, so two
days; a borrower's request or objection gets five. A pending request is overdue once it was
created more than its SLA of business days before now; the same cut-off drives the filter, the
counts and the row's text, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Connection, Engine, and_, case, func, or_, select

from creditgraph.decision.review import REVIEW_KINDS
from creditgraph.store.models import DecisionRecord, ReviewRequest, WorkspaceAction, table_of
from creditgraph.web.errors import WebError

REVIEWS = table_of(ReviewRequest)
DECISIONS = table_of(DecisionRecord)
ACTIONS = table_of(WorkspaceAction)

PAGE_SIZE = 50
MAX_REASONS = 4
SLA_BUSINESS_DAYS: dict[str, int] = {
    "referral": 2,
    "monitoring": 2,
    "borrower_request": 5,
    "objection": 5,
}
DEFAULT_SLA = 2
STATUSES = ("pending", "open", "taken", "resolved", "all")
"""The status filter: pending is open or taken; resolved is approved or declined."""
ASSIGNEES = ("anyone", "me", "unassigned")
STEPS = ("take", "approve", "decline")
MAX_AGE_DAYS = 3650
FILTER_KEYS = ("status", "assignee", "kind", "older_than", "overdue", "page")

assert set(REVIEW_KINDS) <= set(SLA_BUSINESS_DAYS), "every review kind needs a stated SLA"


def sla_days(kind: str) -> int:
    return SLA_BUSINESS_DAYS.get(kind, DEFAULT_SLA)


def add_business_days(at: datetime, days: int) -> datetime:
    """``at`` moved ``days`` weekdays forward (backward when negative), keeping the time."""
    step = timedelta(days=1 if days >= 0 else -1)
    left = abs(days)
    while left:
        at += step
        if at.weekday() < 5:
            left -= 1
    return at


def overdue_cutoff(now: datetime, kind: str) -> datetime:
    """A pending request of ``kind`` created before this is past its SLA at ``now``."""
    return add_business_days(now, -sla_days(kind))


@dataclass(frozen=True, slots=True)
class ReviewFilters:
    status: str = "pending"
    assignee: str = "anyone"
    """anyone, me, unassigned, or a user's name."""
    kind: str | None = None
    older_than: int | None = None
    """Created more than this many days ago."""
    overdue: bool = False
    page: int = 1

    def params(self, **changes: Any) -> dict[str, str]:
        """The filters as a query's parameters (defaults left out), with ``changes``."""
        values: dict[str, Any] = {
            "status": self.status,
            "assignee": self.assignee,
            "kind": self.kind,
            "older_than": self.older_than,
            "overdue": "1" if self.overdue else None,
            "page": self.page,
            **changes,
        }
        defaults = {"status": "pending", "assignee": "anyone", "page": 1}
        return {
            k: str(v) for k, v in values.items() if v not in (None, "") and defaults.get(k) != v
        }

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))


def parse_filters(params: Mapping[str, str]) -> ReviewFilters:
    """The filters of a query; an unknown status or kind, or a malformed age, is a 400 saying
    which; a malformed page number starts at the first page."""
    status = (params.get("status") or "pending").strip()
    if status not in STATUSES:
        raise WebError(400, "error.bad_input", detail=f"status: {' | '.join(STATUSES)}")
    kind = (params.get("kind") or "").strip() or None
    if kind is not None and kind not in REVIEW_KINDS:
        raise WebError(400, "error.bad_input", detail=f"kind: {' | '.join(REVIEW_KINDS)}")
    assignee = (params.get("assignee") or "anyone").strip()[:100] or "anyone"
    raw_age = (params.get("older_than") or "").strip()
    older_than: int | None = None
    if raw_age:
        try:
            older_than = int(raw_age)
        except ValueError:
            older_than = -1
        if not 0 <= older_than <= MAX_AGE_DAYS:
            raise WebError(400, "error.bad_input", detail=f"older_than: 0-{MAX_AGE_DAYS}")
    try:
        page = max(1, int(params.get("page") or 1))
    except ValueError:
        page = 1
    overdue = (params.get("overdue") or "") in ("1", "on", "true")
    return ReviewFilters(status, assignee, kind, older_than, overdue, page)


def _assignee_names(name: str) -> list[str]:
    """The ``taken_by`` values a name stands for: a workspace user is ``web:<name>``."""
    if name.startswith("web:"):
        return [name]
    return [name, f"web:{name}"]


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    kinds = [
        and_(REVIEWS.c.kind == kind, REVIEWS.c.created_at < overdue_cutoff(now, kind))
        for kind in SLA_BUSINESS_DAYS
    ]
    others = and_(
        REVIEWS.c.kind.not_in(list(SLA_BUSINESS_DAYS)),
        REVIEWS.c.created_at < add_business_days(now, -DEFAULT_SLA),
    )
    return and_(REVIEWS.c.status.in_(("open", "taken")), or_(*kinds, others))


def _conditions(filters: ReviewFilters, actor: str, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    status = REVIEWS.c.status
    if filters.status == "pending":
        where.append(status.in_(("open", "taken")))
    elif filters.status == "resolved":
        where.append(status.in_(("approved", "declined")))
    elif filters.status != "all":
        where.append(status == filters.status)
    if filters.assignee == "me":
        where.append(REVIEWS.c.taken_by == actor)
    elif filters.assignee == "unassigned":
        where.append(REVIEWS.c.taken_by.is_(None))
    elif filters.assignee != "anyone":
        where.append(REVIEWS.c.taken_by.in_(_assignee_names(filters.assignee)))
    if filters.kind is not None:
        where.append(REVIEWS.c.kind == filters.kind)
    if filters.older_than is not None:
        where.append(REVIEWS.c.created_at < now - timedelta(days=filters.older_than))
    if filters.overdue:
        where.append(_overdue_clause(now))
    return where or [REVIEWS.c.id.is_not(None)]


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One request of the queue with its decision, as the page shows it."""

    id: str
    kind: str
    status: str
    requested_by: str
    note: str | None
    created_at: datetime
    taken_by: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None
    decision_id: str
    person_id: str
    outcome: str
    product_code: str
    amount_fen: int
    term_months: int
    limit_fen: int
    score: float | None
    grade: str | None
    pd: float | None
    reasons: list[dict[str, Any]]
    age: timedelta
    due_at: datetime
    overdue: bool

    @property
    def pending(self) -> bool:
        return self.status in ("open", "taken")

    @property
    def age_days(self) -> int:
        return self.age.days

    @property
    def age_hours(self) -> int:
        return self.age.seconds // 3600


@dataclass(frozen=True, slots=True)
class QueueCounts:
    pending: int
    overdue: int
    unassigned: int
    mine: int


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[ReviewRow]
    total: int
    counts: QueueCounts
    assignees: list[str]
    filters: ReviewFilters
    now: datetime
    pages: int = field(default=1)

    @property
    def has_next(self) -> bool:
        return self.filters.page < self.pages


_COLUMNS = (
    REVIEWS.c.id,
    REVIEWS.c.kind,
    REVIEWS.c.status,
    REVIEWS.c.requested_by,
    REVIEWS.c.note,
    REVIEWS.c.created_at,
    REVIEWS.c.taken_by,
    REVIEWS.c.resolved_by,
    REVIEWS.c.resolved_at,
    REVIEWS.c.resolution_note,
    REVIEWS.c.decision_id,
    DECISIONS.c.person_id,
    DECISIONS.c.outcome,
    DECISIONS.c.product_code,
    DECISIONS.c.amount_fen,
    DECISIONS.c.term_months,
    DECISIONS.c.limit_fen,
    DECISIONS.c.score,
    DECISIONS.c.grade,
    DECISIONS.c.pd,
    DECISIONS.c.reasons,
)


def _row(r: Any, now: datetime) -> ReviewRow:
    created: datetime = r.created_at
    pending = r.status in ("open", "taken")
    return ReviewRow(
        id=r.id,
        kind=r.kind,
        status=r.status,
        requested_by=r.requested_by,
        note=r.note,
        created_at=created,
        taken_by=r.taken_by,
        resolved_by=r.resolved_by,
        resolved_at=r.resolved_at,
        resolution_note=r.resolution_note,
        decision_id=r.decision_id,
        person_id=r.person_id,
        outcome=r.outcome,
        product_code=r.product_code,
        amount_fen=int(r.amount_fen),
        term_months=int(r.term_months),
        limit_fen=int(r.limit_fen),
        score=r.score,
        grade=r.grade,
        pd=r.pd,
        reasons=list(r.reasons or [])[:MAX_REASONS],
        age=max(timedelta(0), (r.resolved_at if not pending and r.resolved_at else now) - created),
        due_at=add_business_days(created, sla_days(r.kind)),
        overdue=pending and created < overdue_cutoff(now, r.kind),
    )


def _counts(conn: Connection, actor: str, now: datetime) -> QueueCounts:
    def count_of(cond: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = conn.execute(
        select(
            func.count(),
            count_of(_overdue_clause(now)),
            count_of(REVIEWS.c.status == "open"),
            count_of(REVIEWS.c.taken_by == actor),
        ).where(REVIEWS.c.status.in_(("open", "taken")))
    ).one()
    return QueueCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def queue(engine: Engine, filters: ReviewFilters, actor: str, now: datetime) -> QueuePage:
    """One page of the queue, oldest first, with the totals the page heads with."""
    where = _conditions(filters, actor, now)
    joined = REVIEWS.join(DECISIONS, DECISIONS.c.id == REVIEWS.c.decision_id)
    with engine.connect() as conn:
        total = int(
            conn.execute(select(func.count()).select_from(REVIEWS).where(*where)).scalar_one()
        )
        pages = max(1, -(-total // PAGE_SIZE))
        page_no = min(filters.page, pages)
        if page_no != filters.page:
            filters = ReviewFilters(
                filters.status,
                filters.assignee,
                filters.kind,
                filters.older_than,
                filters.overdue,
                page_no,
            )
        rows = conn.execute(
            select(*_COLUMNS)
            .select_from(joined)
            .where(*where)
            .order_by(REVIEWS.c.created_at, REVIEWS.c.id)
            .offset((page_no - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        counts = _counts(conn, actor, now)
        assignees = sorted(
            str(x)
            for x in conn.execute(
                select(REVIEWS.c.taken_by)
                .where(REVIEWS.c.taken_by.is_not(None))
                .group_by(REVIEWS.c.taken_by)
                .limit(200)
            ).scalars()
        )
    return QueuePage(
        rows=[_row(r, now) for r in rows],
        total=total,
        counts=counts,
        assignees=assignees,
        filters=filters,
        now=now,
        pages=pages,
    )


# -- what an action did ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one step did to one request: done, or refused and why (a ``reviews.why.*`` key)."""

    request_id: str
    step: str
    done: bool
    why: str | None = None


def why_refused(engine: Engine, request_id: str, step: str, actor: str) -> str:
    """Why the workflow refused ``step`` on the request, read from its state after the refusal."""
    with engine.connect() as conn:
        row = conn.execute(
            select(REVIEWS.c.status, REVIEWS.c.taken_by).where(REVIEWS.c.id == request_id)
        ).first()
    if row is None:
        return "not_found"
    if row.status in ("approved", "declined"):
        return "already_resolved"
    if row.status == "taken" and row.taken_by != actor:
        return "taken_by_other"
    if row.status == "taken" and step == "take":
        return "already_yours"
    return "changed"


def report(engine: Engine, actor: str, batch: str) -> list[Outcome]:
    """The outcomes of one submitted action (a batch), as its workspace actions recorded them;
    only the actor's own, so a batch id in a link shows nothing to anyone else."""
    if not batch or len(batch) > 64:
        return []
    names = [f"review.{step}" for step in STEPS]
    stmt = (
        select(
            ACTIONS.c.target, ACTIONS.c.action, ACTIONS.c.outcome, ACTIONS.c.detail, ACTIONS.c.at
        )
        .where(ACTIONS.c.actor == actor, ACTIONS.c.action.in_(names))
        .order_by(ACTIONS.c.at.desc())
        .limit(500)
    )
    with engine.connect() as conn:
        rows = [r for r in conn.execute(stmt) if (r.detail or {}).get("batch") == batch]
    rows.sort(key=lambda r: int((r.detail or {}).get("item", 0)))
    return [
        Outcome(
            request_id=str(r.target),
            step=str(r.action).removeprefix("review."),
            done=r.outcome == "done",
            why=(r.detail or {}).get("why"),
        )
        for r in rows
    ]
