"""The alert store: findings become alerts, repeats fold in, people acknowledge and resolve.

``record_findings`` runs inside the event consumer's transaction, so alerts commit with the
consumer's offsets and a redelivered batch cannot raise an alert twice. A finding whose dedup key
has an unresolved alert whose latest triggering event is within the suppression window (event
time, so a replay gives the same alerts) folds into it: the repeat is counted, the severity raised if higher,
the event ids kept up to a cap. Otherwise a new alert opens and the action policy runs
(``monitoring.actions``). A batch costs one SELECT per 500 dedup keys and bulk writes.

The lifecycle is open -> acknowledged -> resolved (open -> resolved too), each step with who and
a note, and an ``alert_actions`` audit row. A caller may hand a step a hook (``AlertHook``) that
runs on the step's connection before it commits, so the caller's own record of the step (the
workspace's action log) commits with it or not at all. Errors a person reads say what is wrong
in English and Chinese.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from creditgraph.audit import outbox as audit_log
from creditgraph.canonical import sha256_of
from creditgraph.ids import time_ordered_id
from creditgraph.monitoring.action_policy import SEVERITY_RANK, ActionPolicy
from creditgraph.monitoring.actions import AUDIT, CONTROLS, ActionRequest, run_actions
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.store.db import write_transaction
from creditgraph.store.models import Alert, table_of

ALERTS = table_of(Alert)
STATUSES = ("open", "acknowledged", "resolved")
MAX_LIMIT = 1000
_CHUNK = 500
_NOTE_MAX = 1000
_ACTOR_MAX = 100

_UNRESOLVED_OF = select(
    ALERTS.c.id,
    ALERTS.c.dedup_key,
    ALERTS.c.type,
    ALERTS.c.rule,
    ALERTS.c.person_id,
    ALERTS.c.severity,
    ALERTS.c.occurred_at,
    ALERTS.c.repeat_count,
    ALERTS.c.evidence,
    ALERTS.c.actions,
).where(ALERTS.c.dedup_key.in_(bindparam("keys", expanding=True)), ALERTS.c.status != "resolved")
_FOLD = (
    update(ALERTS)
    .where(ALERTS.c.id == bindparam("alert_id"))
    .values(
        severity=bindparam("new_severity"),
        repeat_count=bindparam("new_repeat_count"),
        last_seen_at=bindparam("new_last_seen_at"),
        evidence=bindparam("new_evidence"),
        actions=bindparam("new_actions"),
    )
)
_BY_ID = select(ALERTS).where(ALERTS.c.id == bindparam("id"))

AlertHook = Callable[[Connection, dict[str, Any]], None]
"""A caller's step inside an acknowledge or resolve transaction: called with the connection and
the alert as the step returns it, after the alert and its audit rows are written; an exception
from it rolls the whole step back and propagates."""


class AlertError(ValueError):
    """A request about alerts that cannot be honoured; ``en`` and ``zh`` say why."""

    def __init__(self, en: str, zh: str, field: str | None = None) -> None:
        super().__init__(f"{en} / {zh}")
        self.en = en
        self.zh = zh
        self.field = field


class AlertNotFoundError(AlertError, LookupError):
    """No alert by that id (or no active control for that person)."""


class AlertStateError(AlertError):
    """The step is not allowed in the alert's state."""


@dataclass(frozen=True, slots=True)
class RecordedAlert:
    """What became of one finding: a new alert, or a repeat folded into an open one."""

    alert_id: str
    dedup_key: str
    new: bool
    repeat_count: int
    severity: str
    actions: tuple[str, ...]
    """The actions run for this finding (none for a plain repeat)."""


@dataclass(slots=True)
class _Open:
    """An unresolved alert as the batch sees it; written back once at the end of the batch."""

    id: str
    dedup_key: str
    type: str
    rule: str
    person_id: str
    severity: str
    occurred_at: datetime
    repeat_count: int
    evidence: dict[str, Any]
    actions: list[dict[str, Any]]
    new: bool = False
    dirty: bool = False
    last_seen_at: datetime | None = None
    taken: set[str] = field(default_factory=set)
    vouched: tuple[str, str] | None = None
    """Severity and evidence digest as loaded: a fold that changes either is committed again."""


