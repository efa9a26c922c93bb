"""Prepayment (提前还款) maths: interest accrued to the day, and the rescheduled remainder.

Pure. Interest on prepaid principal is charged only as accrued to the prepayment date, pro rata by
day within the instalment's period (the same rule the end-of-day accrual uses), never for the
rest of the period. The remainder is rescheduled with the ordinary schedule maths: a shorter term
keeps the instalment, a lower instalment keeps the maturity, except that a remainder too small to
spread over every period takes fewer periods (no row is left with nothing due).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum

from creditgraph.money import from_fen, to_fen
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.errors import ScheduleError
from creditgraph.servicing.model import Method, ScheduleRequest, ScheduleRow
from creditgraph.servicing.schedules import generate_schedule


class PrepayMode(StrEnum):
    SHORTER_TERM = "shorter_term"  # 缩短期限: keep the instalment, finish earlier
    LOWER_INSTALMENT = "lower_instalment"  # 减少月供: keep the maturity, pay less each period


def prorata_fen(amount_fen: int, period_start: date, due_date: date, on: date) -> int:
    """The part of a period's ``amount_fen`` accrued by ``on`` (days elapsed over days in period,
    half up); all of it on or after the due date, none on or before the period start."""
    if on >= due_date:
        return amount_fen
    if on <= period_start:
        return 0
    days = (due_date - period_start).days
    share = Decimal(amount_fen) * (on - period_start).days / days
    return int(share.to_integral_value(ROUND_HALF_UP))


def share_fen(amount_fen: int, part_fen: int, whole_fen: int) -> int:
    """``amount_fen * part / whole``, half up (the prepaid principal's share of accrued interest)."""
    if whole_fen <= 0 or part_fen >= whole_fen:
        return amount_fen
    value = Decimal(amount_fen) * part_fen / whole_fen
    return int(value.to_integral_value(ROUND_HALF_UP))


def fee_fen(principal_fen: int, rate: Decimal) -> int:
    """The prepayment fee: the product's rate times the prepaid principal, half up to the fen."""
    return int((Decimal(principal_fen) * rate).to_integral_value(ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class NewRow:
    number: int
    period_start: date
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int


@dataclass(frozen=True)
class Terms:
    """The contract terms the remainder is rescheduled on."""

    rate: Decimal
    method: Method
    frequency: Frequency
    day_count: DayCount
    fee_per_period_fen: int


def reschedule(
    remaining_fen: int,
    terms: Terms,
    period_start: date,
    due_dates: Sequence[date],
    first_number: int,
    mode: PrepayMode,
    keep_instalment_fen: int,
    keep_principal_fen: int,
) -> list[NewRow]:
    """The new rows for ``remaining_fen`` of principal from ``period_start``.

    ``due_dates`` are the old schedule's remaining due dates (the new rows keep them, so the
    borrower's payment days do not move); a shorter term uses the first few of them.
    ``keep_instalment_fen`` (principal plus interest of the current instalment) is kept by an
    equal-instalment loan in shorter-term mode; ``keep_principal_fen`` by an equal-principal one.
    """
    count = len(due_dates)
    if count == 0 or remaining_fen <= 0:
        raise ScheduleError("nothing remains to reschedule")
    periods = count
    instalment: Decimal | None = None
    if mode is PrepayMode.SHORTER_TERM:
        if terms.method is Method.EQUAL_INSTALLMENT:
            instalment = from_fen(keep_instalment_fen)
            periods = _periods_for_instalment(remaining_fen, terms, instalment, count)
        elif terms.method is Method.EQUAL_PRINCIPAL:
            need = Decimal(remaining_fen) / max(keep_principal_fen, 1)
            periods = min(count, max(1, int(need.to_integral_value(ROUND_CEILING))))
        else:
            raise ScheduleError(
                f"shorter_term applies to equal_installment and equal_principal loans, "
                f"not {terms.method.value}; use lower_instalment"
            )
    rows = _generate_fallback(remaining_fen, terms, period_start, periods, instalment)
    while periods > 1 and any(_empty(row) for row in rows):
        periods = max(1, min(periods - 1, sum(not _empty(row) for row in rows)))
        rows = _generate_fallback(remaining_fen, terms, period_start, periods, instalment)
    starts = [period_start, *due_dates[: periods - 1]]
    return [
        NewRow(
            number=first_number + k,
            period_start=starts[k],
            due_date=due_dates[k],
            principal_fen=to_fen(row.principal),
            interest_fen=to_fen(row.interest),
            fee_fen=to_fen(row.fee),
        )
        for k, row in enumerate(rows)
    ]


def _empty(row: ScheduleRow) -> bool:
    """A row with neither principal nor interest due: noise in the schedule and the DPD logic."""
    return row.principal + row.interest == 0


def _generate_fallback(
    remaining_fen: int, terms: Terms, start: date, periods: int, instalment: Decimal | None
) -> tuple[ScheduleRow, ...]:
    """The rows for ``periods``, keeping ``instalment`` when the schedule maths allows it."""
    try:
        return _generate(remaining_fen, terms, start, periods, instalment)
    except ScheduleError:
        if instalment is None:
            raise
        return _generate(remaining_fen, terms, start, periods, None)


def _generate(
    remaining_fen: int, terms: Terms, start: date, periods: int, instalment: Decimal | None
) -> tuple[ScheduleRow, ...]:
    request = ScheduleRequest(
        principal=from_fen(remaining_fen),
        annual_rate=terms.rate,
        periods=periods,
        method=terms.method,
        start=start,
        frequency=terms.frequency,
        day_count=terms.day_count,
        fee_per_period=from_fen(terms.fee_per_period_fen),
        instalment=instalment,
    )
    return generate_schedule(request).rows


def _periods_for_instalment(
    remaining_fen: int, terms: Terms, instalment: Decimal, most: int
) -> int:
    """The fewest periods in which ``instalment`` repays the remainder (the last may be less)."""
    balance = from_fen(remaining_fen)
    rate = terms.rate / terms.frequency.periods_per_year
    periods = 0
    while balance > 0 and periods < most:
        balance -= instalment - (balance * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        periods += 1
    for candidate in (periods, periods + 1, periods - 1):
        if not 1 <= candidate <= most:
            continue
        try:
            rows = _generate(remaining_fen, terms, date(2000, 1, 1), candidate, instalment)
        except ScheduleError:
            continue
        if rows[-1].principal + rows[-1].interest <= instalment:
            return candidate
    return max(1, min(periods, most))
