"""``decide``: one application, one applicant context, one immutable decision. No I/O.

Order: check the application against the product; build the context (social data removed without
consent); run the policy; check the product's segment and data requirements; compute the limit;
price the offer under the all-in cap. Every step that turns an applicant down adds a fired rule
with a reason, so the decision always says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from creditgraph.canonical import plain, sha256_of
from creditgraph.decision.config import DecisionConfig
from creditgraph.decision.context import ApplicantContext, build_context
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.limits import LimitResult, compute_limit
from creditgraph.decision.offers import Offer, make_offer
from creditgraph.decision.pricing import price
from creditgraph.decision.products import Catalogue, Product
from creditgraph.decision.rules import SEVERITY, FiredRule, Outcome, Policy, evaluate
from creditgraph.money import MoneyError, as_decimal, is_whole_fen
from creditgraph.servicing import Method

MAX_REASONS = 4


@dataclass(frozen=True)
class Application:
    person_id: str
    product_code: str
    amount: Decimal
    term_months: int
    purpose: str
    schedule_type: Method | str
    as_of: date

    def to_dict(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "product_code": self.product_code,
            "amount": str(self.amount),
            "term_months": self.term_months,
            "purpose": self.purpose,
            "schedule_type": str(self.schedule_type),
            "as_of": self.as_of.isoformat(),
        }


@dataclass(frozen=True)
class Reason:
    code: str
    source: str  # "policy" or "model"
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "source": self.source, "zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    person_id: str
    product_code: str
    social_data_used: bool
    limit: Decimal
    limit_detail: LimitResult | None
    offers: tuple[Offer, ...]
    reasons: tuple[Reason, ...]
    fired_rules: tuple[FiredRule, ...]
    score: float | None
    pd: float | None
    grade: str | None
    model_version: str | None
    features: Mapping[str, Any]
    inputs_hash: str
    policy_version: str
    policy_hash: str
    catalogue_version: str
    catalogue_hash: str
    config_version: str
    config_hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals and dates as strings."""
        return {
            "outcome": self.outcome.value,
            "person_id": self.person_id,
            "product_code": self.product_code,
            "social_data_used": self.social_data_used,
            "limit": str(self.limit),
            "limit_detail": None if self.limit_detail is None else self.limit_detail.to_dict(),
            "offers": [offer.to_dict() for offer in self.offers],
            "reasons": [reason.to_dict() for reason in self.reasons],
            "fired_rules": [rule.to_dict() for rule in self.fired_rules],
            "score": self.score,
            "pd": self.pd,
            "grade": self.grade,
            "model_version": self.model_version,
            "features": plain(dict(self.features)),
            "inputs_hash": self.inputs_hash,
            "policy": {"version": self.policy_version, "hash": self.policy_hash},
            "catalogue": {"version": self.catalogue_version, "hash": self.catalogue_hash},
            "config": {"version": self.config_version, "hash": self.config_hash},
        }


# Rules the engine itself applies (product fit, limit, price), with what the borrower is told.
_ENGINE_RULES: dict[str, tuple[str, Outcome, str, str]] = {
    "PRD-SEGMENT": (
        "product",
        Outcome.DECLINE,
        "本产品不面向申请人所属的客户群体",
        "This product is not offered to the applicant's customer segment",
    ),
    "PRD-SOCIAL-REQUIRED": (
        "product",
        Outcome.DECLINE,
        "本产品需要授权使用社交数据，可选择不需要社交数据的产品",
        "This product needs consent to use social data; products without it are available",
    ),
    "PRD-DATA-DEPTH": (
        "product",
        Outcome.DECLINE,
        "可用于评估的社交数据不足以申请本产品",
        "There is not yet enough social data to assess this product",
    ),
    "LIM-BELOW-MIN": (
        "limit",
        Outcome.DECLINE,
        "按还款能力和监管上限计算的额度低于本产品的最低金额",
        "The limit from repayment capacity and the legal caps is below this product's minimum",
    ),
    "PRC-CAP": (
        "pricing",
        Outcome.DECLINE,
        "该期限的综合年化成本无法控制在利率上限以内",
        "The all-in annual rate for this term cannot be kept within the rate cap",
    ),
}


def _engine_rule(rule_id: str) -> FiredRule:
    stage, outcome, zh, en = _ENGINE_RULES[rule_id]
    return FiredRule(id=rule_id, stage=stage, outcome=outcome, zh=zh, en=en)


def validate_application(
    application: Application, products: Catalogue
) -> tuple[Product, Method, Decimal]:
    """The product and method of a well-formed application, or a ``DecisionInputError``."""
    if not isinstance(application.person_id, str) or not application.person_id.strip():
        raise DecisionInputError("person_id", "must be a non-empty identifier")
    product = products.get(application.product_code)
    if product is None:
        known = ", ".join(products.codes)
        raise DecisionInputError(
            "product_code", f"unknown product {application.product_code!r}; known: {known}"
        )
    try:
        amount = as_decimal(application.amount, "amount")
    except MoneyError as exc:
        raise DecisionInputError("amount", str(exc)) from None
    if not is_whole_fen(amount):
        raise DecisionInputError("amount", f"{amount} has more than 2 decimals")
    if not product.amount.min <= amount <= product.amount.max:
        raise DecisionInputError(
            "amount",
            f"{amount} is outside {product.code}'s range "
            f"{product.amount.min} to {product.amount.max}",
        )
    term = application.term_months
    if isinstance(term, bool) or not isinstance(term, int) or term not in product.terms:
        raise DecisionInputError(
            "term_months", f"{term!r} is not a term of {product.code}: {list(product.terms)}"
        )
    try:
        method = Method(str(application.schedule_type))
    except ValueError:
        method = None
    if method is None or method not in product.schedule_types:
        allowed = [m.value for m in product.schedule_types]
        raise DecisionInputError(
            "schedule_type",
            f"{application.schedule_type!r} is not offered by {product.code}: {allowed}",
        )
    if application.purpose not in product.purposes:
        raise DecisionInputError(
            "purpose",
            f"{application.purpose!r} is not a purpose of {product.code}: {list(product.purposes)}",
        )
    if not isinstance(application.as_of, date):
        raise DecisionInputError("as_of", "must be a date")
    return product, method, amount


