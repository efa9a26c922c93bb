"""The policy rules engine: versioned rules over a plain applicant context, evaluated in order.

A rule is a list of conditions on context fields (all or any must hold) and an outcome. Every
rule that fires is returned with its id, outcome and reason in Chinese and English, in the order
of the policy file, so the same context always gives the same result. The final outcome is the
most severe one that fired (decline > refer > approve); ``flag`` rules only mark the decision
(route without social data, lower the limit). If no deciding rule fires, the policy's default
outcome applies (refer to a human, by default: the engine never approves by omission).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe
from creditgraph.decision.errors import PolicyError

Scalar = bool | int | float | str


class Outcome(StrEnum):
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"
    FLAG = "flag"  # marks the decision; decides nothing


SEVERITY = {Outcome.FLAG: 0, Outcome.APPROVE: 1, Outcome.REFER: 2, Outcome.DECLINE: 3}


class Op(StrEnum):
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    IS_TRUE = "is_true"
    IS_FALSE = "is_false"
    MISSING = "missing"


_NO_VALUE = {Op.IS_TRUE, Op.IS_FALSE, Op.MISSING}
_ORDERED = {Op.LT, Op.LE, Op.GT, Op.GE}


class Condition(FrozenConfig):
    field: str = Field(min_length=1)
    op: Op
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.op in _NO_VALUE and self.value is not None:
            raise ValueError(f"op {self.op} takes no value")
        if self.op not in _NO_VALUE and self.value is None:
            raise ValueError(f"op {self.op} needs a value")
        if (self.op in {Op.IN, Op.NOT_IN}) != isinstance(self.value, list):
            raise ValueError(f"op {self.op}: a list value goes with in/not_in only")
        if self.op in _ORDERED and isinstance(self.value, (bool, str)):
            raise ValueError(f"op {self.op} compares numbers; got {self.value!r}")
        return self

    def holds(self, context: Mapping[str, object]) -> bool:
        """Whether the condition holds; a missing field satisfies only ``missing``."""
        value = context.get(self.field)
        if self.op is Op.MISSING:
            return value is None
        if value is None:
            return False
        if self.op is Op.IS_TRUE:
            return value is True
        if self.op is Op.IS_FALSE:
            return value is False
        if self.op in _ORDERED:
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
                return False
            bound = _number(self.value)
            number = _number(value)
            return {
                Op.LT: number < bound,
                Op.LE: number <= bound,
                Op.GT: number > bound,
                Op.GE: number >= bound,
            }[self.op]
        if self.op is Op.EQ:
            return value == self.value
        if self.op is Op.NE:
            return value != self.value
        options = self.value if isinstance(self.value, list) else []
        return (value in options) == (self.op is Op.IN)


def _number(value: object) -> Decimal:
    # Compare in Decimal via the shortest repr, so 0.08 in the policy equals 0.08 in the context.
    return value if isinstance(value, Decimal) else Decimal(repr(value))


class Rule(FrozenConfig):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,39}$")
    stage: str = Field(min_length=1)
    when: tuple[Condition, ...] = Field(min_length=1)
    match: Literal["all", "any"] = "all"
    outcome: Outcome
    route_no_social: bool = False
    limit_factor: ConfigDecimal | None = Field(default=None, gt=0, le=1)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def fires(self, context: Mapping[str, object]) -> bool:
        results = (condition.holds(context) for condition in self.when)
        return all(results) if self.match == "all" else any(results)


class ThinFile(FrozenConfig):
    """When a file is thin, absent an explicit ``thin_file`` in the context."""

    min_degree: int = Field(default=5, ge=0)
    min_history_days: int = Field(default=90, ge=0)


class _Document(FrozenConfig):
    version: str = Field(min_length=1)
    default_outcome: Outcome = Outcome.REFER
    thin_file: ThinFile = ThinFile()
    social_fields: tuple[str, ...] = ()
    rules: tuple[dict[str, Any], ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> _Document:
        if self.default_outcome is Outcome.FLAG:
            raise ValueError("default_outcome must be approve, refer or decline")
        return self


@dataclass(frozen=True)
class Policy:
    version: str
    hash: str
    default_outcome: Outcome
    thin_file: ThinFile
    social_fields: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class FiredRule:
    """One rule that fired: what it decided and what the borrower is told."""

    id: str
    stage: str
    outcome: Outcome
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "stage": self.stage,
            "outcome": self.outcome.value,
            "zh": self.zh,
            "en": self.en,
        }


@dataclass(frozen=True)
class RulesResult:
    outcome: Outcome
    fired: tuple[FiredRule, ...]
    no_social: bool
    limit_factor: Decimal


def parse_policy(data: dict[str, Any]) -> Policy:
    """Validate parsed policy data; errors name the rule (id and position) and the field."""
    try:
        doc = _Document.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"policy: {describe(exc)}") from None
    rules: list[Rule] = []
    for position, raw in enumerate(doc.rules, start=1):
        try:
            rules.append(Rule.model_validate(raw))
        except ValidationError as exc:
            label = f"rule {raw.get('id', '?')!r} (#{position})"
            raise PolicyError(f"{label}: {describe(exc)}") from None
    ids = [rule.id for rule in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"policy: duplicate rule ids {duplicates}")
    return Policy(
        version=doc.version,
        hash=sha256_of(data),
        default_outcome=doc.default_outcome,
        thin_file=doc.thin_file,
        social_fields=doc.social_fields,
        rules=tuple(rules),
    )


def fired(rule: Rule) -> FiredRule:
    return FiredRule(id=rule.id, stage=rule.stage, outcome=rule.outcome, zh=rule.zh, en=rule.en)


def evaluate(policy: Policy, context: Mapping[str, object]) -> RulesResult:
    """Run every rule in policy order; the most severe deciding outcome wins."""
    hits = [rule for rule in policy.rules if rule.fires(context)]
    deciding = [rule.outcome for rule in hits if rule.outcome is not Outcome.FLAG]
    outcome = max(deciding, key=SEVERITY.__getitem__) if deciding else policy.default_outcome
    factor = Decimal(1)
    for rule in hits:
        if rule.limit_factor is not None:
            factor = min(factor, rule.limit_factor)
    return RulesResult(
        outcome=outcome,
        fired=tuple(fired(rule) for rule in hits),
        no_social=any(rule.route_no_social for rule in hits),
        limit_factor=factor,
    )
