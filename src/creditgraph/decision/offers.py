"""An offer: amount, term, method, nominal and all-in rate, and the full repayment schedule."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from creditgraph.decision.pricing import Price
from creditgraph.decision.products import Product
from creditgraph.servicing import Frequency, Method, Schedule


@dataclass(frozen=True)
class Offer:
    product_code: str
    amount: Decimal
    term_months: int
    schedule_type: Method
    requested: bool
    nominal_rate: Decimal
    all_in_rate: Decimal
    rate_cap: Decimal
    upfront_fee: Decimal
    net_disbursement: Decimal
    prepayment_fee_rate: Decimal
    schedule: Schedule
    frequency: Frequency = Frequency.MONTHLY
    """How often instalments fall due: servicing reads it from the accepted offer."""

    def to_dict(self) -> dict[str, Any]:
        schedule = self.schedule.as_dict()
        return {
            "product_code": self.product_code,
            "amount": str(self.amount),
            "term_months": self.term_months,
            "schedule_type": self.schedule_type.value,
            "requested": self.requested,
            "nominal_rate": str(self.nominal_rate),
            "all_in_rate": str(self.all_in_rate),
            "rate_cap": str(self.rate_cap),
            "upfront_fee": str(self.upfront_fee),
            "net_disbursement": str(self.net_disbursement),
            "prepayment_fee_rate": str(self.prepayment_fee_rate),
            "frequency": self.frequency.value,
            "total_cost": str(self.schedule.total_cost),
            "schedule": {"rows": schedule["rows"], "totals": schedule["totals"]},
        }


def make_offer(product: Product, price: Price, *, requested: bool) -> Offer:
    schedule = price.schedule
    request = schedule.request
    return Offer(
        product_code=product.code,
        amount=request.principal,
        term_months=request.periods,
        schedule_type=request.method,
        requested=requested,
        nominal_rate=price.nominal_rate,
        all_in_rate=price.all_in_rate,
        rate_cap=price.rate_cap,
        upfront_fee=request.upfront_fee,
        net_disbursement=schedule.net_disbursement,
        prepayment_fee_rate=product.fees.prepayment_rate,
        schedule=schedule,
        frequency=request.frequency,
    )
