"""The schedule data model: a validated request in, frozen rows and totals out.

Validation happens once, up front, with messages that name the field and the fix; the strategies
that follow may then assume well-formed input.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from creditgraph.money import FEN, MoneyError, as_decimal, is_whole_fen
from creditgraph.servicing.calendar import Frequency, due_dates, step
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.errors import ScheduleError
from creditgraph.servicing.rounding import RoundingPolicy

MAX_PRINCIPAL = Decimal("1000000000000")  # one trillion yuan: beyond any single loan
MAX_PERIODS = 1560  # thirty years of weekly instalments
MAX_ANNUAL_RATE = Decimal(10)  # 1000%: a sanity bound, not a legal cap
MAX_RATE_DECIMALS = 12


class Method(StrEnum):
    """Repayment methods (还款方式)."""

    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息: level payment, interest on the balance
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金: level principal, falling payments
    INTEREST_FIRST = "interest_first"  # 先息后本: interest each period, principal at the end
    BULLET = "bullet"  # 到期还本付息: principal and simple interest in one payment at maturity


class GraceType(StrEnum):
    """What the borrower pays in the first ``grace_periods`` periods."""

    INTEREST_ONLY = "interest_only"  # interest is paid, principal waits
    FULL = "full"  # nothing is paid; the interest accrued is paid with the first instalment after


E = TypeVar("E", bound=StrEnum)


def _enum(kind: type[E], value: object, what: str) -> E:
    try:
        return kind(str(value))
    except ValueError:
        names = ", ".join(member.value for member in kind)
        raise ScheduleError(f"unknown {what} {value!r}; expected one of {names}") from None


def _money(value: object, what: str) -> Decimal:
    if type(value) is Decimal and value.is_finite():
        amount = value
    else:
        try:
            amount = as_decimal(value, what)
        except MoneyError as exc:
            raise ScheduleError(str(exc)) from None
    if not is_whole_fen(amount):
        raise ScheduleError(f"{what} {value} has more than 2 decimals; amounts are in whole fen")
    return amount


def _on_grid(amount: Decimal, unit: Decimal | None, what: str) -> None:
    # Amounts are whole fen already; only a coarser unit (jiao, yuan) needs checking.
    if unit is not None and unit is not FEN and amount % unit != 0:
        raise ScheduleError(f"{what} {amount} is not a multiple of the rounding unit {unit}")


ZERO = Decimal("0.00")
DEFAULT_ROUNDING = RoundingPolicy()


_ENUM_FIELDS: tuple[tuple[str, type[StrEnum], str], ...] = (
    ("method", Method, "method"),
    ("frequency", Frequency, "frequency"),
    ("day_count", DayCount, "day count"),
    ("grace", GraceType, "grace type"),
)


@dataclass(frozen=True, kw_only=True)
class ScheduleRequest:
    """Everything a schedule depends on; validated and normalised on construction.

    ``first_due`` defaults to one period after ``start``; equal to ``start`` it makes the first
    instalment fall on the disbursement day. ``instalment`` fixes the level payment of an
    equal-instalment loan instead of computing it. ``fee_per_period`` is added to every instalment;
    ``upfront_fee`` is deducted from the amount disbursed (both count in the all-in rate).
    """

    principal: Decimal
    annual_rate: Decimal
    periods: int
    method: Method
    start: date
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.PERIODIC
    first_due: date | None = None
    grace_periods: int = 0
    grace: GraceType = GraceType.INTEREST_ONLY
    fee_per_period: Decimal = ZERO
    upfront_fee: Decimal = ZERO
    instalment: Decimal | None = None
    rounding: RoundingPolicy = DEFAULT_ROUNDING

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name, kind, what in _ENUM_FIELDS:
            value = getattr(self, name)
            if type(value) is not kind:
                put(self, name, _enum(kind, value, what))
        if not isinstance(self.rounding, RoundingPolicy):
            raise ScheduleError("rounding must be a RoundingPolicy")
        unit = self.rounding.unit

        principal = _money(self.principal, "principal")
        if principal <= 0:
            raise ScheduleError(f"principal must be positive, got {principal}")
        if principal > MAX_PRINCIPAL:
            raise ScheduleError(f"principal {principal} exceeds {MAX_PRINCIPAL}")
        _on_grid(principal, unit, "principal")
        put(self, "principal", principal.quantize(FEN))

        try:
            rate = as_decimal(self.annual_rate, "annual rate")
        except MoneyError as exc:
            raise ScheduleError(str(exc)) from None
        if rate < 0:
            raise ScheduleError(f"annual rate must not be negative, got {rate}")
        if rate > MAX_ANNUAL_RATE:
            raise ScheduleError(
                f"annual rate {rate} is above {MAX_ANNUAL_RATE} (1000%); give it as a fraction, "
                "e.g. 0.049 for 4.9%"
            )
        if rate != rate.quantize(Decimal(1).scaleb(-MAX_RATE_DECIMALS)):
            raise ScheduleError(f"annual rate {rate} has more than {MAX_RATE_DECIMALS} decimals")
        put(self, "annual_rate", rate)

        if isinstance(self.periods, bool) or not isinstance(self.periods, int):
            raise ScheduleError(f"periods must be an integer, got {self.periods!r}")
        if not 1 <= self.periods <= MAX_PERIODS:
            raise ScheduleError(f"periods must be between 1 and {MAX_PERIODS}, got {self.periods}")

        for name in ("start", "first_due"):
            value = getattr(self, name)
            if value is None and name == "first_due":
                continue
            if isinstance(value, datetime) or not isinstance(value, date):
                raise ScheduleError(f"{name} must be a date, got {value!r}")
        if self.first_due is not None:
            self._check_first_due(self.first_due)

        grace = self.grace_periods
        if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
            raise ScheduleError(f"grace periods must be a non-negative integer, got {grace!r}")
        if grace and self.method is Method.BULLET:
            raise ScheduleError("a bullet loan pays nothing before maturity; grace does not apply")
        if grace >= self.periods:
            raise ScheduleError(
                f"grace periods ({grace}) must be fewer than periods ({self.periods})"
            )

        for name in ("fee_per_period", "upfront_fee"):
            fee = getattr(self, name)
            if fee is ZERO:
                continue
            fee = _money(fee, name.replace("_", " "))
            if fee < 0:
                raise ScheduleError(f"{name.replace('_', ' ')} must not be negative, got {fee}")
            _on_grid(fee, unit, name.replace("_", " "))
            put(self, name, fee.quantize(FEN))
        if self.upfront_fee >= principal:
            raise ScheduleError(
                f"upfront fee {self.upfront_fee} must be less than the principal {principal}"
            )

        if self.instalment is not None:
            if self.method is not Method.EQUAL_INSTALLMENT:
                raise ScheduleError("a fixed instalment applies to equal_installment only")
            instalment = _money(self.instalment, "instalment")
            if instalment <= 0:
                raise ScheduleError(f"instalment must be positive, got {instalment}")
            _on_grid(instalment, unit, "instalment")
            put(self, "instalment", instalment.quantize(FEN))

    def _check_first_due(self, first_due: date) -> None:
        if first_due < self.start:
            raise ScheduleError(f"first due date {first_due} is before the start {self.start}")
        if first_due == self.start and self.periods == 1:
            raise ScheduleError("a loan's only instalment cannot fall due on its start date")
        regular = step(self.start, self.frequency, 1)
        if first_due > regular and self.day_count is DayCount.PERIODIC:
            raise ScheduleError(
                f"first due date {first_due} makes a first period longer than one "
                f"{self.frequency} period; the periodic convention counts whole periods, "
                "so use a day count (act360, act365, 30360) for a broken first period"
            )
        if self.start < first_due < regular and self.day_count is DayCount.PERIODIC:
            raise ScheduleError(
                f"first due date {first_due} makes a short first period; the periodic convention "
                "counts whole periods, so use a day count (act360, act365, 30360)"
            )

    @property
    def periods_per_year(self) -> int:
        return self.frequency.periods_per_year

    @property
    def first_due_date(self) -> date:
        """The first due date, defaulting to one period after the start."""
        if self.first_due is not None:
            return self.first_due
        return step(self.start, self.frequency, 1)

    @property
    def due_dates(self) -> tuple[date, ...]:
        """Every due date, anchored on the explicit first due date or else on the start date."""
        if self.first_due is not None:
            return due_dates(self.first_due, self.frequency, self.periods)
        return due_dates(self.start, self.frequency, self.periods, first=1)

    @property
    def first_period_fraction(self) -> float:
        """The first period's length in regular periods: 1 unless ``first_due`` breaks it."""
        if self.first_due is None:
            return 1.0
        regular_start = step(self.first_due, self.frequency, -1)
        return (self.first_due - self.start).days / (self.first_due - regular_start).days


