"""The human review workflow: a borrower asks, officers take and resolve, all on the record.

A referral opens its review when the decision is stored; a borrower may ask for a person to
review any automated decision (PIPL Art. 24). The decision record itself never changes: a
review's outcome lives in the request, and every step leaves an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from creditgraph.decision import record_store, review_store
from creditgraph.decision.records import event_row, review_public, review_row
from creditgraph.decision.service_errors import (
    DecisionServiceError,
    NotFoundError,
    ReviewStateError,
)
from creditgraph.decision.within import Within, finish
from creditgraph.store.db import write_transaction

REVIEW_KINDS = ("referral", "borrower_request", "monitoring", "objection")
REQUESTED_KINDS = ("borrower_request", "objection")
"""What a person may ask for: a review, or one filed as an objection through a subject request."""
REVIEW_STATUSES = ("open", "taken", "approved", "declined")


def _actor(value: str, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DecisionServiceError(f"{name} must name who acts")


def _review(conn: Connection, request_id: str) -> dict[str, Any]:
    row = review_store.read_review(conn, request_id)
    if row is None:
        raise NotFoundError(f"no review request {request_id!r}")
    return row


class ReviewWorkflow:
    """Request, queue, take and resolve review requests; each step is one write transaction."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def request(
        self,
        decision_id: str,
        requested_by: str,
        note: str | None = None,
        *,
        kind: str = "borrower_request",
        within: Within | None = None,
    ) -> dict[str, Any]:
        """A borrower's request for a person to review an automated decision (``kind``
        objection: filed as a subject request)."""
        _actor(requested_by, "requested_by")
        if kind not in REQUESTED_KINDS:
            raise DecisionServiceError(f"kind must be one of {', '.join(REQUESTED_KINDS)}")
        at = self.clock()
        with write_transaction(self.engine) as conn:
            if not record_store.decision_exists(conn, decision_id):
                raise NotFoundError(f"no decision {decision_id!r}")
            pending = review_store.pending_request(conn, decision_id, kind)
            if pending is not None:
                raise ReviewStateError(
                    f"decision {decision_id!r} already has a pending review request {pending!r}"
                )
            row = review_row(decision_id, kind, requested_by, note, at)
            record_store.insert_review(conn, row)
            record_store.insert_event(
                conn,
                event_row(decision_id, row["id"], f"review_opened:{kind}", requested_by, at, note),
            )
            return finish(conn, review_public(row), within)

    def queue(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Review requests in ``status`` (all when None), oldest first."""
        if status is not None and status not in REVIEW_STATUSES:
            raise DecisionServiceError(
                f"unknown review status {status!r}; one of {', '.join(REVIEW_STATUSES)}"
            )
        with self.engine.connect() as conn:
            return [review_public(x) for x in review_store.read_queue(conn, status)]

    def take(
        self, request_id: str, officer: str, *, within: Within | None = None
    ) -> dict[str, Any]:
        """An officer takes an open request; a taken or resolved one cannot be taken again.

        ``within`` runs in the same transaction after the request is taken (see ``Within``), so a
        caller's record of the step commits with it or not at all."""
        _actor(officer, "officer")
        at = self.clock()
        with write_transaction(self.engine) as conn:
            row = _review(conn, request_id)
            if row["status"] != "open":
                raise ReviewStateError(
                    f"review request {request_id!r} is {row['status']}, not open"
                )
            values = {"status": "taken", "taken_by": officer, "taken_at": at}
            if not review_store.move_review(conn, request_id, "open", values):
                raise ReviewStateError(f"review request {request_id!r} was taken meanwhile")
            record_store.insert_event(
                conn, event_row(row["decision_id"], request_id, "review_taken", officer, at)
            )
            row.update(values)
            return finish(conn, review_public(row), within)

    def resolve(
        self,
        request_id: str,
        officer: str,
        approve: bool,
        note: str | None = None,
        *,
        within: Within | None = None,
    ) -> dict[str, Any]:
        """Approve or decline after review, with a note. An open request is taken implicitly."""
        _actor(officer, "officer")
        if not note or not note.strip():
            raise DecisionServiceError("a review resolution needs a note saying why")
        at = self.clock()
        status = "approved" if approve else "declined"
        with write_transaction(self.engine) as conn:
            row = _review(conn, request_id)
            if row["status"] in ("approved", "declined"):
                raise ReviewStateError(f"review request {request_id!r} is already {row['status']}")
            if row["status"] == "taken" and row["taken_by"] != officer:
                raise ReviewStateError(f"review request {request_id!r} is taken by another officer")
            values: dict[str, Any] = {
                "status": status,
                "resolved_by": officer,
                "resolved_at": at,
                "resolution_note": note,
            }
            decision_id = row["decision_id"]
            if row["status"] == "open":
                values.update(taken_by=officer, taken_at=at)
                record_store.insert_event(
                    conn, event_row(decision_id, request_id, "review_taken", officer, at)
                )
            if not review_store.move_review(conn, request_id, row["status"], values):
                raise ReviewStateError(f"review request {request_id!r} changed meanwhile")
            record_store.insert_event(
                conn, event_row(decision_id, request_id, f"review_{status}", officer, at, note)
            )
            row.update(values)
            return finish(conn, review_public(row), within)
