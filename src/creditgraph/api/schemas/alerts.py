"""Alerts of risk monitoring as the API shows them, and the note an officer acts with."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from creditgraph.api.schemas.common import Body, Timestamp


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertType(StrEnum):
    """The detector that raised the alert (``fairness_disparity``: the portfolio fairness
    monitor, about no person; its ``person_id`` is ``portfolio``)."""

    CONTAGION = "contagion"
    ACTIVITY_COLLAPSE = "activity_collapse"
    FRAUD_RING = "fraud_ring"
    MULTI_LENDING = "multi_lending"
    REPAYMENT_STRESS = "repayment_stress"
    FAIRNESS_DISPARITY = "fairness_disparity"


class AlertNoteIn(Body):
    """Who acts is the calling key; the note says what was done (required to resolve)."""

    note: str | None = Field(default=None, max_length=1000, description="What was done, and why.")


class AlertActionOut(BaseModel):
    """An action the policy took when the alert opened (or its severity rose)."""

    action: str = Field(
        description="freeze_undrawn_limit, lower_limit, refer_review or collections_list."
    )
    outcome: str = Field(
        description="What it did: frozen, lowered, referred, listed, already_... or skipped:..."
    )
    params: dict[str, Any] = Field(description="Its parameters and what it touched.")
    at: Timestamp
    policy_version: str
    policy_hash: str


class AlertOut(BaseModel):
    """One alert: a detector's finding about a person, folded with its repeats."""

    id: str
    type: AlertType
    rule: str = Field(description="Which of the detector's conditions held.")
    severity: str = Field(description="low, medium or high.")
    person_id: str = Field(description="The person's pseudonym.")
    status: AlertStatus
    dedup_key: str
    occurred_at: Timestamp = Field(description="The triggering event's time.")
    created_at: Timestamp
    last_seen_at: Timestamp
    repeat_count: int = Field(description="Findings with the same key folded into this alert.")
    evidence: dict[str, Any] = Field(description="Event ids, values before and after, nodes.")
    actions: list[AlertActionOut]
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    acknowledged_note: str | None
    resolved_by: str | None
    resolved_at: Timestamp | None
    resolved_note: str | None


class AlertPageOut(BaseModel):
    """A page of alerts, newest first."""

    alerts: list[AlertOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last.")
