"""An offer's repayment frequency, read from the offer itself.

Offers stored before they carried ``frequency`` still carry their schedule, whose due dates
were stepped by the product's frequency; servicing reads it back from them rather than from the
product catalogue, which belongs to the decision layer above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from creditgraph.servicing.calendar import Frequency

_BY_STEP = {timedelta(days=7): Frequency.WEEKLY, timedelta(days=14): Frequency.BIWEEKLY}


def frequency_of_due_dates(due_dates: Sequence[date]) -> Frequency:
    """The frequency that steps ``due_dates``: weekly or biweekly when every gap is 7 or 14
    days, otherwise monthly (also when fewer than two dates cannot tell)."""
    gaps = {later - earlier for earlier, later in pairwise(due_dates)}
    if len(gaps) == 1:
        return _BY_STEP.get(gaps.pop(), Frequency.MONTHLY)
    return Frequency.MONTHLY


def offer_frequency(offer: Mapping[str, Any]) -> Frequency:
    """The offer's ``frequency``; for an offer stored before it carried one, the frequency its
    schedule's due dates were stepped by."""
    stated = offer.get("frequency")
    if stated is not None:
        return Frequency(stated)
    rows = offer.get("schedule", {}).get("rows", [])
    return frequency_of_due_dates([date.fromisoformat(str(row["due_date"])) for row in rows])