def _naive(at: datetime) -> datetime:
    """Naive UTC, as every table stores times."""
    if at.tzinfo is None:
        return at
    return (at - at.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]


def _load(conn: Connection, keys: list[str]) -> dict[str, list[_Open]]:
    found: dict[str, list[_Open]] = {}
    # On PostgreSQL the rows are locked until the batch commits: an officer resolving one of
    # them meanwhile waits, instead of the batch folding a repeat into an alert just resolved.
    query = (
        _UNRESOLVED_OF.with_for_update() if conn.dialect.name == "postgresql" else _UNRESOLVED_OF
    )
    for start in range(0, len(keys), _CHUNK):
        for row in conn.execute(query, {"keys": keys[start : start + _CHUNK]}):
            alert = _Open(
                id=row.id,
                dedup_key=row.dedup_key,
                type=row.type,
                rule=row.rule,
                person_id=row.person_id,
                severity=row.severity,
                occurred_at=row.occurred_at,
                repeat_count=int(row.repeat_count),
                evidence=dict(row.evidence or {}),
                actions=list(row.actions or []),
            )
            alert.taken = {a["action"] for a in alert.actions}
            alert.vouched = (alert.severity, sha256_of(alert.evidence))
            found.setdefault(row.dedup_key, []).append(alert)
    return found


def _latest_at(alert: _Open) -> datetime:
    """The latest triggering event folded into ``alert`` (its first one when none since)."""
    text = alert.evidence.get("last_occurred_at")
    return datetime.fromisoformat(text) if isinstance(text, str) else alert.occurred_at


def _gap(alert: _Open, at: datetime) -> timedelta:
    """How far ``at`` lies from the span of the alert's triggering events (0 inside it)."""
    first, latest = alert.occurred_at, _latest_at(alert)
    if at < first:
        return first - at
    return max(timedelta(0), at - latest)


def _absorbing(candidates: list[_Open], at: datetime, window: timedelta) -> _Open | None:
    """The unresolved alert whose triggering events come nearest ``at``, within the window.

    The window runs from the alert's latest repeat, not its first event: a condition that holds
    day after day (a ring still sharing devices, activity still collapsed) stays one alert while
    it is unresolved, and opens a new one only after a quiet spell longer than the window."""
    best: _Open | None = None
    for alert in candidates:
        gap = _gap(alert, at)
        if gap <= window and (best is None or gap < _gap(best, at)):
            best = alert
    return best


def _merge_evidence(alert: _Open, finding: Finding, cap: int) -> None:
    events = list(alert.evidence.get("events", []))
    for event_id in finding.evidence.get("events", []):
        if event_id not in events and len(events) < cap:
            events.append(event_id)
    alert.evidence = {**alert.evidence, "events": events, "last": _plain(finding.evidence)}


