"""The as-of instant: a calendar date in the business time zone, as UTC epoch seconds.

Every feature, seed and edge is computed from events strictly before this instant.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

DAY = 86_400


def as_of_epoch(as_of: date, timezone: str) -> int:
    """Midnight at the start of ``as_of`` in ``timezone``, in seconds since 1970 UTC."""
    return int(datetime.combine(as_of, time(0), tzinfo=ZoneInfo(timezone)).timestamp())