def _product_rules(product: Product, context: ApplicantContext) -> list[FiredRule]:
    out = []
    if context.values.get("segment") not in product.segments:
        out.append(_engine_rule("PRD-SEGMENT"))
    need = product.required_data
    if not context.social_used:
        if need.social_required:
            out.append(_engine_rule("PRD-SOCIAL-REQUIRED"))
        return out
    history = max(context.int("social_age_days"), context.int("account_age_days"))
    if (
        context.int("degree") < need.min_degree
        or history < need.min_history_days
        or context.int("consented_sources") < need.min_sources
    ):
        out.append(_engine_rule("PRD-DATA-DEPTH"))
    return out


def _reasons(fired: tuple[FiredRule, ...], context: ApplicantContext) -> tuple[Reason, ...]:
    """At most four: the policy reasons behind the outcome first, then the model's."""
    ranked = sorted(
        (rule for rule in fired if rule.outcome in (Outcome.DECLINE, Outcome.REFER)),
        key=lambda rule: -SEVERITY[rule.outcome],
    )
    flags = [rule for rule in fired if rule.outcome is Outcome.FLAG]
    out = [Reason(rule.id, "policy", rule.zh, rule.en) for rule in (*ranked, *flags)]
    out += [Reason(r.code, "model", r.zh, r.en) for r in context.reasons]
    unique: dict[str, Reason] = {}
    for reason in out:
        unique.setdefault(reason.code, reason)
    return tuple(list(unique.values())[:MAX_REASONS])


def inputs_hash(application: Application, context: ApplicantContext) -> str:
    """SHA-256 of the canonical JSON of the application and the context as decided on."""
    reasons = [{"code": r.code, "zh": r.zh, "en": r.en} for r in context.reasons]
    return sha256_of(
        {"application": application.to_dict(), "context": dict(context.values), "reasons": reasons}
    )


def decide(
    application: Application,
    context: Mapping[str, object],
    products: Catalogue,
    policy: Policy,
    config: DecisionConfig,
) -> Decision:
    """Decide one application. Pure: the same inputs always give the same decision."""
    product, method, requested_amount = validate_application(application, products)
    ctx = build_context(context, policy)
    result = evaluate(policy, ctx.values)
    fired = [*result.fired, *_product_rules(product, ctx)]
    outcome = max(
        (result.outcome, *(rule.outcome for rule in fired[len(result.fired) :])),
        key=SEVERITY.__getitem__,
    )
    limit_detail = None
    offers: tuple[Offer, ...] = ()
    pd = ctx.pd
    if outcome is not Outcome.DECLINE and pd is not None:
        limit_detail = compute_limit(
            ctx,
            product_max=product.amount.max,
            term_months=application.term_months,
            rate_cap=config.pricing.rate_cap,
            rule_factor=result.limit_factor,
            limits=config.limits,
        )
        amount = min(requested_amount, limit_detail.limit)
        if limit_detail.limit < product.amount.min:
            fired.append(_engine_rule("LIM-BELOW-MIN"))
        else:
            priced = price(
                product,
                amount=amount,
                term=application.term_months,
                method=method,
                pd=pd,
                start=application.as_of,
                pricing=config.pricing,
            )
            if priced is None:
                fired.append(_engine_rule("PRC-CAP"))
            else:
                requested = amount == requested_amount
                offers = (make_offer(product, priced, requested=requested),)
        if not offers:
            outcome = Outcome.DECLINE
    fired_rules = tuple(fired)
    score = ctx.values.get("score")
    grade = ctx.values.get("grade")
    model_version = ctx.values.get("model_version")
    return Decision(
        outcome=outcome,
        person_id=application.person_id,
        product_code=product.code,
        social_data_used=ctx.social_used,
        limit=Decimal("0.00")
        if outcome is Outcome.DECLINE or limit_detail is None
        else limit_detail.limit,
        limit_detail=limit_detail,
        offers=offers if outcome is not Outcome.DECLINE else (),
        reasons=_reasons(fired_rules, ctx),
        fired_rules=fired_rules,
        score=None if score is None else float(score),
        pd=pd,
        grade=None if grade is None else str(grade),
        model_version=None if model_version is None else str(model_version),
        features=dict(ctx.values),
        inputs_hash=inputs_hash(application, ctx),
        policy_version=policy.version,
        policy_hash=policy.hash,
        catalogue_version=products.version,
        catalogue_hash=products.hash,
        config_version=config.version,
        config_hash=config.hash,
    )
