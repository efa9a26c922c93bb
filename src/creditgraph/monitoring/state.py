"""Each person's rolling risk state, updated per event in O(1) amortised time.

The detectors need, for one person, exact counts over the last 7, 30 and 90 days (activity days,
interactions, new and ended ties, loans and credit inquiries elsewhere, incoming transfers, missed
instalments, partial repayments) and the person's own baseline to compare them with. Recomputing
those from the event history on every event would cost the history's length; here each person
keeps one bucket per UTC day with a counted event in the last ``HORIZON`` days and a running sum
per window, so an event adds to one bucket and to the sums whose window holds its day, and moving
the clock forward expires the buckets that leave each window. Each bucket leaves each window once
and empty days cost nothing, so an update is O(1) amortised over the events.

Windows are calendar days in UTC ending at the state's clock: the ``n``-day window as of day ``c``
holds the days ``c - n + 1 .. c`` (today and the ``n - 1`` days before). The clock is the latest
``occurred_at`` seen, or a later instant given to ``advance_to``. The baseline is the ``BASELINE``
days before the recent ``RECENT``-day window, as a daily mean over the days the person has been
observed in it, so a person first seen ten days ago is not compared with 80 empty days.

An event that arrives late but inside the horizon lands in its own day's bucket and in exactly the
sums whose window holds that day, so the state equals the one in-order delivery gives; one older
than the horizon is in no window and is only counted in ``late_dropped``.

Pure: no database, no files, no clock of its own. Times are arguments.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum
from typing import Any

WINDOWS: tuple[int, ...] = (7, 30, 90)
"""The windows (days) a detector can ask for."""
RECENT = 7
"""The recent window compared with the baseline."""
BASELINE = 90
"""Days before the recent window whose daily mean is the person's baseline."""
HORIZON = RECENT + BASELINE
"""Days of buckets kept: the recent window and the baseline before it."""
_SPANS: tuple[int, ...] = (*WINDOWS, HORIZON)
_SPAN_INDEX = {span: index for index, span in enumerate(_SPANS)}
_SECONDS_PER_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Metric(IntEnum):
    """The rolling aggregates, one bucket per day each."""

    ACTIVE_DAYS = 0  # 1 on a day with an activity_day event showing activity (a flag, not a sum)
    INTERACTIONS = 1  # interaction_batch counts
    NEW_TIES = 2  # tie_added
    TIES_ENDED = 3  # tie_ended
    EXTERNAL_LOANS = 4  # external_loan_reported of a loan opened within 90 days of the report
    INQUIRIES = 5  # credit_inquiry
    TRANSFERS_IN_FEN = 6  # income_summary amount and transfer_summary incoming_amount
    MISSED_INSTALMENTS = 7  # instalment_missed
    PARTIAL_REPAYMENTS = 8  # repayment_posted leaving remaining_due above zero


METRICS: tuple[Metric, ...] = tuple(Metric)

DPD_BUCKETS: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M3+")
"""Servicing's delinquency buckets in order (M1 is 1-30 DPD, M2 31-60, M3 61-90, M3+ over 90)."""


def field_of(event: Any, name: str, default: Any = None) -> Any:
    """A field of an event: a plain mapping, or a validated ``events.Event`` (its ``get``).

    Both hold the contract's names with typed values (money in integer fen, times aware UTC).
    """
    return event.get(name, default)


