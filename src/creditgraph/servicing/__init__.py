"""Loan servicing maths: repayment schedules and the all-in annualised rate, as pure functions.

Everything here takes and returns plain values (Decimal yuan, dates); persistence and the loan
lifecycle live elsewhere and call in.
"""

from creditgraph.servicing.apr import (
    RateBasis,
    all_in_rate,
    all_in_rate_dated,
    schedule_all_in_rate,
)
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.daycount import DayCount, accrued_interest
from creditgraph.servicing.errors import AllInRateError, ScheduleError
from creditgraph.servicing.model import (
    GraceType,
    Method,
    Schedule,
    ScheduleRequest,
    ScheduleRow,
    Totals,
)
from creditgraph.servicing.rounding import InstalmentFit, RoundingPolicy
from creditgraph.servicing.schedules import (
    STRATEGIES,
    TotalsConvention,
    annuity_payment,
    generate_schedule,
    quote_totals,
)

__all__ = [
    "STRATEGIES",
    "AllInRateError",
    "DayCount",
    "Frequency",
    "GraceType",
    "InstalmentFit",
    "Method",
    "RateBasis",
    "RoundingPolicy",
    "Schedule",
    "ScheduleError",
    "ScheduleRequest",
    "ScheduleRow",
    "Totals",
    "TotalsConvention",
    "accrued_interest",
    "all_in_rate",
    "all_in_rate_dated",
    "annuity_payment",
    "generate_schedule",
    "quote_totals",
    "schedule_all_in_rate",
]
