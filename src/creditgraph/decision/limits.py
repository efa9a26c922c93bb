"""The credit limit: PD band x repayment capacity x social-data depth, then the caps.

    raw   = pd_factor(PD) x capacity(income, other debt, term, rate cap) x depth x rule factor
    limit = round_down(min(raw, outstanding cap - other open, income cap - other open,
                           product max), step)

Capacity is the principal whose level monthly instalment, at the annual rate cap (the dearest
price we could charge), fits in ``max_dti x income - other open debt / other_debt_months``.
The formula and its defaults are documented in docs/decisions.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from creditgraph.decision.config import Depth, Limits
from creditgraph.decision.context import ApplicantContext

ZERO = Decimal(0)


@dataclass(frozen=True)
class LimitResult:
    """The limit and every factor and cap behind it, so a reviewer can retrace it."""

    limit: Decimal
    pd_factor: Decimal
    monthly_capacity: Decimal
    capacity: Decimal
    depth_multiplier: Decimal
    rule_factor: Decimal
    raw: Decimal
    caps: dict[str, Decimal]
    binding: str

    def to_dict(self) -> dict[str, object]:
        return {
            "limit": str(self.limit),
            "pd_factor": str(self.pd_factor),
            "monthly_capacity": str(self.monthly_capacity),
            "capacity": str(self.capacity),
            "depth_multiplier": str(self.depth_multiplier),
            "rule_factor": str(self.rule_factor),
            "raw": str(self.raw),
            "caps": {
                name: str(value.quantize(Decimal("0.01"), ROUND_DOWN))
                for name, value in sorted(self.caps.items())
            },
            "binding": self.binding,
        }


def pd_factor(pd: float | None, limits: Limits) -> Decimal:
    """The share of capacity a PD earns: the first band whose ``max_pd`` is at or above it."""
    if pd is None:
        return ZERO
    value = Decimal(repr(pd))
    for band in limits.pd_bands:
        if value <= band.max_pd:
            return band.factor
    return ZERO


def depth_multiplier(context: ApplicantContext, depth: Depth) -> Decimal:
    """How much verified social data supports the score, in ``[floor, 1]``.

    The mean of three saturating shares — circle size (degree / degree_full), history
    (max(social_age_days, account_age_days) / history_full_days) and consented sources
    (consented_sources / sources_full) — lifts the multiplier from ``floor`` to 1. Without
    consent the fixed ``no_social`` multiplier applies: smaller, never zero.
    """
    if not context.social_used:
        return depth.no_social
    history = max(context.int("social_age_days"), context.int("account_age_days"))
    shares = (
        min(Decimal(context.int("degree")) / depth.degree_full, Decimal(1)),
        min(Decimal(history) / depth.history_full_days, Decimal(1)),
        min(Decimal(context.int("consented_sources")) / depth.sources_full, Decimal(1)),
    )
    score = sum(shares, ZERO) / 3
    return (depth.floor + (1 - depth.floor) * score).quantize(Decimal("0.0001"), ROUND_DOWN)


def annuity_principal(payment: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    """The principal a level monthly ``payment`` repays over ``months`` at ``annual_rate``."""
    if payment <= 0:
        return ZERO
    rate = annual_rate / 12
    if rate == 0:
        return payment * months
    return payment * (1 - (1 + rate) ** -months) / rate


def compute_limit(
    context: ApplicantContext,
    *,
    product_max: Decimal,
    term_months: int,
    rate_cap: Decimal,
    rule_factor: Decimal,
    limits: Limits,
) -> LimitResult:
    """The limit for one product and term; never above any cap, a multiple of ``step``."""
    other_open = context.other_open_amount
    income = context.income_monthly
    monthly = max(ZERO, income * limits.max_dti - other_open / limits.other_debt_months)
    capacity = annuity_principal(monthly, rate_cap, term_months)
    factor = pd_factor(context.pd, limits)
    depth = depth_multiplier(context, limits.depth)
    raw = factor * capacity * depth * rule_factor
    caps = {
        "outstanding": max(ZERO, limits.outstanding_cap - other_open),
        "income_share": max(ZERO, income * 12 * limits.income_share_cap - other_open),
        "product_max": product_max,
    }
    candidates = {"capacity": raw, **caps}
    binding = min(candidates, key=lambda name: (candidates[name], name))
    step = limits.step
    limit = (candidates[binding] / step).to_integral_value(rounding=ROUND_DOWN) * step
    return LimitResult(
        limit=limit.quantize(Decimal("0.01")),
        pd_factor=factor,
        monthly_capacity=monthly.quantize(Decimal("0.01"), ROUND_DOWN),
        capacity=capacity.quantize(Decimal("0.01"), ROUND_DOWN),
        depth_multiplier=depth,
        rule_factor=rule_factor,
        raw=raw.quantize(Decimal("0.01"), ROUND_DOWN),
        caps=caps,
        binding=binding,
    )
