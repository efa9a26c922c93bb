"""``ReviewWorkflow.take`` runs a caller's ``within`` hook inside its own write transaction: the
hook sees the request taken, and a hook that fails takes the whole step back with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from creditgraph.decision.review import ReviewWorkflow
from creditgraph.decision.service_errors import ReviewStateError
from creditgraph.store.models import (
    AuditRecord,
    DecisionEvent,
    ReviewRequest,
    WorkspaceAction,
    table_of,
)
from creditgraph.web import actions
from tests.web_world import Workspace

REVIEWS = table_of(ReviewRequest)
EVENTS = table_of(DecisionEvent)
ACTIONS = table_of(WorkspaceAction)
AUDIT = table_of(AuditRecord)


class _Refused(RuntimeError):
    """Raised by a ``within`` hook to prove the take rolls back with it."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _open(ws: Workspace) -> list[str]:
    with ws.engine.connect() as conn:
        return list(
            conn.execute(
                select(REVIEWS.c.id).where(REVIEWS.c.status == "open").order_by(REVIEWS.c.id)
            ).scalars()
        )


def _state(ws: Workspace, request_id: str) -> tuple[str, str | None, list[str], int]:
    """The request's status and taker, its events, and the workspace records naming it."""
    with ws.engine.connect() as conn:
        row = conn.execute(
            select(REVIEWS.c.status, REVIEWS.c.taken_by).where(REVIEWS.c.id == request_id)
        ).one()
        events = conn.execute(select(EVENTS.c.event).where(EVENTS.c.review_id == request_id))
        records = conn.execute(
            select(func.count()).select_from(ACTIONS).where(ACTIONS.c.target == request_id)
        ).scalar_one()
        return row.status, row.taken_by, list(events.scalars()), int(records)


def _audit_count(ws: Workspace) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AUDIT)).scalar_one())


def test_take_runs_the_hook_in_its_transaction(workspace: Workspace) -> None:
    request_id = _open(workspace)[0]
    seen: list[tuple[str, str, str | None]] = []

    def sees_the_take(conn: Connection, answer: dict[str, Any]) -> None:
        row = conn.execute(
            select(REVIEWS.c.status, REVIEWS.c.taken_by).where(REVIEWS.c.id == request_id)
        ).one()
        seen.append((answer["status"], row.status, row.taken_by))
        actions.record(conn, "officer-1", "officer", "review.take", request_id)

    taken = ReviewWorkflow(workspace.engine, _now).take(
        request_id, "officer-1", within=sees_the_take
    )
    assert taken["status"] == "taken" and taken["taken_by"] == "officer-1"
    assert seen == [("taken", "taken", "officer-1")]
    status, by, events, records = _state(workspace, request_id)
    assert (status, by, records) == ("taken", "officer-1", 1)
    assert "review_taken" in events


def test_a_failing_hook_rolls_the_take_back_and_records_nothing(workspace: Workspace) -> None:
    request_id = _open(workspace)[1]
    before = _state(workspace, request_id)
    audit = _audit_count(workspace)

    def records_then_fails(conn: Connection, answer: dict[str, Any]) -> None:
        actions.record(conn, "officer-1", "officer", "review.take", answer["id"])
        raise _Refused(answer["id"])

    workflow = ReviewWorkflow(workspace.engine, _now)
    with pytest.raises(_Refused):
        workflow.take(request_id, "officer-1", within=records_then_fails)
    assert _state(workspace, request_id) == before
    assert before[0] == "open" and before[3] == 0 and "review_taken" not in before[2]
    assert _audit_count(workspace) == audit
    # still open, so another officer may take it; a refused take never reaches the hook
    assert workflow.take(request_id, "officer-2")["taken_by"] == "officer-2"
    called: list[str] = []
    with pytest.raises(ReviewStateError):
        workflow.take(request_id, "officer-1", within=lambda _c, a: called.append(a["id"]))
    assert called == []
