"""Delinquency rules as pure functions: days past due, buckets, penalty interest, daily accrual.

Each rule has a scalar form (Decimal, dates; what tests and single loans use) and, where the
end-of-day job needs it for a whole book at once, a vectorised form on numpy int64 fen arrays
that gives the same answer to the fen. Money is never a float here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from creditgraph.money import from_fen, to_fen
from creditgraph.servicing.daycount import DayCount

IntArray = npt.NDArray[np.int64]

DEFAULT_PENALTY_MULTIPLIER = Decimal("1.5")
DEFAULT_NPA_DPD = 90
DEFAULT_WRITE_OFF_DPD = 180
DEFAULT_DPD = 90
"""Days past due at which a loan counts as defaulted for scoring labels."""
OUTCOME_MONTHS = 12
"""A default counts for the label when it happens within this many months of disbursement."""


class Bucket(StrEnum):
    """Delinquency buckets (逾期分档) by days past due."""

    M0 = "M0"  # current
    M1 = "M1"  # 1-30
    M2 = "M2"  # 31-60
    M3 = "M3"  # 61-90
    M3_PLUS = "M3+"  # over 90


BUCKETS: tuple[Bucket, ...] = tuple(Bucket)
BUCKET_UPPER_DPD: tuple[int, ...] = (0, 30, 60, 90)
"""The last DPD of each bucket but the open-ended last one: bucket k holds (upper[k-1], upper[k]]."""


def days_past_due(oldest_unpaid_due: date | None, business_date: date) -> int:
    """Days the oldest unpaid instalment is late at the end of ``business_date``.

    An instalment is payable all through its due date, so it is 0 days past due on that date and 1
    the day after; a loan with nothing unpaid (``None``) is current.
    """
    if oldest_unpaid_due is None:
        return 0
    return max(0, (business_date - oldest_unpaid_due).days)


def bucket(dpd: int) -> Bucket:
    """The bucket of a loan ``dpd`` days past due: M0, M1 (1-30), M2 (31-60), M3 (61-90), M3+."""
    if dpd < 0:
        raise ValueError(f"days past due cannot be negative, got {dpd}")
    for upper, name in zip(BUCKET_UPPER_DPD, BUCKETS, strict=False):
        if dpd <= upper:
            return name
    return Bucket.M3_PLUS


def bucket_index(dpd: IntArray) -> IntArray:
    """Vectorised ``bucket``: the position in ``BUCKETS`` of each DPD (0 = M0 ... 4 = M3+)."""
    edges = np.asarray(BUCKET_UPPER_DPD, dtype=np.int64)
    return np.searchsorted(edges, dpd, side="left").astype(np.int64)


@dataclass(frozen=True, slots=True)
class DelinquencyRules:
    """The thresholds of delinquency, validated once.

    ``penalty_multiplier`` times the contract rate is the penalty rate (罚息, 1.5x by default);
    from ``npa_dpd`` on nothing more is accrued to income; ``write_off_dpd`` writes the loan off;
    ``default_dpd`` within ``outcome_months`` of disbursement makes the scoring label a default.
    The end-of-day job takes NPA and write-off DPD per product from the servicing configuration
    (``servicing.toml``) and the penalty rate from each loan; it uses these rules for the labels.
    """

    penalty_multiplier: Decimal = DEFAULT_PENALTY_MULTIPLIER
    npa_dpd: int = DEFAULT_NPA_DPD
    write_off_dpd: int = DEFAULT_WRITE_OFF_DPD
    default_dpd: int = DEFAULT_DPD
    outcome_months: int = OUTCOME_MONTHS

    def __post_init__(self) -> None:
        if not isinstance(self.penalty_multiplier, Decimal) or self.penalty_multiplier < 0:
            raise ValueError(
                f"penalty multiplier must be a non-negative Decimal, got {self.penalty_multiplier!r}"
            )
        if not 1 <= self.npa_dpd <= self.write_off_dpd:
            raise ValueError(
                f"need 1 <= npa_dpd ({self.npa_dpd}) <= write_off_dpd ({self.write_off_dpd})"
            )
        if self.default_dpd < 1 or self.outcome_months < 1:
            raise ValueError("default_dpd and outcome_months must be positive")


# --- penalty interest ---------------------------------------------------------------------------


def daily_basis(day_count: DayCount | str) -> int:
    """Days in the year a daily rate divides by: 365 for ACT/365, else 360 (the bank daily rate).

    Periodic loans count whole periods for scheduled interest; penalty accrues by days, at the
    Chinese bank daily rate of annual / 360.
    """
    return 365 if DayCount(day_count) is DayCount.ACT_365 else 360


def penalty_rate(
    contract_rate: Decimal, multiplier: Decimal = DEFAULT_PENALTY_MULTIPLIER
) -> Decimal:
    """The annual penalty rate: ``multiplier`` times the contract rate, exact."""
    return contract_rate * multiplier


def daily_penalty(
    overdue_principal: Decimal,
    annual_penalty_rate: Decimal,
    day_count: DayCount | str = DayCount.ACT_360,
) -> Decimal:
    """One day's penalty on ``overdue_principal``, rounded half-up to the fen (each day once)."""
    fen = daily_penalty_fen(
        np.asarray([to_fen(overdue_principal)], dtype=np.int64),
        [annual_penalty_rate],
        np.asarray([daily_basis(day_count)], dtype=np.int64),
    )
    return from_fen(int(fen[0]))


