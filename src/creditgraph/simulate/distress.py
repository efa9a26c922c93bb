"""Distress before default, planted in the world: activity collapse and income shocks.

Monitoring is worth something only if the people who will default look different before they
do. So, in the weeks before a defaulter's first missed instalment, their social activity and the
interactions they start fall away: the chance of an active day and of each interaction row
ramps down from its usual level to ``FLOOR`` of it at the missed instalment and stays there.
The collapse begins ``COLLAPSE_WEEKS`` before the miss, never before the day after the loan was
taken, so features as of the application (and the models trained on them) do not see it.

Some defaulters also lose most of their income shortly before the collapse (a job lost, a
shop closed), and a few people who repay lose income for a while and recover: the false alarms
a monitor must live with. Income is not a contract table, so shocks show only in the event
stream's ``income_summary`` events and in the ground truth.

Deterministic: one random stream of its own, so the rest of the world is drawn as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from creditgraph.simulate.book import LoanBook
from creditgraph.simulate.clock import DAY

FLOOR = 0.25
"""Share of usual activity left at and after the first missed instalment."""
COLLAPSE_WEEKS = (2, 6)
"""The collapse starts this many weeks (uniformly, in days) before the first missed instalment."""
DEFAULTER_SHOCK_SHARE = 0.6
"""Share of collapsing defaulters who also lose income, 0 to 3 weeks before the collapse."""
FALSE_ALARM_SHARE = 0.01
"""Share of people who repay (or have no loan) who lose income for one to three months."""
SHOCK_KIND = "income_loss"


@dataclass
class Distress:
    """Per person (internal index): when activity begins to collapse and when it bottoms out;
    and per income shock: who, from when, until when (-1: for good) and what share is left."""

    collapse_start: NDArray[np.int64]  # -1 for people whose activity does not collapse
    collapse_floor_at: NDArray[np.int64]  # the first missed instalment, -1 likewise
    shock_person: NDArray[np.int64]
    shock_at: NDArray[np.int64]
    shock_until: NDArray[np.int64]
    shock_left: NDArray[np.float64]

    def factor(self, person: NDArray[np.int64], seconds: NDArray[np.int64]) -> NDArray[np.float64]:
        """The share of usual activity left for ``person`` at ``seconds`` (broadcast together)."""
        start = self.collapse_start[person]
        floor_at = self.collapse_floor_at[person]
        span = np.maximum(floor_at - start, 1).astype(np.float64)
        progress = np.clip((seconds - start) / span, 0.0, 1.0)
        out = np.where(start >= 0, 1.0 - (1.0 - FLOOR) * progress, 1.0)
        return np.asarray(out, dtype=np.float64)

    def income_factor(
        self, person: NDArray[np.int64], seconds: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """The share of usual income ``person`` receives at ``seconds`` (one shock a person)."""
        n = len(self.collapse_start)
        at = np.full(n, -1, dtype=np.int64)
        until = np.full(n, -1, dtype=np.int64)
        left = np.ones(n, dtype=np.float64)
        at[self.shock_person] = self.shock_at
        until[self.shock_person] = self.shock_until
        left[self.shock_person] = self.shock_left
        a, u = at[person], until[person]
        hit = (a >= 0) & (a <= seconds) & ((u < 0) | (seconds < u))
        return np.asarray(np.where(hit, left[person], 1.0), dtype=np.float64)


def plant_distress(n: int, book: LoanBook, rng: np.random.Generator) -> Distress:
    """Collapse windows for every defaulter of the loan book, and the income shocks."""
    collapse_start = np.full(n, -1, dtype=np.int64)
    floor_at = np.full(n, -1, dtype=np.int64)
    bad = np.flatnonzero(book.defaulted)
    person = book.person[bad]
    missed = book.missed_at[bad]
    lo, hi = COLLAPSE_WEEKS
    lead = rng.integers(lo * 7 * DAY, hi * 7 * DAY + 1, len(bad))
    start = np.maximum(missed - lead, book.applied_at[bad] + DAY)
    start = np.minimum(start, missed)
    collapse_start[person] = start
    floor_at[person] = missed

    shocked = rng.random(len(bad)) < DEFAULTER_SHOCK_SHARE
    d_person = person[shocked]
    d_at = start[shocked] - rng.integers(0, 21 * DAY + 1, int(shocked.sum()))
    d_left = rng.uniform(0.0, 0.4, int(shocked.sum()))

    others = np.ones(n, dtype=bool)
    others[person] = False
    candidates = np.flatnonzero(others)
    alarm = candidates[rng.random(len(candidates)) < FALSE_ALARM_SHARE]
    a_first = book.applied_at.min() if book.loans else 0
    a_last = book.applied_at.max() + 365 * DAY if book.loans else DAY
    a_at = rng.integers(a_first, max(a_last, a_first + 1), len(alarm))
    a_until = a_at + rng.integers(30 * DAY, 91 * DAY, len(alarm))
    a_left = rng.uniform(0.1, 0.5, len(alarm))
    return Distress(
        collapse_start=collapse_start,
        collapse_floor_at=floor_at,
        shock_person=np.concatenate([d_person, alarm]).astype(np.int64),
        shock_at=np.concatenate([d_at, a_at]).astype(np.int64),
        shock_until=np.concatenate([np.full(len(d_person), -1), a_until]).astype(np.int64),
        shock_left=np.concatenate([d_left, a_left]).astype(np.float64),
    )