@dataclass(frozen=True)
class ScheduleRow:
    """One instalment: what falls due on ``due_date`` and the principal before and after it."""

    n: int
    due_date: date
    opening_principal: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal
    payment: Decimal
    closing_principal: Decimal

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; amounts as strings so no reader turns them into floats."""
        return {
            "n": self.n,
            "due_date": self.due_date.isoformat(),
            "opening_principal": str(self.opening_principal),
            "principal": str(self.principal),
            "interest": str(self.interest),
            "fee": str(self.fee),
            "payment": str(self.payment),
            "closing_principal": str(self.closing_principal),
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over the instalments (the upfront fee is not an instalment and is not included)."""

    principal: Decimal
    interest: Decimal
    fee: Decimal
    payment: Decimal

    def as_dict(self) -> dict[str, str]:
        return {
            "principal": str(self.principal),
            "interest": str(self.interest),
            "fee": str(self.fee),
            "payment": str(self.payment),
        }


@dataclass(frozen=True)
class Schedule:
    """A repayment schedule: the rows, their totals and the request they were generated from."""

    rows: tuple[ScheduleRow, ...]
    totals: Totals
    method: Method
    request: ScheduleRequest
    level_payment: Decimal | None = None
    """The level instalment of an equal-instalment schedule (before fees and deferred interest)."""

    @property
    def principal(self) -> Decimal:
        return self.request.principal

    @property
    def upfront_fee(self) -> Decimal:
        return self.request.upfront_fee

    @property
    def net_disbursement(self) -> Decimal:
        """What the borrower actually receives: the principal less any upfront fee."""
        return self.request.principal - self.request.upfront_fee

    @property
    def total_cost(self) -> Decimal:
        """Everything paid beyond the principal: interest and all fees."""
        return self.totals.interest + self.totals.fee + self.request.upfront_fee

    @property
    def maturity(self) -> date:
        return self.rows[-1].due_date

    def cash_flows(self) -> list[tuple[date, Decimal]]:
        """The borrower's cash flows: + net disbursement on the start date, - each payment."""
        flows = [(self.request.start, self.net_disbursement)]
        flows.extend((row.due_date, -row.payment) for row in self.rows)
        return flows

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; amounts as strings."""
        request = self.request
        return {
            "method": self.method.value,
            "principal": str(request.principal),
            "annual_rate": str(request.annual_rate),
            "periods": request.periods,
            "frequency": request.frequency.value,
            "day_count": request.day_count.value,
            "start": request.start.isoformat(),
            "grace_periods": request.grace_periods,
            "grace": request.grace.value,
            "upfront_fee": str(request.upfront_fee),
            "net_disbursement": str(self.net_disbursement),
            "level_payment": None if self.level_payment is None else str(self.level_payment),
            "rows": [row.as_dict() for row in self.rows],
            "totals": self.totals.as_dict(),
        }
