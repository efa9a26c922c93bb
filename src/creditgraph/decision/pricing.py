"""Risk-based pricing inside the product's band, bound by the all-in annual rate cap.

The nominal rate rises linearly with PD from the band's minimum (PD <= pd_at_band_min) to its
maximum (PD >= pd_at_band_max), in whole basis points. The cap binds the **all-in** rate — the
IRR of the borrower's actual cash flows, fees included, over the principal actually received
(PBoC Announcement [2021] No. 3), computed by ``schedule_all_in_rate`` — so when fees push the
all-in rate over the cap, the nominal rate is lowered (never below the band's minimum) until it
fits; if even the minimum does not fit, there is no offer for that term.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from creditgraph.decision.config import Pricing
from creditgraph.decision.products import Product
from creditgraph.money import quantize_fen
from creditgraph.servicing import (
    Method,
    Schedule,
    ScheduleRequest,
    generate_schedule,
    schedule_all_in_rate,
)

BP = Decimal("0.0001")


@dataclass(frozen=True)
class Price:
    nominal_rate: Decimal
    all_in_rate: Decimal
    rate_cap: Decimal
    risk_rate: Decimal
    schedule: Schedule


def risk_rate(product: Product, pd: float, pricing: Pricing) -> Decimal:
    """The band rate for ``pd``: linear between the two PD anchors, rounded half-up to a bp."""
    low, high = pricing.pd_at_band_min, pricing.pd_at_band_max
    share = (Decimal(repr(pd)) - low) / (high - low)
    share = min(Decimal(1), max(Decimal(0), share))
    rate = product.rate.min + (product.rate.max - product.rate.min) * share
    return rate.quantize(BP, ROUND_HALF_UP)


def schedule_for(
    product: Product, amount: Decimal, term: int, method: Method, rate: Decimal, start: date
) -> Schedule:
    """The schedule of an offer: the product's fees as fen amounts on the principal."""
    request = ScheduleRequest(
        principal=amount,
        annual_rate=rate,
        periods=term,
        method=method,
        start=start,
        frequency=product.frequency,
        upfront_fee=quantize_fen(amount * product.fees.upfront_rate),
        fee_per_period=quantize_fen(amount * product.fees.monthly_rate),
    )
    return generate_schedule(request)


def price(
    product: Product,
    *,
    amount: Decimal,
    term: int,
    method: Method,
    pd: float,
    start: date,
    pricing: Pricing,
) -> Price | None:
    """The highest risk-based price whose all-in rate is within the cap, or None."""
    cap = pricing.rate_cap
    wanted = risk_rate(product, pd, pricing)
    top = min(wanted, cap.quantize(BP, ROUND_DOWN))
    floor = product.rate.min

    def attempt(rate: Decimal) -> tuple[Schedule, Decimal]:
        schedule = schedule_for(product, amount, term, method, rate, start)
        return schedule, schedule_all_in_rate(schedule)

    if top < floor:
        return None
    schedule, all_in = attempt(top)
    if all_in <= cap:
        return Price(top, all_in, cap, wanted, schedule)
    low_schedule, low_all_in = attempt(floor)
    if low_all_in > cap:
        return None
    # The all-in rate rises with the nominal rate: bisect whole basis points in [floor, top).
    lo, hi = int(floor / BP), int(top / BP)
    best = (floor, low_schedule, low_all_in)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        rate = mid * BP
        schedule, all_in = attempt(rate)
        if all_in <= cap:
            lo, best = mid, (rate, schedule, all_in)
        else:
            hi = mid
    rate, schedule, all_in = best
    return Price(rate, all_in, cap, wanted, schedule)