def epoch_day(instant: datetime | date) -> int:
    """The UTC calendar day of ``instant`` as days since 1970-01-01 (naive means UTC)."""
    if not isinstance(instant, datetime):
        return instant.toordinal() - _EPOCH_ORDINAL
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return int(instant.timestamp() // _SECONDS_PER_DAY)


def event_day(event: Any) -> int:
    """The day an event counts on: ``activity_day`` on the day its figures cover, others on the
    UTC day of ``occurred_at``."""
    if field_of(event, "type") == "activity_day":
        covered = field_of(event, "date")
        if covered is not None:
            return epoch_day(covered)
    return epoch_day(field_of(event, "occurred_at"))


def bucket_rank(bucket: object) -> int:
    """The position of a DPD bucket in ``DPD_BUCKETS`` (an unknown name counts as current)."""
    try:
        return DPD_BUCKETS.index(str(bucket))
    except ValueError:
        return 0


def contribution(event: Any) -> tuple[Metric, int] | None:
    """The metric an event adds to and by how much, or None for an event no window counts.

    ``activity_day`` counts the day as active unless all of ``active_minutes``, ``posts`` and
    ``logins`` are zero; money in is ``income_summary.amount`` plus
    ``transfer_summary.incoming_amount``; a ``repayment_posted`` is partial when it leaves
    ``remaining_due`` above zero.
    """
    kind = field_of(event, "type")
    if kind == "interaction_batch":
        return Metric.INTERACTIONS, int(field_of(event, "count", 0))
    if kind == "activity_day":
        signs = [field_of(event, name) for name in ("active_minutes", "posts", "logins")]
        given = [int(value) for value in signs if value is not None]
        return Metric.ACTIVE_DAYS, 0 if given and not any(given) else 1
    if kind == "tie_added":
        return Metric.NEW_TIES, 1
    if kind == "tie_ended":
        return Metric.TIES_ENDED, 1
    if kind == "external_loan_reported":
        return Metric.EXTERNAL_LOANS, 1 if _is_new_loan(event) else 0
    if kind == "credit_inquiry":
        return Metric.INQUIRIES, 1
    if kind == "income_summary":
        return Metric.TRANSFERS_IN_FEN, int(field_of(event, "amount", 0))
    if kind == "transfer_summary":
        return Metric.TRANSFERS_IN_FEN, int(field_of(event, "incoming_amount", 0))
    if kind == "instalment_missed":
        return Metric.MISSED_INSTALMENTS, 1
    if kind == "repayment_posted":
        return Metric.PARTIAL_REPAYMENTS, 1 if int(field_of(event, "remaining_due", 0)) > 0 else 0
    return None


def _is_new_loan(event: Any) -> bool:
    """A report counts as a new loan elsewhere when the loan opened on or after 90 days before
    the report (a later status report of an old loan is not new debt)."""
    opened = field_of(event, "opened_at")
    if opened is None:
        return True
    return epoch_day(field_of(event, "occurred_at")) - epoch_day(opened) < WINDOWS[-1]


@dataclass(slots=True)
class PersonState:
    """One person's rolling aggregates as of ``day`` (see the module docstring for the windows)."""

    person_id: str
    day: int | None = None
    """The clock: the UTC epoch day the windows end on (None before the first event)."""
    first_day: int | None = None
    """The earliest day observed (by an event or an explicit start), for the baseline's length."""
    rows: dict[int, list[int]] = field(default_factory=dict)
    """Day -> the value of every metric on that day, only for days with a counted event."""
    days: list[int] = field(default_factory=list)
    """The keys of ``rows`` in ascending order (days within the horizon)."""
    sums: list[list[int]] = field(default_factory=lambda: [[0] * len(METRICS) for _ in _SPANS])
    """Per window (7, 30, 90, then the horizon), the sum of each metric over its days."""
    loan_buckets: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    """Each loan's latest DPD bucket by ``occurred_at`` (a written-off loan is ``M3+``)."""
    ties_net: int = 0
    """Ties added minus ties ended since monitoring began (negative when older ties end)."""
    last_transfer_day: int | None = None
    """The latest day with an incoming transfer or income summary."""
    events: int = 0
    late_dropped: int = 0
    """Events older than the horizon at arrival: in no window, so only counted."""

    # -- the clock ----------------------------------------------------------------------------

    def advance_to(self, day: int) -> None:
        """Move the clock forward to ``day``, expiring the days that leave each window.

        Only days holding a counted event are visited (found by bisection), and each leaves each
        window once, so the cost is amortised over the events, not over the days that passed.
        """
        now = self.day
        if now is None or day > now:
            self.day = day
        if now is None or day <= now:
            return
        days, rows = self.days, self.rows
        if not days:
            return
        for index, span in enumerate(_SPANS):
            low = bisect_right(days, now - span)
            high = bisect_right(days, day - span)
            if low == high:
                continue
            total = self.sums[index]
            for leaving in days[low:high]:
                for metric, value in enumerate(rows[leaving]):
                    if value:
                        total[metric] -= value
        gone = bisect_right(days, day - HORIZON)
        if gone:
            for leaving in days[:gone]:
                del rows[leaving]
            del days[:gone]

    def advance_to_instant(self, instant: datetime) -> None:
        """``advance_to`` the UTC day of ``instant``."""
        self.advance_to(epoch_day(instant))

    # -- updates ------------------------------------------------------------------------------

    def add(self, metric: Metric, day: int, value: int) -> bool:
        """Add ``value`` to ``metric`` on ``day``; False when the day is outside the horizon.

        ``ACTIVE_DAYS`` is a flag per day: a second activity on the same day changes nothing.
        """
        self.advance_to(day)
        assert self.day is not None
        age = self.day - day
        if age >= HORIZON:
            return False
        if self.first_day is None or day < self.first_day:
            self.first_day = day
        row = self.rows.get(day)
        if metric is Metric.ACTIVE_DAYS and value:
            value = 0 if row is not None and row[metric] else 1
        if not value:
            return True
        if row is None:
            row = self.rows[day] = [0] * len(METRICS)
            insort(self.days, day)
        row[metric] += value
        for index, span in enumerate(_SPANS):
            if age < span:
                self.sums[index][metric] += value
        return True

    def apply(self, event: Any) -> None:
        """Fold one event into the state (any order within the horizon gives the same state)."""
        occurred_at: datetime = field_of(event, "occurred_at")
        day = event_day(event)
        self.events += 1
        if self.first_day is None or day < self.first_day:
            self.first_day = day  # even when too old for any window: the same in any order
        counted = contribution(event)
        if counted is None:
            self.advance_to(day)
        elif not self.add(counted[0], day, counted[1]):
            self.late_dropped += 1
        kind = field_of(event, "type")
        if kind == "tie_added":
            self.ties_net += 1
        elif kind == "tie_ended":
            self.ties_net -= 1
        elif counted is not None and counted[0] is Metric.TRANSFERS_IN_FEN and counted[1] > 0:
            if self.last_transfer_day is None or day > self.last_transfer_day:
                self.last_transfer_day = day
        elif kind == "dpd_bucket_changed":
            self._report_bucket(event, str(field_of(event, "to_bucket", "M0")), occurred_at)
        elif kind == "loan_written_off":
            self._report_bucket(event, DPD_BUCKETS[-1], occurred_at)

    def _report_bucket(self, event: Any, bucket: str, occurred_at: datetime) -> None:
        """Keep each loan's latest bucket; at the same instant the worse one, so that the order
        of arrival does not matter."""
        loan = str(field_of(event, "loan_id", ""))
        known = self.loan_buckets.get(loan)
        if (
            known is None
            or occurred_at > known[0]
            or (occurred_at == known[0] and bucket_rank(bucket) > bucket_rank(known[1]))
        ):
            self.loan_buckets[loan] = (occurred_at, bucket)

    # -- reads --------------------------------------------------------------------------------

    @property
    def dpd_bucket(self) -> str:
        """The worst current DPD bucket across the person's loans (``M0`` with none reported)."""
        worst = 0
        for _, bucket in self.loan_buckets.values():
            worst = max(worst, bucket_rank(bucket))
        return DPD_BUCKETS[worst]

    def count(self, metric: Metric, window: int) -> int:
        """The sum of ``metric`` over the ``window``-day window ending on the clock's day."""
        return self.sums[_SPAN_INDEX[window]][metric]

    def baseline_days(self) -> int:
        """How many of the ``BASELINE`` days before the recent window the person was observed."""
        if self.day is None or self.first_day is None:
            return 0
        observed = (self.day - RECENT) - self.first_day + 1
        return max(0, min(BASELINE, observed))

    def baseline_total(self, metric: Metric) -> int:
        """The sum of ``metric`` over the ``BASELINE`` days before the recent window."""
        sums = self.sums
        return sums[_SPAN_INDEX[HORIZON]][metric] - sums[_SPAN_INDEX[RECENT]][metric]

    def baseline_daily(self, metric: Metric) -> float | None:
        """The daily mean of ``metric`` before the recent window, or None with no observed days."""
        days = self.baseline_days()
        return self.baseline_total(metric) / days if days else None

    def snapshot(self) -> dict[str, int | float | str | None]:
        """The aggregates as a flat dict (evidence for a finding, or a comparison in tests)."""
        values: dict[str, int | float | str | None] = {}
        for metric in METRICS:
            name = metric.name.lower()
            for window in WINDOWS:
                values[f"{name}_{window}d"] = self.count(metric, window)
            values[f"{name}_baseline_daily"] = self.baseline_daily(metric)
        values["baseline_days"] = self.baseline_days()
        values["dpd_bucket"] = self.dpd_bucket
        values["ties_net"] = self.ties_net
        return values


@dataclass(slots=True)
class StateStore:
    """Every person's state, in memory, created on a person's first event."""

    people: dict[str, PersonState] = field(default_factory=dict)

    def get(self, person_id: str) -> PersonState:
        """The person's state, empty when the person has no event yet."""
        state = self.people.get(person_id)
        if state is None:
            state = self.people[person_id] = PersonState(person_id)
        return state

    def apply(self, event: Any) -> PersonState:
        """Fold ``event`` into its person's state and return that state."""
        state = self.get(str(field_of(event, "person_id")))
        state.apply(event)
        return state