def _plain(value: Any) -> Any:
    """Evidence as JSON: datetimes as ISO text, enums by value, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Detector, Severity)):
        return value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _new_alert(finding: Finding, now: datetime, cap: int) -> _Open:
    evidence = _plain(finding.evidence)
    evidence["events"] = list(evidence.get("events", []))[:cap]
    alert = _Open(
        id=time_ordered_id("al", "_").lower(),
        dedup_key=finding.dedup_key,
        type=str(Detector(finding.type).value),
        rule=finding.rule,
        person_id=finding.person_id,
        severity=str(Severity(finding.severity).value),
        occurred_at=_naive(finding.occurred_at),
        repeat_count=0,
        evidence=evidence,
        actions=[],
        new=True,
        last_seen_at=now,
    )
    return alert


def record_findings(
    conn: Connection,
    findings: Sequence[Finding],
    *,
    now: datetime,
    policy: ActionPolicy,
    suppression: timedelta | None = None,
) -> list[RecordedAlert]:
    """Fold ``findings`` into alerts on the caller's connection (and transaction), in order;
    new alerts (and alerts whose severity rose) take the policy's actions. One result per
    finding. ``suppression`` defaults to the policy's window."""
    if not findings:
        return []
    now = _naive(now)
    window = policy.suppression if suppression is None else suppression
    cap = policy.max_evidence_events
    cache = _load(conn, sorted({f.dedup_key for f in findings}))
    touched: list[_Open] = []
    planned: dict[str, tuple[_Open, list[Any]]] = {}
    results: list[tuple[_Open, bool, tuple[str, ...]]] = []
    for finding in findings:
        at = _naive(finding.occurred_at)
        candidates = cache.setdefault(finding.dedup_key, [])
        alert = _absorbing(candidates, at, window)
        if alert is None:
            alert = _new_alert(finding, now, cap)
            candidates.append(alert)
            touched.append(alert)
            steps = policy.actions_for(alert.type, alert.severity)
        else:
            alert.repeat_count += 1
            alert.last_seen_at = now
            _merge_evidence(alert, finding, cap)
            if at > _latest_at(alert):
                alert.evidence["last_occurred_at"] = at.isoformat()
            steps = []
            severity = Severity(finding.severity)
            if SEVERITY_RANK[severity] > SEVERITY_RANK[Severity(alert.severity)]:
                alert.severity = severity.value
                steps = policy.actions_for(alert.type, alert.severity)
            if not alert.dirty and not alert.new:
                touched.append(alert)
            alert.dirty = True
        steps = [s for s in steps if s.action.value not in alert.taken]
        alert.taken.update(s.action.value for s in steps)
        if steps:
            held = planned.setdefault(alert.id, (alert, []))
            held[1].extend(steps)
        fresh = alert.new and alert.repeat_count == 0
        results.append((alert, fresh, tuple(s.action.value for s in steps)))
    requests = [
        ActionRequest(a.id, a.person_id, a.type, a.severity, steps) for a, steps in planned.values()
    ]
    taken = run_actions(conn, requests, policy=policy, now=now)
    for alert_id, records in taken.items():
        planned[alert_id][0].actions.extend(records)
    _write(conn, touched, now)
    return [
        RecordedAlert(
            alert.id,
            alert.dedup_key,
            new,
            alert.repeat_count,
            alert.severity,
            actions,
        )
        for alert, new, actions in results
    ]


def _write(conn: Connection, touched: list[_Open], now: datetime) -> None:
    fresh = [a for a in touched if a.new]
    folded = [a for a in touched if not a.new]
    if fresh:
        conn.execute(
            insert(ALERTS),
            [
                {
                    "id": a.id,
                    "type": a.type,
                    "rule": a.rule,
                    "severity": a.severity,
                    "person_id": a.person_id,
                    "status": "open",
                    "dedup_key": a.dedup_key,
                    "occurred_at": a.occurred_at,
                    "created_at": now,
                    "last_seen_at": a.last_seen_at or now,
                    "repeat_count": a.repeat_count,
                    "evidence": a.evidence,
                    "actions": a.actions,
                }
                for a in fresh
            ],
        )
        audit_log.record_many(conn, "alert", [a.id for a in fresh])
    if folded:
        conn.execute(
            _FOLD,
            [
                {
                    "alert_id": a.id,
                    "new_severity": a.severity,
                    "new_repeat_count": a.repeat_count,
                    "new_last_seen_at": a.last_seen_at or now,
                    "new_evidence": a.evidence,
                    "new_actions": a.actions,
                }
                for a in folded
            ],
        )
        changed = [a.id for a in folded if a.vouched != (a.severity, sha256_of(a.evidence))]
        audit_log.record_many(conn, "alert", changed)


# -- reading -------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def public(row: Any) -> dict[str, Any]:
    """An alert as the API and the CLI show it: times as ISO text (naive UTC)."""
    return {
        "id": row["id"],
        "type": row["type"],
        "rule": row["rule"],
        "severity": row["severity"],
        "person_id": row["person_id"],
        "status": row["status"],
        "dedup_key": row["dedup_key"],
        "occurred_at": _iso(row["occurred_at"]),
        "created_at": _iso(row["created_at"]),
        "last_seen_at": _iso(row["last_seen_at"]),
        "repeat_count": int(row["repeat_count"]),
        "evidence": row["evidence"],
        "actions": row["actions"],
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": _iso(row["acknowledged_at"]),
        "acknowledged_note": row["acknowledged_note"],
        "resolved_by": row["resolved_by"],
        "resolved_at": _iso(row["resolved_at"]),
        "resolved_note": row["resolved_note"],
    }


