"""Limits never exceed a cap; the offered all-in rate is within the cap and is the offer's IRR."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.decision.config import Licence
from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.decision.context import build_context
from creditgraph.decision.limits import compute_limit, depth_multiplier
from creditgraph.decision.pricing import price, risk_rate
from creditgraph.servicing import all_in_rate, schedule_all_in_rate

CATALOGUE = load_catalogue()
POLICY = load_policy()
CONFIG = load_config()
LIMITS = CONFIG.limits


@settings(max_examples=300, deadline=None)
@given(
    income=st.integers(0, 10_000_000),
    other=st.integers(0, 30_000_000),
    pd=st.floats(0, 1),
    degree=st.integers(0, 500),
    history=st.integers(0, 5000),
    sources=st.integers(0, 6),
    consent=st.booleans(),
    term=st.integers(1, 36),
    product_max=st.decimals(100, 500_000, places=2),
    factor=st.sampled_from([Decimal(1), Decimal("0.5")]),
)
def test_limit_never_above_any_cap(
    income: int,
    other: int,
    pd: float,
    degree: int,
    history: int,
    sources: int,
    consent: bool,
    term: int,
    product_max: Decimal,
    factor: Decimal,
) -> None:
    raw = {
        "income_monthly_fen": income,
        "ext_open_amount_fen": other,
        "pd": pd,
        "degree": degree,
        "social_age_days": history,
        "consented_sources": sources,
        "consent_credit_assessment": consent,
    }
    context = build_context(raw, POLICY)
    result = compute_limit(
        context,
        product_max=product_max,
        term_months=term,
        rate_cap=CONFIG.pricing.rate_cap,
        rule_factor=factor,
        limits=LIMITS,
    )
    other_yuan = Decimal(other) / 100
    annual = Decimal(income) / 100 * 12
    assert 0 <= result.limit <= product_max
    assert result.limit + other_yuan <= LIMITS.outstanding_cap or result.limit == 0
    assert result.limit + other_yuan <= annual * LIMITS.income_share_cap or result.limit == 0
    assert result.limit <= result.raw + Decimal("0.01")
    assert result.limit % LIMITS.step == 0
    if not consent:
        assert result.depth_multiplier == LIMITS.depth.no_social > 0


def test_depth_multiplier_grows_with_social_data() -> None:
    def m(**raw: object) -> Decimal:
        return depth_multiplier(
            build_context({"consent_credit_assessment": True, **raw}, POLICY), LIMITS.depth
        )

    thin = m()
    some = m(degree=10, social_age_days=200, consented_sources=1)
    full = m(degree=80, social_age_days=1000, consented_sources=3)
    assert LIMITS.depth.floor == thin < some < full == 1
    no_social = depth_multiplier(build_context({"degree": 80}, POLICY), LIMITS.depth)
    assert no_social == LIMITS.depth.no_social > 0


def test_risk_rate_follows_pd_inside_the_band() -> None:
    product = CATALOGUE.get("XFD-GEN")
    assert product is not None
    pricing = CONFIG.pricing
    assert risk_rate(product, 0.0, pricing) == product.rate.min
    assert risk_rate(product, 0.5, pricing) == product.rate.max
    assert product.rate.min < risk_rate(product, 0.05, pricing) < risk_rate(product, 0.1, pricing)


def test_fees_lower_the_nominal_rate_until_the_all_in_rate_fits() -> None:
    product = CATALOGUE.get("XFD-GEN")  # band max 24%, 1.5% upfront fee
    assert product is not None
    priced = price(
        product,
        amount=Decimal("10000"),
        term=3,
        method=product.schedule_types[0],
        pd=0.5,
        start=date(2026, 1, 1),
        pricing=CONFIG.pricing,
    )
    assert priced is not None
    assert priced.risk_rate == Decimal("0.2400")
    assert priced.nominal_rate < priced.risk_rate
    assert priced.all_in_rate <= Decimal("0.24")
    one_bp_more = price(
        product.model_copy(
            update={
                "rate": product.rate.model_copy(
                    update={"min": priced.nominal_rate + Decimal("0.0001")}
                )
            }
        ),
        amount=Decimal("10000"),
        term=3,
        method=product.schedule_types[0],
        pd=0.5,
        start=date(2026, 1, 1),
        pricing=CONFIG.pricing,
    )
    assert one_bp_more is None  # the rate found is the highest that fits


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_offered_all_in_rate_within_cap_and_equal_to_irr(data: st.DataObject) -> None:
    product = data.draw(st.sampled_from(CATALOGUE.products))
    term = data.draw(st.sampled_from(product.terms))
    method = data.draw(st.sampled_from(product.schedule_types))
    pd = data.draw(st.floats(0, 1))
    cents = data.draw(st.integers(int(product.amount.min * 100), int(product.amount.max * 100)))
    amount = Decimal(cents) / 100
    lpr = data.draw(st.booleans())
    pricing = CONFIG.pricing
    if lpr:
        pricing = pricing.model_copy(update={"licence": Licence.LPR_MULTIPLE})
    priced = price(
        product,
        amount=amount,
        term=term,
        method=method,
        pd=pd,
        start=date(2026, 3, 31),
        pricing=pricing,
    )
    if priced is None:
        return
    schedule = priced.schedule
    assert product.rate.min <= priced.nominal_rate <= product.rate.max
    assert priced.all_in_rate <= pricing.rate_cap
    assert priced.all_in_rate == schedule_all_in_rate(schedule)
    flows = [schedule.net_disbursement] + [-row.payment for row in schedule.rows]
    if method.value != "bullet":  # one payment per period: the undated IRR is the same flows
        assert priced.all_in_rate == all_in_rate(flows)
    assert schedule.net_disbursement == amount - schedule.upfront_fee
    assert schedule.totals.principal == amount
