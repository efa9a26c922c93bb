"""The actions an alert takes under the policy, run on the alert store's connection.

Each action goes through the part of the platform that owns it: a freeze or a lower limit is a
``credit_limit_controls`` row that servicing's acceptance and the decision service read
(``servicing.book.controls``, ``decision.controls``); a review referral is a review request of
kind ``monitoring`` opened by the decision review service (``decision.referrals``), with its
decision event; a collections entry names each of the person's active loans. None of them posts
money. Every action, including one with nothing left to do, leaves an ``alert_actions`` row with
the policy's version and hash.

Batched for the event consumer: the reads for a whole batch of new alerts are one query per kind
(controls, approved limits, latest decisions, active loans, open collections entries), and the
writes are bulk inserts; referrals, rare, are written one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from creditgraph.audit import outbox as audit_log
from creditgraph.decision.controls import LimitControl, active_controls, latest_approved_limits
from creditgraph.decision.referrals import latest_decisions, refer
from creditgraph.monitoring.action_policy import Action, ActionPolicy, PlannedAction
from creditgraph.servicing.lifecycle import SERVICED
from creditgraph.store.models import (
    AlertAction,
    CollectionsEntry,
    CreditLimitControl,
    Loan,
    table_of,
)

SYSTEM_ACTOR = "risk-monitoring"
_CHUNK = 500

AUDIT = table_of(AlertAction)
CONTROLS = table_of(CreditLimitControl)
COLLECTIONS = table_of(CollectionsEntry)
_LOANS = table_of(Loan)
_ACTIVE_LOANS = (
    select(_LOANS.c.person_id, _LOANS.c.id)
    .where(
        _LOANS.c.person_id.in_(bindparam("people", expanding=True)),
        _LOANS.c.state.in_(sorted(s.value for s in SERVICED)),
    )
    .order_by(_LOANS.c.id)
)
_OPEN_ENTRIES = select(COLLECTIONS.c.person_id, COLLECTIONS.c.loan_id).where(
    COLLECTIONS.c.person_id.in_(bindparam("people", expanding=True)),
    COLLECTIONS.c.status == "open",
)


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """An alert that opened (or whose severity rose) and the actions the policy gives it."""

    alert_id: str
    person_id: str
    type: str
    severity: str
    planned: Sequence[PlannedAction]


@dataclass(slots=True)
class _Batch:
    """What the batch read, kept current as its actions run (two alerts of one person in a
    batch freeze once)."""

    controls: dict[str, LimitControl]
    limits: dict[str, int]
    decisions: dict[str, str]
    loans: dict[str, list[str]]
    listed: set[tuple[str, str | None]]
    control_rows: list[dict[str, Any]] = field(default_factory=list)
    entry_rows: list[dict[str, Any]] = field(default_factory=list)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)


def _people_wanting(requests: Sequence[ActionRequest], *actions: Action) -> list[str]:
    return sorted({r.person_id for r in requests for p in r.planned if p.action in actions})


def _read(conn: Connection, requests: Sequence[ActionRequest]) -> _Batch:
    controlled = _people_wanting(requests, Action.FREEZE_UNDRAWN_LIMIT, Action.LOWER_LIMIT)
    collected = _people_wanting(requests, Action.COLLECTIONS_LIST)
    loans: dict[str, list[str]] = {}
    listed: set[tuple[str, str | None]] = set()
    for start in range(0, len(collected), _CHUNK):
        people = {"people": collected[start : start + _CHUNK]}
        for row in conn.execute(_ACTIVE_LOANS, people):
            loans.setdefault(row.person_id, []).append(str(row.id))
        listed.update((row.person_id, row.loan_id) for row in conn.execute(_OPEN_ENTRIES, people))
    return _Batch(
        controls=active_controls(conn, controlled),
        limits=latest_approved_limits(conn, _people_wanting(requests, Action.LOWER_LIMIT)),
        decisions=latest_decisions(conn, _people_wanting(requests, Action.REFER_REVIEW)),
        loans=loans,
        listed=listed,
    )


def _reason(request: ActionRequest) -> str:
    return f"alert {request.alert_id}: {request.type} ({request.severity})"


def _control_row(
    request: ActionRequest, kind: str, cap_fen: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "person_id": request.person_id,
        "kind": kind,
        "cap_fen": cap_fen,
        "alert_id": request.alert_id,
        "reason": _reason(request),
        "actor": SYSTEM_ACTOR,
        "created_at": now,
        "lifted_at": None,
        "lifted_by": None,
        "lift_note": None,
    }


def _freeze(batch: _Batch, request: ActionRequest, now: datetime) -> tuple[str, dict[str, Any]]:
    held = batch.controls.get(request.person_id)
    if held is not None and held.frozen:
        return "already_frozen", {}
    batch.control_rows.append(_control_row(request, "frozen", None, now))
    batch.controls[request.person_id] = LimitControl(frozen=True, cap_fen=None)
    return "frozen", {}


def _lower(
    batch: _Batch, request: ActionRequest, planned: PlannedAction, now: datetime
) -> tuple[str, dict[str, Any]]:
    limit = batch.limits.get(request.person_id)
    if limit is None:
        return "skipped:no_approved_limit", {}
    factor = planned.factor or Decimal(1)
    cap = int((Decimal(limit) * factor).to_integral_value(rounding=ROUND_FLOOR))
    detail = {"limit_fen": limit, "cap_fen": cap}
    held = batch.controls.get(request.person_id)
    if held is not None and (held.frozen or (held.cap_fen is not None and held.cap_fen <= cap)):
        return "already_lower", detail
    batch.control_rows.append(_control_row(request, "lowered", cap, now))
    batch.controls[request.person_id] = LimitControl(frozen=False, cap_fen=cap)
    return "lowered", detail


def _refer(
    conn: Connection, batch: _Batch, request: ActionRequest, now: datetime
) -> tuple[str, dict[str, Any]]:
    decision_id = batch.decisions.get(request.person_id)
    if decision_id is None:
        return "skipped:no_decision", {}
    referral = refer(
        conn,
        decision_id,
        requested_by=SYSTEM_ACTOR,
        note=f"{_reason(request)}; see the alert for its evidence",
        at=now,
    )
    detail = {"decision_id": decision_id, "review_id": referral.review_id}
    return ("referred" if referral.opened else "already_referred"), detail


def _collect(batch: _Batch, request: ActionRequest, now: datetime) -> tuple[str, dict[str, Any]]:
    wanted: list[str | None] = list(batch.loans.get(request.person_id, [])) or [None]
    added = []
    for loan_id in wanted:
        if (request.person_id, loan_id) in batch.listed:
            continue
        batch.listed.add((request.person_id, loan_id))
        added.append(loan_id)
        batch.entry_rows.append(
            {
                "person_id": request.person_id,
                "loan_id": loan_id,
                "alert_id": request.alert_id,
                "reason": _reason(request),
                "status": "open",
                "added_at": now,
                "added_by": SYSTEM_ACTOR,
            }
        )
    if not added:
        return "already_listed", {}
    return "listed", {"loans": [x for x in added if x is not None]}


def run_actions(
    conn: Connection,
    requests: Sequence[ActionRequest],
    *,
    policy: ActionPolicy,
    now: datetime,
) -> dict[str, list[dict[str, Any]]]:
    """Run each request's planned actions on ``conn`` (the caller's transaction); the actions
    each alert took, as its ``actions`` column records them, by alert id."""
    wanted = [r for r in requests if r.planned]
    if not wanted:
        return {}
    batch = _read(conn, wanted)
    taken: dict[str, list[dict[str, Any]]] = {}
    for request in wanted:
        for planned in request.planned:
            if planned.action is Action.FREEZE_UNDRAWN_LIMIT:
                outcome, detail = _freeze(batch, request, now)
            elif planned.action is Action.LOWER_LIMIT:
                outcome, detail = _lower(batch, request, planned, now)
            elif planned.action is Action.REFER_REVIEW:
                outcome, detail = _refer(conn, batch, request, now)
            else:
                outcome, detail = _collect(batch, request, now)
            params = {**planned.params(), **detail}
            batch.audit_rows.append(
                {
                    "alert_id": request.alert_id,
                    "person_id": request.person_id,
                    "action": planned.action.value,
                    "params": params,
                    "outcome": outcome,
                    "policy_version": policy.version,
                    "policy_hash": policy.hash,
                    "actor": SYSTEM_ACTOR,
                    "at": now,
                }
            )
            taken.setdefault(request.alert_id, []).append(
                {
                    "action": planned.action.value,
                    "outcome": outcome,
                    "params": params,
                    "at": now.isoformat(),
                    "policy_version": policy.version,
                    "policy_hash": policy.hash,
                }
            )
    if batch.control_rows:
        conn.execute(insert(CONTROLS), batch.control_rows)
    if batch.entry_rows:
        conn.execute(insert(COLLECTIONS), batch.entry_rows)
    inserted = conn.execute(insert(AUDIT).returning(AUDIT.c.id), batch.audit_rows).scalars()
    audit_log.record_many(conn, "alert_action", [str(i) for i in inserted])
    return taken
