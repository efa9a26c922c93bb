"""The scoring labels the end of day learns: a default when a loan reaches the default DPD within
its outcome window, a good loan when it is repaid or its window ends without one.

Pure: the loans' facts come in as values, the ``loan_outcomes`` rows go out as values; times are
the start of a business day in the lender's time zone, stored as naive UTC like every table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from creditgraph.servicing.calendar import Frequency, add_months
from creditgraph.servicing.delinquency import DelinquencyRules
from creditgraph.servicing.lifecycle import LoanState


@dataclass(frozen=True, slots=True)
class LabelFacts:
    """What a label says about a loan, as read from the loan (state and closing for good labels)."""

    id: str
    person_id: str
    disbursed_on: date
    principal_fen: int
    periods: int
    frequency: str
    state: str | None = None
    closed_on: date | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """One ``loan_outcomes`` row (without its batch) as scoring reads it."""

    loan_id: str
    person_id: str
    applied_at: datetime
    amount_fen: int
    term_months: int
    defaulted: bool
    observed_at: datetime

    def row(self) -> dict[str, Any]:
        return {
            "loan_id": self.loan_id,
            "person_id": self.person_id,
            "applied_at": self.applied_at,
            "amount_fen": self.amount_fen,
            "term_months": self.term_months,
            "defaulted": self.defaulted,
            "observed_at": self.observed_at,
        }

    @property
    def row_hash(self) -> str:
        canonical = json.dumps(self.row(), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest()


def instant(day: date, zone: ZoneInfo) -> datetime:
    """The start of ``day`` in the business time zone, as naive UTC (how tables store times)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def term_months(periods: int, frequency: str) -> int:
    per_year = Frequency(frequency).periods_per_year
    return max(1, -(-periods * 12 // per_year))


def label(loan: LabelFacts, defaulted: bool, observed: datetime, zone: ZoneInfo) -> Label:
    return Label(
        loan_id=loan.id,
        person_id=loan.person_id,
        applied_at=instant(loan.disbursed_on, zone),
        amount_fen=int(loan.principal_fen),
        term_months=term_months(int(loan.periods), loan.frequency),
        defaulted=defaulted,
        observed_at=observed,
    )


def default_labels(
    day: date,
    crossed: Mapping[str, date],
    facts: Sequence[LabelFacts],
    rules: DelinquencyRules,
    zone: ZoneInfo,
) -> tuple[Label, ...]:
    """Default labels for the loans that reached ``rules.default_dpd`` (on ``crossed[id]``)
        within ``rules.outcome_months`` of disbursement; ``facts`` are those still unlabelled (facts of
    any other loan are ignored)."""
    observed = instant(day + timedelta(days=1), zone)
    return tuple(
        label(loan, True, observed, zone)
        for loan in facts
        if loan.id in crossed
        and crossed[loan.id] <= add_months(loan.disbursed_on, rules.outcome_months)
    )


def good_labels(
    day: date, candidates: Sequence[LabelFacts], rules: DelinquencyRules, zone: ZoneInfo
) -> tuple[Label, ...]:
    """Good labels that became known on ``day``: loans repaid in full, or whose outcome window
    ended, without a default (defaults were labelled as they happened, so a loan still without a
    label did not reach the default DPD within its window)."""
    labels = []
    for loan in candidates:
        window_end = add_months(loan.disbursed_on, rules.outcome_months)
        if (
            loan.state == LoanState.CLOSED.value
            and loan.closed_on is not None
            and loan.closed_on <= day
        ):
            observed = instant(min(loan.closed_on, window_end) + timedelta(days=1), zone)
        elif window_end == day:
            observed = instant(day + timedelta(days=1), zone)
        else:
            continue
        labels.append(label(loan, False, observed, zone))
    return tuple(labels)


def window_starts(day: date, months: int) -> list[date]:
    """Every disbursement date whose outcome window of ``months`` ends on ``day``."""
    anchor = add_months(day, -months)  # month ends clamp down, so later days can map here too
    candidates = (anchor + timedelta(days=k) for k in range(4))
    return [d for d in candidates if add_months(d, months) == day]