def scaled_rates(rates: Sequence[Decimal]) -> tuple[list[int], int]:
    """Rates as integers over one power of ten, the smallest that keeps every rate exact."""
    exponent = 0
    for rate in rates:
        if not rate.is_finite() or rate < 0:
            raise ValueError(f"a rate must be finite and non-negative, got {rate}")
        exponent = max(exponent, -int(rate.normalize().as_tuple().exponent))
    scale = 10**exponent
    return [int(rate.scaleb(exponent)) for rate in rates], scale


def daily_penalty_fen(
    overdue_principal_fen: IntArray, annual_rates: Sequence[Decimal], basis: IntArray
) -> IntArray:
    """Vectorised ``daily_penalty``: principal x rate / basis per loan, half-up to the fen.

    Exact integer arithmetic; int64 when the products fit, Python integers otherwise (slower,
    never wrong).
    """
    units, scale = scaled_rates(annual_rates)
    principal = np.asarray(overdue_principal_fen, dtype=np.int64)
    if principal.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(principal < 0):
        raise ValueError("overdue principal cannot be negative")
    rate = np.asarray(units, dtype=object)
    bases = np.asarray(basis, dtype=np.int64)
    largest = int(principal.max()) * max(units, default=0) * 2 + int(bases.max()) * scale
    if largest < 2**62:
        num = principal * rate.astype(np.int64)
        den = bases * scale
        return np.asarray((2 * num + den) // (2 * den), dtype=np.int64)
    num_o = principal.astype(object) * rate
    den_o = bases.astype(object) * scale
    return np.asarray((2 * num_o + den_o) // (2 * den_o), dtype=np.int64)


# --- daily accrual of scheduled interest --------------------------------------------------------


def accrued_to(interest_fen: int, period_days: int, elapsed_days: int) -> int:
    """Interest of one instalment accrued after ``elapsed_days`` of its ``period_days``.

    Pro rata by day, rounded down, so the due date (``elapsed == period``) accrues the remainder
    and the accrued total equals the scheduled interest to the fen.
    """
    if elapsed_days <= 0 or interest_fen <= 0:
        return 0
    if elapsed_days >= period_days:
        return interest_fen
    return interest_fen * elapsed_days // period_days


def accrued_to_array(
    interest_fen: IntArray, period_days: IntArray, elapsed_days: IntArray
) -> IntArray:
    """Vectorised ``accrued_to`` over instalments."""
    interest = np.maximum(np.asarray(interest_fen, dtype=np.int64), 0)
    period = np.maximum(np.asarray(period_days, dtype=np.int64), 1)
    elapsed = np.clip(np.asarray(elapsed_days, dtype=np.int64), 0, period)
    return interest * elapsed // period


def daily_accrual(interest: Decimal, period_start: date, due_date: date, on: date) -> Decimal:
    """The interest of one instalment accrued on the single day ``on`` (its period is start..due).

    The period starts at disbursement or the previous due date and accrues nothing on its start.
    """
    interest_fen = to_fen(interest)
    days = max((due_date - period_start).days, 1)
    elapsed = (on - period_start).days
    today = accrued_to(interest_fen, days, elapsed) - accrued_to(interest_fen, days, elapsed - 1)
    return from_fen(today)


def accrual_days(
    interest: Decimal, period_start: date, due_date: date
) -> list[tuple[date, Decimal]]:
    """Every day's accrual over one instalment's period; the amounts sum to ``interest``."""
    span = max((due_date - period_start).days, 1)
    return [
        (day, daily_accrual(interest, period_start, due_date, day))
        for day in (period_start + timedelta(days=k) for k in range(1, span + 1))
    ]


# --- one business day over a whole book, vectorised ----------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalmentArrays:
    """Instalment rows of many loans as int64 arrays (dates as day numbers, money as fen).

    ``loan`` is the position of each row's loan in the caller's loan arrays.
    """

    loan: IntArray
    period_start: IntArray
    due_date: IntArray
    principal_due: IntArray
    principal_paid: IntArray
    interest_due: IntArray
    interest_paid: IntArray
    interest_accrued: IntArray
    fee_due: IntArray
    fee_paid: IntArray
    penalty_accrued: IntArray
    penalty_paid: IntArray

    @property
    def size(self) -> int:
        return int(self.loan.size)


@dataclass(frozen=True, slots=True)
class DayAssessment:
    """What one business day does to a book before any rule about NPA or write-off applies."""

    dpd: IntArray
    """Per loan: days past due at the end of the day."""
    oldest_overdue: IntArray
    """Per loan: day number of the oldest unpaid instalment past due, -1 if none."""
    accrual: IntArray
    """Per row: interest to accrue today to bring the row to its pro-rata target."""
    overdue_principal: IntArray
    """Per row: principal past due and unpaid (what penalty interest runs on)."""


def segment_min(values: IntArray, groups: IntArray, size: int, empty: int) -> IntArray:
    """The minimum of ``values`` per group (``empty`` for groups with no value)."""
    out = np.full(size, empty, dtype=np.int64)
    np.minimum.at(out, groups, values)
    return out


def segment_sum(values: IntArray, groups: IntArray, size: int) -> IntArray:
    """The exact int64 sum of ``values`` per group (never through floating point)."""
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, groups, values)
    return out


def assess_day(day: int, loans: int, rows: InstalmentArrays) -> DayAssessment:
    """Days past due, overdue principal and today's accrual for ``loans`` loans on ``day``.

    ``day`` is a day number comparable with the row dates. A row is past due once its due date is
    behind ``day`` and anything of it is unpaid (penalty included, as the posting service counts
    arrears); its accrual target is the pro-rata share of its
    interest for the days elapsed, and today's accrual is whatever the row still lacks of that.
    """
    unpaid = (
        (rows.principal_due - rows.principal_paid)
        + (rows.interest_due - rows.interest_paid)
        + (rows.fee_due - rows.fee_paid)
        + (rows.penalty_accrued - rows.penalty_paid)
    ) > 0
    past_due = unpaid & (rows.due_date < day)
    sentinel = np.iinfo(np.int64).max
    oldest = segment_min(rows.due_date[past_due], rows.loan[past_due], loans, sentinel)
    has_arrears = oldest != sentinel
    dpd = np.where(has_arrears, day - np.where(has_arrears, oldest, day), 0).astype(np.int64)
    oldest = np.where(has_arrears, oldest, -1).astype(np.int64)
    target = accrued_to_array(
        rows.interest_due, rows.due_date - rows.period_start, day - rows.period_start
    )
    accrual = np.maximum(target - rows.interest_accrued, 0)
    overdue_principal = np.where(past_due, rows.principal_due - rows.principal_paid, 0)
    return DayAssessment(dpd, oldest, accrual.astype(np.int64), overdue_principal.astype(np.int64))
