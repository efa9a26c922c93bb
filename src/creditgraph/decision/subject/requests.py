"""The subject-request log: what a person asked, when it is due, when it was answered.

PIPL Art. 50 asks for a timely answer and a reason for a refusal. The default deadline is 15
calendar days from receipt: stricter than the 15 working days that GB/T 35273 practice (and the
App personal-information rules built on it) allow, so it holds under either count. It is a
parameter, so a lender bound by a shorter term sets it.

A request row names fields and counts, never the values asked about, so the log itself holds no
personal data and survives the person's erasure as the record that the request was honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from creditgraph.decision.records import new_id
from creditgraph.store.models import Erasure, LegalHold, Person, SubjectRequest, table_of

KINDS = ("export", "correct", "erase", "object")
STATUSES = ("received", "in_progress", "done", "rejected")
OPEN = ("received", "in_progress")
DEFAULT_DEADLINE_DAYS = 15
MAX_DEADLINE_DAYS = 60
_MAX_ACTOR = 100

_REQUESTS = table_of(SubjectRequest)
_PERSONS = table_of(Person)
_ERASURES = table_of(Erasure)
_HOLDS = table_of(LegalHold)


class SubjectError(ValueError):
    """A subject request that cannot be honoured as asked; ``field`` names what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownSubjectError(SubjectError):
    """No person with this id is held (and none was erased)."""

    def __init__(self) -> None:
        super().__init__("no person with this id is held / 未持有该人员的数据", "person")


class ErasedSubjectError(SubjectError):
    """The person was erased: nothing is held to export or correct, except what the law keeps
    (loan accounting records under a legal hold), which is stored and no longer processed."""

    def __init__(self, erased_at: datetime, held_until: date | None = None) -> None:
        day = erased_at.date().isoformat()
        en = f"this person's data was erased on {day}; nothing is held to export or correct"
        zh = f"该人员的数据已于 {day} 删除，无可导出或更正的数据"
        if held_until is not None:
            until = held_until.isoformat()
            en += f" (loan accounting records are kept by law until {until}, not processed)"
            zh += f"（借款会计记录依法保存至 {until}，不再处理）"
        super().__init__(f"{en} / {zh}", "person")
        self.erased_at = erased_at
        self.held_until = held_until


class UnknownRequestError(SubjectError):
    def __init__(self) -> None:
        super().__init__("no such subject request / 无此个人信息请求", "request_id")


@dataclass(frozen=True)
class Deadline:
    """How long a request may stay open (calendar days from receipt)."""

    days: int = DEFAULT_DEADLINE_DAYS

    def __post_init__(self) -> None:
        if not 1 <= self.days <= MAX_DEADLINE_DAYS:
            raise SubjectError(
                f"deadline_days must be between 1 and {MAX_DEADLINE_DAYS} / "
                f"答复期限须在 1 至 {MAX_DEADLINE_DAYS} 天之间",
                "deadline_days",
            )

    def due(self, received_at: datetime) -> datetime:
        return received_at + timedelta(days=self.days)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_actor(requested_by: str) -> None:
    if not isinstance(requested_by, str) or not requested_by.strip():
        raise SubjectError("requested_by must name who files the request / 须注明提交人", "actor")
    if len(requested_by) > _MAX_ACTOR:
        raise SubjectError(f"requested_by is longer than {_MAX_ACTOR} characters", "actor")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise SubjectError(
            f"kind must be one of {', '.join(KINDS)} / 请求类型须为 {', '.join(KINDS)} 之一",
            "kind",
        )


def held_person(conn: Connection, person_id: str) -> None:
    """Raise unless the person is held: erased people and unknown ids are told apart."""
    if conn.execute(select(_PERSONS.c.person_id).where(_PERSONS.c.person_id == person_id)).first():
        return
    erased = erased_at(conn, person_id)
    if erased is not None:
        raise ErasedSubjectError(erased, held_until(conn, person_id))
    raise UnknownSubjectError()


