"""Loan servicing: schedules, postings, the end of day, the journal.

Three layers, each importing only the ones below it:

- the pure maths and the core (this package's schedule, rate, allocation, ceiling and
  prepayment modules, and :mod:`.core`): plain values in, plain values or a posting plan out;
  no database, no files, no clock;
- the book (:mod:`.book`): the only servicing code that touches the database, with a unit of
  work that reads typed values and applies posting plans;
- the services (``loans``, ``payments``, ``reversals``, ``refunds``, ``intents``, ``ledger``,
  ``credit_sweep``, ``eod``): read through the book, call the core, hand the plan back.

What this module exports is the schedule maths, which the decision side prices offers with.
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
