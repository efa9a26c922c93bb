"""Limit controls set by risk monitoring, as the decision service honours them.

An alert's action may freeze a person's limit or cap it (``credit_limit_controls``). A new
decision for that person is then declined (frozen) or has its limit and offers capped, with a
reason in Chinese and English, so the record says why. Reading the controls is one indexed
query; applying them is a pure function of the engine's decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, bindparam, select

from creditgraph.decision.engine import Decision, Reason
from creditgraph.decision.rules import FiredRule, Outcome
from creditgraph.money import from_fen
from creditgraph.store.models import CreditLimitControl, DecisionRecord, table_of

_CONTROLS = table_of(CreditLimitControl)
_CHUNK = 500
_ACTIVE = select(_CONTROLS.c.person_id, _CONTROLS.c.kind, _CONTROLS.c.cap_fen).where(
    _CONTROLS.c.person_id.in_(bindparam("people", expanding=True)),
    _CONTROLS.c.lifted_at.is_(None),
)

FROZEN = Reason(
    "monitoring_limit_frozen",
    "policy",
    "风险监控已冻结该借款人的授信额度，暂不能发放新的信贷",
    "Risk monitoring has frozen this borrower's credit limit; no new credit can be offered",
)
LOWERED = Reason(
    "monitoring_limit_lowered",
    "policy",
    "风险监控已调低该借款人的授信额度",
    "Risk monitoring has lowered this borrower's credit limit",
)


@dataclass(frozen=True, slots=True)
class LimitControl:
    """A person's active controls folded into one: frozen, or the lowest cap (fen)."""

    frozen: bool
    cap_fen: int | None


def active_controls(conn: Connection, people: Iterable[str]) -> dict[str, LimitControl]:
    """Each of ``people``'s active controls folded into one; people without any are absent."""
    wanted = sorted(set(people))
    frozen: set[str] = set()
    caps: dict[str, int] = {}
    seen: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(_ACTIVE, {"people": wanted[start : start + _CHUNK]})
        for row in rows:
            seen.add(row.person_id)
            if row.kind == "frozen":
                frozen.add(row.person_id)
            elif row.cap_fen is not None:
                held = caps.get(row.person_id)
                caps[row.person_id] = int(row.cap_fen) if held is None else min(held, row.cap_fen)
    return {p: LimitControl(frozen=p in frozen, cap_fen=caps.get(p)) for p in seen}


def active_control(conn: Connection, person_id: str) -> LimitControl | None:
    """The person's active controls, or None when they have none."""
    return active_controls(conn, [person_id]).get(person_id)


def _declined(decision: Decision, reason: Reason) -> Decision:
    rule = FiredRule(reason.code, "monitoring", Outcome.DECLINE, reason.zh, reason.en)
    return dataclasses.replace(
        decision,
        outcome=Outcome.DECLINE,
        limit=Decimal("0.00"),
        offers=(),
        reasons=(*decision.reasons, reason),
        fired_rules=(*decision.fired_rules, rule),
    )


def apply_control(decision: Decision, control: LimitControl | None) -> Decision:
    """``decision`` as the controls allow: declined when frozen; with a cap, the limit capped
    and offers above it dropped (declined when none is left). A decline stays as it is."""
    if control is None or decision.outcome is Outcome.DECLINE:
        return decision
    if control.frozen:
        return _declined(decision, FROZEN)
    if control.cap_fen is None:
        return decision
    cap = from_fen(control.cap_fen)
    if decision.limit <= cap and all(o.amount <= cap for o in decision.offers):
        return decision
    offers = tuple(o for o in decision.offers if o.amount <= cap)
    if decision.offers and not offers:
        return _declined(decision, LOWERED)
    rule = FiredRule(LOWERED.code, "monitoring", Outcome.FLAG, LOWERED.zh, LOWERED.en)
    return dataclasses.replace(
        decision,
        limit=min(decision.limit, cap),
        offers=offers,
        reasons=(*decision.reasons, LOWERED),
        fired_rules=(*decision.fired_rules, rule),
    )


_DECISIONS = table_of(DecisionRecord)
_APPROVED = (
    select(_DECISIONS.c.person_id, _DECISIONS.c.limit_fen)
    .where(
        _DECISIONS.c.person_id.in_(bindparam("people", expanding=True)),
        _DECISIONS.c.outcome == Outcome.APPROVE.value,
    )
    .order_by(_DECISIONS.c.created_at, _DECISIONS.c.id)
)


def latest_approved_limits(conn: Connection, people: Iterable[str]) -> dict[str, int]:
    """Each person's limit (fen) on their latest approved decision; people without one are
    absent. A lowered limit is a fraction of this."""
    wanted = sorted(set(people))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        for row in conn.execute(_APPROVED, {"people": wanted[start : start + _CHUNK]}):
            found[row.person_id] = int(row.limit_fen)
    return found
