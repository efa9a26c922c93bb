"""Privileged actions in the workspace, recorded and committed to the audit log.

A log-in (or a refused one), a review decided, an alert handled, a profile revealed, a user
created, disabled or reset: each is one row of ``workspace_actions`` written in the
transaction of the action itself and committed to the tamper-evident log in that transaction,
so an action without its record (or the reverse) cannot be committed. No personal value and
no password is ever part of a record: notes are kept by their SHA-256.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from creditgraph.audit import outbox
from creditgraph.store.db import write_transaction
from creditgraph.store.models import WorkspaceAction, table_of

ACTIONS = table_of(WorkspaceAction)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def note_digest(note: str | None) -> str | None:
    """A note as an action record keeps it: its SHA-256 (the note itself stays with the review)."""
    return hashlib.sha256(note.encode()).hexdigest() if note else None


def record(
    conn: Connection,
    actor: str,
    role: str | None,
    action: str,
    target: str | None = None,
    outcome: str = "done",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> str:
    """Record one action on ``conn`` (inside the action's transaction); its id."""
    action_id = f"wa_{uuid.uuid4().hex}"
    conn.execute(
        insert(ACTIONS).values(
            id=action_id,
            at=at or _now(),
            actor=actor[:100],
            role=role,
            action=action,
            target=None if target is None else target[:100],
            outcome=outcome,
            detail=detail,
        )
    )
    outbox.record(conn, "workspace_action", action_id)
    return action_id


def record_alone(engine: Engine, actor: str, role: str | None, action: str, **kw: Any) -> str:
    """:func:`record` in a transaction of its own (a refused log-in writes nothing else)."""
    with write_transaction(engine) as conn:
        return record(conn, actor, role, action, **kw)


def recent(engine: Engine, limit: int = 200, actor: str | None = None) -> list[dict[str, Any]]:
    """The latest actions, newest first."""
    stmt = select(ACTIONS).order_by(ACTIONS.c.at.desc(), ACTIONS.c.id).limit(limit)
    if actor is not None:
        stmt = stmt.where(ACTIONS.c.actor == actor)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]
