"""The statements of the review workflow: find, list and move review requests between states.

Each takes the caller's connection; a state change is a conditional update on the status the
workflow read, so two officers acting at once cannot both succeed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from creditgraph.store.models import ReviewRequest, table_of

PENDING = ("open", "taken")

_REVIEW = table_of(ReviewRequest)
_REVIEW_BY_ID = select(_REVIEW).where(_REVIEW.c.id == bindparam("id"))
_PENDING_OF = select(_REVIEW.c.id).where(
    _REVIEW.c.decision_id == bindparam("decision_id"),
    _REVIEW.c.kind == bindparam("kind"),
    _REVIEW.c.status.in_(PENDING),
)


def read_review(conn: Connection, request_id: str) -> dict[str, Any] | None:
    """The review request's row, or None."""
    row = conn.execute(_REVIEW_BY_ID, {"id": request_id}).mappings().first()
    return None if row is None else dict(row)


def pending_request(conn: Connection, decision_id: str, kind: str) -> str | None:
    """The id of a decision's open or taken request of ``kind``, if there is one."""
    row = conn.execute(_PENDING_OF, {"decision_id": decision_id, "kind": kind}).first()
    return None if row is None else str(row.id)


def read_queue(conn: Connection, status: str | None) -> list[dict[str, Any]]:
    """Review requests in ``status`` (all when None), oldest first."""
    stmt = select(_REVIEW).order_by(_REVIEW.c.created_at, _REVIEW.c.id)
    if status is not None:
        stmt = stmt.where(_REVIEW.c.status == status)
    return [dict(x) for x in conn.execute(stmt).mappings()]


def move_review(conn: Connection, request_id: str, status: str, values: dict[str, Any]) -> bool:
    """Set ``values`` on the request if it is still in ``status``; False when it moved meanwhile."""
    changed = conn.execute(
        update(_REVIEW).where(_REVIEW.c.id == request_id, _REVIEW.c.status == status).values(values)
    ).rowcount
    return bool(changed == 1)