def held_until(conn: Connection, person_id: str) -> date | None:
    """The last day a legal hold keeps any of the erased person's records, if one does."""
    found = conn.execute(
        select(func.max(_HOLDS.c.held_until)).where(
            _HOLDS.c.person_id == person_id, _HOLDS.c.released_at.is_(None)
        )
    ).scalar_one_or_none()
    return found


def erased_at(conn: Connection, person_id: str) -> datetime | None:
    found = conn.execute(
        select(_ERASURES.c.erased_at).where(_ERASURES.c.person_id == person_id)
    ).scalar_one_or_none()
    return found


def open_request(
    conn: Connection,
    person_id: str,
    kind: str,
    requested_by: str,
    deadline: Deadline,
    received_at: datetime,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert a received request and return its row."""
    check_kind(kind)
    check_actor(requested_by)
    row: dict[str, Any] = {
        "id": new_id("sr"),
        "person_id": person_id,
        "kind": kind,
        "status": "received",
        "requested_by": requested_by,
        "received_at": received_at,
        "due_at": deadline.due(received_at),
        "completed_at": None,
        "detail": detail,
        "result": None,
    }
    conn.execute(insert(_REQUESTS).values(row))
    return row


def read_request(conn: Connection, request_id: str) -> dict[str, Any]:
    row = conn.execute(select(_REQUESTS).where(_REQUESTS.c.id == request_id)).mappings().first()
    if row is None:
        raise UnknownRequestError()
    return dict(row)


def pending_request(conn: Connection, request_id: str, person_id: str, kind: str) -> dict[str, Any]:
    """A request filed earlier, still open, of this person and kind: the one an answer closes."""
    row = read_request(conn, request_id)
    if row["person_id"] != person_id or row["kind"] != kind:
        raise SubjectError(
            f"request {request_id} is not a {kind} request of this person / "
            f"该请求不是此人的 {kind} 请求",
            "request_id",
        )
    if row["status"] not in OPEN:
        raise SubjectError(
            f"request {request_id} is already {row['status']} / 该请求已处理完毕", "request_id"
        )
    return row


def close_request(
    conn: Connection,
    row: dict[str, Any],
    status: str,
    completed_at: datetime,
    result: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Mark the request done or rejected with its result (names and counts only)."""
    values: dict[str, Any] = {"status": status, "completed_at": completed_at, "result": result}
    if detail is not None:
        values["detail"] = detail
    conn.execute(update(_REQUESTS).where(_REQUESTS.c.id == row["id"]).values(values))
    return row | values


def move_request(
    conn: Connection, row: dict[str, Any], status: str, detail: dict[str, Any]
) -> dict[str, Any]:
    """An open request moved to another open status, ``detail`` merged into its own."""
    merged = (row["detail"] or {}) | detail
    conn.execute(
        update(_REQUESTS).where(_REQUESTS.c.id == row["id"]).values(status=status, detail=merged)
    )
    return row | {"status": status, "detail": merged}


def list_requests(
    conn: Connection,
    at: datetime,
    overdue: bool = False,
    status: str | None = None,
    person_id: str | None = None,
) -> list[dict[str, Any]]:
    """Requests by deadline, earliest first; ``overdue``: still open after their due time."""
    if status is not None and status not in STATUSES:
        raise SubjectError(f"status must be one of {', '.join(STATUSES)}", "status")
    stmt = select(_REQUESTS).order_by(_REQUESTS.c.due_at, _REQUESTS.c.id)
    if overdue:
        stmt = stmt.where(_REQUESTS.c.status.in_(OPEN), _REQUESTS.c.due_at < at)
    if status is not None:
        stmt = stmt.where(_REQUESTS.c.status == status)
    if person_id is not None:
        stmt = stmt.where(_REQUESTS.c.person_id == person_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def public(row: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """A request as JSON-ready data; ``overdue`` when still open past its due time."""
    out = dict(row)
    for name in ("received_at", "due_at", "completed_at"):
        value = out.get(name)
        out[name] = None if value is None else value.isoformat()
    out["overdue"] = bool(
        row["status"] in OPEN and row["due_at"] < (at or now()) and row["completed_at"] is None
    )
    return out
