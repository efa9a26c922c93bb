"""The simulated world's calendar: every timestamp is UTC epoch seconds measured from one end date.

Loan outcomes need 12 months to mature and features need history before each application, so the
calendar runs backwards from ``end_date``: the last 12-month outcome window, the application window
(``cohort_months`` long, so that early loans' outcomes are known when later people apply), then the
history the features look back on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from creditgraph.simulate.config import SimulationConfig

DAY = 86_400
YEAR = 365 * DAY
OUTCOME_MONTHS = 12  # the contract's default definition: 90+ days past due within 12 months


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later (earlier when negative), clipped to the month's last day."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = (nxt - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


def epoch(d: date) -> int:
    """Seconds since 1970-01-01 UTC at the start of ``d``."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def to_date(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, tz=UTC).date()


def add_months_seconds(
    seconds: NDArray[np.int64], months: int | NDArray[np.int64]
) -> NDArray[np.int64]:
    """Shift epoch seconds by calendar months (one count, or one per element), keeping the day and
    time of day; a day the target month lacks clips to its last day (Jan 31 + 1 month = Feb 28)."""
    days = seconds // DAY
    rest = seconds - days * DAY
    as_day = days.astype("datetime64[D]")
    month = as_day.astype("datetime64[M]")
    day_in_month = (as_day - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    shifted = target.astype("datetime64[D]").astype(np.int64) + np.minimum(
        day_in_month, month_len - 1
    )
    return np.asarray(shifted * DAY + rest, dtype=np.int64)


@dataclass(frozen=True)
class Timeline:
    """Key instants of the world, in epoch seconds (UTC).

    ``history_start`` <= ``cohort_start`` < ``cohort_end`` <= ``world_end``; applications fall in
    the cohort, which ends 12 months before ``world_end``, so every loan's outcome window is
    complete (and its outcome observed) before the world ends.
    """

    end_date: date
    world_end: int  # exclusive: midnight after end_date
    cohort_start: int
    cohort_end: int
    history_start: int
    month_starts: NDArray[np.int64]  # month boundaries from history_start to world_end, inclusive

    @classmethod
    def from_config(cls, config: SimulationConfig) -> Timeline:
        end = config.end_date + timedelta(days=1)
        cohort_end = add_months(end, -OUTCOME_MONTHS)
        cohort_start = add_months(cohort_end, -config.cohort_months)
        history_start = add_months(cohort_start, -config.months)
        first = date(history_start.year, history_start.month, 1)
        bounds = []
        m = first
        while epoch(m) < epoch(end):
            bounds.append(epoch(m))
            m = add_months(m, 1)
        bounds.append(epoch(end))
        starts = np.array(bounds, dtype=np.int64)
        starts[0] = max(int(starts[0]), epoch(history_start))
        return cls(
            end_date=config.end_date,
            world_end=epoch(end),
            cohort_start=epoch(cohort_start),
            cohort_end=epoch(cohort_end),
            history_start=epoch(history_start),
            month_starts=starts,
        )

    @property
    def n_months(self) -> int:
        return len(self.month_starts) - 1

    def month_of(self, seconds: NDArray[np.int64]) -> NDArray[np.int64]:
        """Index of the month holding each instant (clipped to the history window)."""
        idx = np.searchsorted(self.month_starts, seconds, side="right") - 1
        return np.clip(idx, 0, self.n_months - 1).astype(np.int64)
