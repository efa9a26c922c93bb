"""Limit controls as acceptance reads them: a person's active freeze or cap on new credit.

Risk monitoring writes ``credit_limit_controls``; servicing only reads them, in the accepting
transaction, so an offer cannot be accepted past a freeze or above a cap set before it. Servicing
knows nothing of alerts beyond the id a control names.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from creditgraph.store.models import CreditLimitControl, table_of

CONTROLS = table_of(CreditLimitControl)
_ACTIVE = (
    select(CONTROLS.c.kind, CONTROLS.c.cap_fen, CONTROLS.c.alert_id)
    .where(CONTROLS.c.person_id == bindparam("person_id"), CONTROLS.c.lifted_at.is_(None))
    .order_by(CONTROLS.c.id)
)


@dataclass(frozen=True, slots=True)
class ActiveControl:
    """The person's active controls folded into one: frozen, or the lowest cap (fen)."""

    frozen: bool
    cap_fen: int | None
    alert_id: str | None
    """The alert behind the strongest control (the freeze, else the lowest cap)."""


def active(conn: Connection, person_id: str) -> ActiveControl | None:
    """The person's active control, or None."""
    rows = conn.execute(_ACTIVE, {"person_id": person_id}).all()
    if not rows:
        return None
    freezes = [r for r in rows if r.kind == "frozen"]
    if freezes:
        return ActiveControl(True, None, freezes[0].alert_id)
    caps = [r for r in rows if r.cap_fen is not None]
    if not caps:
        return None
    lowest = min(caps, key=lambda r: int(r.cap_fen))
    return ActiveControl(False, int(lowest.cap_fen), lowest.alert_id)
