"""The applicant context: the plain values a decision reads, checked and made canonical.

Without a valid credit_assessment consent, every social field is removed here, before rules,
limits or the inputs hash see it: the decision is then provably made without social data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.rules import Policy
from creditgraph.money import from_fen

INT_FIELDS = (
    "age",
    "ext_loans",
    "ext_open_loans",
    "ext_overdue_loans",
    "ext_max_dpd",
    "ext_open_amount_fen",
    "income_monthly_fen",
    "degree",
    "social_age_days",
    "account_age_days",
    "consented_sources",
)
BOOL_FIELDS = ("consent_credit_assessment", "fraud_ring_member", "thin_file", "score_uses_social")
NUMBER_FIELDS = ("pd", "score")
TEXT_FIELDS = ("grade", "segment", "model_version")
ALWAYS_SOCIAL = ("degree", "social_age_days", "consented_sources")


@dataclass(frozen=True)
class ModelReason:
    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class ApplicantContext:
    """``values`` is what rules see and what is hashed; the rest are typed views of it."""

    values: Mapping[str, Any]
    reasons: tuple[ModelReason, ...]
    social_used: bool

    def int(self, name: str, default: int = 0) -> int:
        value = self.values.get(name)
        return default if value is None else int(value)

    @property
    def income_monthly(self) -> Decimal:
        return from_fen(self.int("income_monthly_fen"))

    @property
    def other_open_amount(self) -> Decimal:
        return from_fen(self.int("ext_open_amount_fen"))

    @property
    def pd(self) -> float | None:
        value = self.values.get("pd")
        return None if value is None else float(value)


def _check(name: str, value: object) -> object:
    if value is None:
        return None
    if name in INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DecisionInputError(name, f"must be a non-negative integer, got {value!r}")
    elif name in BOOL_FIELDS:
        if not isinstance(value, bool):
            raise DecisionInputError(name, f"must be true or false, got {value!r}")
    elif name in NUMBER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DecisionInputError(name, f"must be a number, got {value!r}")
        if name == "pd" and not 0 <= value <= 1:
            raise DecisionInputError(name, f"must be between 0 and 1, got {value!r}")
    elif name in TEXT_FIELDS and not isinstance(value, str):
        raise DecisionInputError(name, f"must be text, got {value!r}")
    return value


def _reasons(raw: object) -> tuple[ModelReason, ...]:
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
        raise DecisionInputError("reasons", "must be a list of {code, zh, en}")
    out = []
    for item in raw:
        get = item.get if isinstance(item, Mapping) else lambda k, i=item: getattr(i, k, None)
        code, zh, en = get("code"), get("zh"), get("en")
        if not all(isinstance(v, str) and v for v in (code, zh, en)):
            raise DecisionInputError("reasons", f"each reason needs code, zh and en; got {item!r}")
        out.append(ModelReason(code=str(code), zh=str(zh), en=str(en)))
    return tuple(out)


def _thin(values: Mapping[str, Any], policy: Policy, social: bool) -> bool:
    if social:
        history = max(values.get("social_age_days") or 0, values.get("account_age_days") or 0)
        return bool(
            (values.get("degree") or 0) < policy.thin_file.min_degree
            or history < policy.thin_file.min_history_days
        )
    return not values.get("ext_loans")


def feature_count(value: object) -> int | None:
    """A non-negative integer from a stored feature (floats, NaN and None tolerated)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if value != value else max(0, round(value))


def raw_context(
    features: Mapping[str, Any],
    scored: Mapping[str, Any],
    policy: Policy,
    *,
    consent: bool,
    sources: int,
) -> dict[str, Any]:
    """The raw context of a person's stored features and their score, for ``build_context``.

    One definition for live decisions and backtests alike, so a backtest decides exactly as the
    decision service would have on the same features.
    """
    context: dict[str, Any] = {name: feature_count(features.get(name)) for name in INT_FIELDS}
    context["age"] = feature_count(features.get("age_years"))
    context["segment"] = features.get("segment")
    context["consent_credit_assessment"] = consent
    context["consented_sources"] = sources
    for name in policy.social_fields:
        if name not in context and isinstance(features.get(name), int | float):
            context[name] = features[name]
    context.update(
        score=float(scored["score"]),
        pd=float(scored["pd"]),
        grade=str(scored["grade"]),
        model_version=str(scored["model_id"]),
        score_uses_social=consent,
        reasons=[{"code": r["code"], "zh": r["zh"], "en": r["en"]} for r in scored["reasons"]],
    )
    return context


def build_context(raw: Mapping[str, object], policy: Policy) -> ApplicantContext:
    """Check ``raw``, drop social fields without consent, derive ``thin_file`` when absent."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "reasons":
            continue
        values[str(name)] = _check(str(name), value)
    consent = values.get("consent_credit_assessment") is True
    values["consent_credit_assessment"] = consent
    if not consent:
        if values.get("score_uses_social") is True:
            raise DecisionInputError(
                "score_uses_social",
                "the score used social data but there is no credit_assessment consent; "
                "score with the model without social features",
            )
        for name in (*ALWAYS_SOCIAL, *policy.social_fields):
            values.pop(name, None)
    if values.get("thin_file") is None:
        values["thin_file"] = _thin(values, policy, consent)
    return ApplicantContext(
        values=values, reasons=_reasons(raw.get("reasons")), social_used=consent
    )
