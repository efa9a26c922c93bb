"""The action policy: which actions an alert of a type and severity takes, as versioned data.

Operators change what monitoring does (freeze, lower, refer, collect) by editing a TOML file, not
code; every action taken records the policy's version and content hash, so an audit can say which
policy acted. The packaged default is ``monitoring/actions.toml``; ``action_policy_file`` reads
an operator's file. Factors are exact decimals written as quoted strings (a float is refused).

Pure: reading the file is ``action_policy_file``'s job.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import Field, ValidationError, model_validator

from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe
from creditgraph.monitoring.detectors import Detector, Severity

SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


class ActionPolicyError(ValueError):
    """The action policy is missing, unreadable or invalid."""


class Action(StrEnum):
    """What an alert can do; none of them moves money."""

    FREEZE_UNDRAWN_LIMIT = "freeze_undrawn_limit"
    LOWER_LIMIT = "lower_limit"
    REFER_REVIEW = "refer_review"
    COLLECTIONS_LIST = "collections_list"


ACTION_ORDER = tuple(Action)
"""The order actions run in when several rules match: the strongest control first."""


class ActionRule(FrozenConfig):
    """Alerts of ``type`` (``*`` for any) at ``min_severity`` or above take ``actions``."""

    type: Detector | str
    min_severity: Severity = Severity.HIGH
    actions: tuple[Action, ...] = Field(min_length=1)
    factor: ConfigDecimal | None = Field(default=None, gt=0, lt=1)
    """``lower_limit``: the new cap as a fraction of the person's latest approved limit."""

    @model_validator(mode="after")
    def _consistent(self) -> ActionRule:
        if self.type != "*" and self.type not in set(Detector):
            names = ", ".join(d.value for d in Detector)
            raise ValueError(f"type must be * or one of {names}")
        if Action.LOWER_LIMIT in self.actions and self.factor is None:
            raise ValueError('lower_limit needs a factor, e.g. factor = "0.5"')
        if Action.LOWER_LIMIT not in self.actions and self.factor is not None:
            raise ValueError("factor is only for a rule with the lower_limit action")
        return self

    def matches(self, detector: str, severity: str) -> bool:
        if self.type != "*" and self.type != detector:
            return False
        return SEVERITY_RANK[Severity(severity)] >= SEVERITY_RANK[self.min_severity]


class PlannedAction(FrozenConfig):
    """One action to take for an alert, with its parameters."""

    action: Action
    factor: Decimal | None = None

    def params(self) -> dict[str, str]:
        return {} if self.factor is None else {"factor": str(self.factor)}


class ActionPolicy(FrozenConfig):
    """The whole policy: its version, the suppression window and the rules."""

    version: str = Field(min_length=1, max_length=40)
    suppression_hours: int = Field(default=72, ge=0, le=24 * 365)
    """A finding whose dedup key has an unresolved alert this close in event time folds into it."""
    max_evidence_events: int = Field(default=50, ge=1, le=10_000)
    """At most this many triggering event ids are kept on an alert (the count goes on)."""
    rules: tuple[ActionRule, ...] = ()

    @property
    def suppression(self) -> timedelta:
        return timedelta(hours=self.suppression_hours)

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the policy's canonical content: what an audit row names."""
        return sha256_of(self.model_dump(mode="json"))

    def actions_for(self, detector: str, severity: str) -> list[PlannedAction]:
        """The actions for an alert of ``detector`` at ``severity``, each once, strongest first;
        the smallest factor wins when several rules lower the limit."""
        chosen: dict[Action, Decimal | None] = {}
        for rule in self.rules:
            if not rule.matches(detector, severity):
                continue
            for action in rule.actions:
                if action is Action.LOWER_LIMIT:
                    factor = rule.factor
                    held = chosen.get(action)
                    chosen[action] = factor if held is None or (factor and factor < held) else held
                else:
                    chosen.setdefault(action, None)
        return [PlannedAction(action=a, factor=chosen[a]) for a in ACTION_ORDER if a in chosen]


def parse_action_policy(raw: dict[str, Any]) -> ActionPolicy:
    """A policy from a parsed TOML document; an invalid one raises with its field path."""
    try:
        return ActionPolicy.model_validate(raw)
    except ValidationError as exc:
        raise ActionPolicyError(f"invalid action policy: {describe(exc)}") from None