def _not_found(alert_id: str) -> AlertNotFoundError:
    del alert_id  # the id a caller sent is not repeated back
    return AlertNotFoundError("no such alert", "没有该预警", "alert_id")


def get_alert(engine: Engine, alert_id: str) -> dict[str, Any]:
    """One alert; ``AlertNotFoundError`` when there is none by that id."""
    with engine.connect() as conn:
        row = conn.execute(_BY_ID, {"id": alert_id}).mappings().first()
    if row is None:
        raise _not_found(alert_id)
    return public(row)


@dataclass(frozen=True, slots=True)
class AlertPage:
    """A page of alerts, newest first, and the cursor of the next page (None: the last)."""

    alerts: list[dict[str, Any]]
    next_cursor: str | None


def list_alerts(
    engine: Engine,
    *,
    status: str | None = None,
    type: str | None = None,
    person_id: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AlertPage:
    """Alerts newest first, filtered; ``cursor`` is the last id of the previous page."""
    if status is not None and status not in STATUSES:
        raise AlertError(
            f"status must be one of {', '.join(STATUSES)}",
            f"状态必须是 {'、'.join(STATUSES)} 之一",
            "status",
        )
    # and the portfolio fairness monitor's alerts (creditgraph.compliance.fairness_store)
    types = (*(d.value for d in Detector), "fairness_disparity")
    if type is not None and type not in types:
        raise AlertError(
            f"type must be one of {', '.join(types)}", f"类型必须是 {'、'.join(types)} 之一", "type"
        )
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise AlertError(
            f"limit must be between 1 and {MAX_LIMIT}",
            f"limit 必须在 1 到 {MAX_LIMIT} 之间",
            "limit",
        )
    stmt = select(ALERTS).order_by(ALERTS.c.id.desc()).limit(limit + 1)
    if status is not None:
        stmt = stmt.where(ALERTS.c.status == status)
    if type is not None:
        stmt = stmt.where(ALERTS.c.type == type)
    if person_id is not None:
        stmt = stmt.where(ALERTS.c.person_id == person_id)
    if cursor is not None:
        stmt = stmt.where(ALERTS.c.id < cursor)
    with engine.connect() as conn:
        rows = [public(r) for r in conn.execute(stmt).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return AlertPage(rows, rows[-1]["id"] if more else None)


# -- the lifecycle -------------------------------------------------------------------------------


def _checked(by: str, note: str | None, need_note: bool) -> tuple[str, str | None]:
    if not isinstance(by, str) or not by.strip() or len(by) > _ACTOR_MAX:
        raise AlertError(
            f"by must name who acts (1 to {_ACTOR_MAX} characters)",
            f"by 必须写明操作人（1 到 {_ACTOR_MAX} 个字符）",
            "by",
        )
    if note is not None and not isinstance(note, str):
        raise AlertError("note must be text", "备注必须是文本", "note")
    if need_note and (note is None or not note.strip()):
        raise AlertError("a note saying why is required", "必须填写说明原因的备注", "note")
    if note is not None and len(note) > _NOTE_MAX:
        raise AlertError(
            f"note must be at most {_NOTE_MAX} characters",
            f"备注不能超过 {_NOTE_MAX} 个字符",
            "note",
        )
    return by.strip(), note


def _audit(
    conn: Connection,
    alert_id: str | None,
    person_id: str,
    action: str,
    by: str,
    at: datetime,
    outcome: str,
    params: dict[str, Any] | None = None,
) -> None:
    action_id = conn.execute(
        insert(AUDIT).returning(AUDIT.c.id),
        {
            "alert_id": alert_id,
            "person_id": person_id,
            "action": action,
            "params": params or {},
            "outcome": outcome,
            "policy_version": None,
            "policy_hash": None,
            "actor": by,
            "at": at,
        },
    ).scalar_one()
    audit_log.record(conn, "alert_action", str(action_id))


_ALLOWED = {"acknowledged": ("open",), "resolved": ("open", "acknowledged")}
_STATE_ZH = {"open": "未处理", "acknowledged": "已确认", "resolved": "已解决"}


def _move(
    engine: Engine,
    alert_id: str,
    target: str,
    by: str,
    note: str | None,
    now: datetime | None,
    within: AlertHook | None,
) -> dict[str, Any]:
    step = "acknowledge" if target == "acknowledged" else "resolve"
    by, note = _checked(by, note, need_note=target == "resolved")
    at = _naive(now) if now is not None else _naive(datetime.now().astimezone())
    with write_transaction(engine) as conn:
        row = conn.execute(_BY_ID, {"id": alert_id}).mappings().first()
        if row is None:
            raise _not_found(alert_id)
        state = row["status"]
        if state not in _ALLOWED[target]:
            raise AlertStateError(
                f"alert {alert_id} is {state}: cannot {step} it "
                f"(only an alert that is {' or '.join(_ALLOWED[target])} can be {target})",
                f"预警 {alert_id} 当前为{_STATE_ZH[state]}状态，不能{'确认' if target == 'acknowledged' else '解决'}",
                "status",
            )
        values = {"status": target, f"{target}_by": by, f"{target}_at": at, f"{target}_note": note}
        changed = conn.execute(
            update(ALERTS).where(ALERTS.c.id == alert_id, ALERTS.c.status == state).values(values)
        ).rowcount
        if changed != 1:
            raise AlertStateError(
                f"alert {alert_id} changed meanwhile; read it again",
                f"预警 {alert_id} 已被他人修改，请重新读取",
                "status",
            )
        audit_log.record(conn, "alert", alert_id)
        _audit(conn, alert_id, row["person_id"], step, by, at, target)
        answer = public({**row, **values})
        if within is not None:
            within(conn, answer)
        return answer


def acknowledge(
    engine: Engine,
    alert_id: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
    within: AlertHook | None = None,
) -> dict[str, Any]:
    """An open alert acknowledged: someone is looking at it. ``within`` runs in the same
    transaction (see ``AlertHook``)."""
    return _move(engine, alert_id, "acknowledged", by, note, now, within)


def resolve(
    engine: Engine,
    alert_id: str,
    *,
    by: str,
    note: str,
    now: datetime | None = None,
    within: AlertHook | None = None,
) -> dict[str, Any]:
    """An open or acknowledged alert resolved, with a note saying how. A resolved alert no
    longer absorbs repeats: the next finding with its key opens a new alert. ``within`` runs in
    the same transaction (see ``AlertHook``)."""
    return _move(engine, alert_id, "resolved", by, note, now, within)


def lift_control(
    engine: Engine, person_id: str, *, by: str, note: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Lift every active limit control of the person (an officer's decision, with a note);
    accepting offers and new decisions are no longer held back by them. The controls lifted."""
    by, note_text = _checked(by, note, need_note=True)
    at = _naive(now) if now is not None else _naive(datetime.now().astimezone())
    active = CONTROLS.c.person_id == person_id, CONTROLS.c.lifted_at.is_(None)
    with write_transaction(engine) as conn:
        rows = [dict(r) for r in conn.execute(select(CONTROLS).where(*active)).mappings()]
        if not rows:
            raise AlertNotFoundError(
                "the person has no active limit control",
                "该借款人没有生效中的额度管控",
                "person_id",
            )
        conn.execute(
            update(CONTROLS).where(*active).values(lifted_at=at, lifted_by=by, lift_note=note_text)
        )
        for row in rows:
            _audit(
                conn,
                row["alert_id"],
                person_id,
                "lift_control",
                by,
                at,
                "lifted",
                {"control_id": row["id"], "kind": row["kind"]},
            )
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "cap_fen": r["cap_fen"],
            "alert_id": r["alert_id"],
            "created_at": _iso(r["created_at"]),
            "lifted_at": at.isoformat(),
            "lifted_by": by,
        }
        for r in rows
    ]
