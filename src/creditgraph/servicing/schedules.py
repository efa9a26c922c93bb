"""Schedule generation: one named strategy per repayment method, as in Apache Fineract.

Each strategy turns a plan (the periods, each with its due date and rate) into lines of principal
and interest; the engine around it adds fees, opening and closing balances and totals. Strategies
are written once over an ``Arithmetic`` and so run both on the fen grid and in exact fractions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from typing import ClassVar, NamedTuple

from creditgraph.money import FEN
from creditgraph.servicing.arithmetic import (
    WIDE,
    Arithmetic,
    ExactArithmetic,
    GridArithmetic,
    T,
    annuity_rounded,
)
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.daycount import DayCount, PeriodRate, dated_rate, periodic_rate
from creditgraph.servicing.errors import ScheduleError
from creditgraph.servicing.model import (
    GraceType,
    Method,
    Schedule,
    ScheduleRequest,
    ScheduleRow,
    Totals,
)
from creditgraph.servicing.rounding import InstalmentFit, RoundingPolicy, round_fraction

Line = tuple[int, T, T]
"""(period number the payment falls due in, principal, interest)."""


class Plan(NamedTuple):
    """The periods of a loan: due dates and the rate each period carries, worked out once.

    A named tuple rather than a dataclass: one is built per schedule, on the hot path.
    """

    principal: Decimal
    periods: int
    grace_periods: int
    full_grace: bool
    dates: tuple[date, ...]
    rates: tuple[PeriodRate, ...]
    instalment: Decimal | None
    fit: InstalmentFit


def make_plan(request: ScheduleRequest) -> Plan:
    """Due dates and per-period rates for a validated request."""
    first_due = request.first_due_date
    dates = request.due_dates
    nominal = periodic_rate(request.annual_rate, request.periods_per_year)
    if request.day_count is DayCount.PERIODIC:
        # Validation allows only a whole first period or none (first instalment on the start date).
        if first_due == request.start:
            rates = (PeriodRate(Decimal(0), nominal.denominator),) + (nominal,) * (
                request.periods - 1
            )
        else:
            rates = (nominal,) * request.periods
    else:
        previous = (request.start, *dates[:-1])
        rates = tuple(
            dated_rate(request.annual_rate, request.day_count, a, b)
            for a, b in zip(previous, dates, strict=True)
        )
    return Plan(
        principal=request.principal,
        periods=request.periods,
        grace_periods=request.grace_periods,
        full_grace=request.grace is GraceType.FULL,
        dates=dates,
        rates=rates,
        instalment=request.instalment,
        fit=request.rounding.fit,
    )


class _EarlyRepayment(ScheduleError):
    """A level instalment that would repay the loan before its last period."""


class ScheduleStrategy(ABC):
    """How one repayment method splits each instalment into principal and interest."""

    method: ClassVar[Method]

    @abstractmethod
    def lines(self, plan: Plan, arith: Arithmetic[T]) -> tuple[list[Line[T]], T | None]:
        """The instalments as (period, principal, interest), and the level instalment if any.

        Principal parts must sum to the loan amount exactly and the last line must close the loan.
        """


def _grace_line(
    k: int, interest: T, plan: Plan, arith: Arithmetic[T], deferred: T
) -> tuple[Line[T], T]:
    """A grace-period line: interest only, or nothing with the interest deferred."""
    if plan.full_grace:
        return (k, arith.zero, arith.zero), deferred + interest
    return (k, arith.zero, interest), deferred


class EqualInstallment(ScheduleStrategy):
    """等额本息: a level instalment; interest on the falling balance, principal the rest.

    The instalment is the annuity that repays the loan over the amortising periods at their own
    rates, rounded by the policy: with the periodic convention the textbook PMT at annual / 12
    (the annuity-due when the first instalment falls on the start date); with a dated day count,
    the payment that repays exactly under the calendar's periods. The last instalment repays
    whatever balance is left, absorbing the residue.

    Two edge cases keep every valid request feasible. Rounding up compounds: over a long, dear
    term a fraction of a fen too much each period can repay the loan early, so the instalment is
    then the largest rounded one that leaves principal for the last period. And a period whose
    interest exceeds the instalment (a long broken first period, a 31-day month at ACT/360 early
    in a long, dear loan) pays its interest and no principal rather than amortise negatively.
    A fixed ``instalment`` from the request is never changed: it is refused instead.
    """

    method = Method.EQUAL_INSTALLMENT

    def lines(self, plan: Plan, arith: Arithmetic[T]) -> tuple[list[Line[T]], T | None]:
        if plan.instalment is not None:
            level = arith.amount(plan.instalment)
            return self.amortise(plan, arith, level, fixed=True), level
        level = self.level_payment(plan, arith)
        step = arith.instalment_step
        try:
            return self.amortise(plan, arith, level), level
        except _EarlyRepayment:
            if step is None:
                raise
        # The largest instalment on the rounding grid that does not repay early. A lower
        # instalment leaves more to repay at every period, so feasibility is monotone and a
        # bisection over whole steps finds it (zero, interest only, is always feasible).
        feasible, too_much = 0, int(level / step)
        while too_much - feasible > 1:
            middle = (feasible + too_much) // 2
            try:
                self.amortise(plan, arith, step * middle)
            except _EarlyRepayment:
                too_much = middle
            else:
                feasible = middle
        level = step * feasible
        return self.amortise(plan, arith, level), level

    def level_payment(self, plan: Plan, arith: Arithmetic[T]) -> T:
        """The rounded annuity over the amortising periods (before any feasibility step)."""
        payment = arith.instalment(plan.principal, plan.rates[plan.grace_periods :])
        step = arith.instalment_step
        if plan.fit is InstalmentFit.BALANCE_LAST and step is not None:
            payment = self._balance_last(plan, arith, payment, step)
        return payment

    def amortise(
        self, plan: Plan, arith: Arithmetic[T], level: T, fixed: bool = False
    ) -> list[Line[T]]:
        """The lines for a given level instalment; raises when it cannot repay on schedule."""
        balance = arith.amount(plan.principal)
        zero = arith.zero
        deferred = zero
        interest_of = arith.interest
        rates = plan.rates
        last = plan.periods
        grace = plan.grace_periods
        out: list[Line[T]] = []
        for k in range(1, last + 1):
            interest = interest_of(balance, rates[k - 1])
            if k <= grace:
                line, deferred = _grace_line(k, interest, plan, arith, deferred)
                out.append(line)
                continue
            if k == last:
                principal = balance
            else:
                principal = level - interest
                if principal < zero:
                    if fixed:
                        raise ScheduleError(
                            f"the instalment {arith.to_decimal(level)} does not cover the "
                            f"interest {arith.to_decimal(interest)} of period {k}"
                        )
                    principal = zero
                if principal >= balance:
                    raise _EarlyRepayment(
                        f"the instalment {arith.to_decimal(level)} repays the loan by period {k} "
                        f"of {last}; use fewer periods or a smaller instalment"
                    )
            if deferred:
                interest = interest + deferred
                deferred = zero
            out.append((k, principal, interest))
            balance = balance - principal
        return out

    def _balance_last(self, plan: Plan, arith: Arithmetic[T], start: T, step: T) -> T:
        """Move the instalment by whole steps while the last instalment gets closer to it."""

        def gap(level: T) -> T | None:
            try:
                _, principal, interest = self.amortise(plan, arith, level)[-1]
            except ScheduleError:
                return None
            return abs(principal + interest - level)

        best = start
        best_gap = gap(start)
        if best_gap is None:
            return start
        for direction in (step, -step):
            moved = False
            for _ in range(1000):
                candidate = best + direction
                candidate_gap = gap(candidate)
                if candidate_gap is None or candidate_gap >= best_gap:
                    break
                best, best_gap, moved = candidate, candidate_gap, True
            if moved:
                break
        return best


class EqualPrincipal(ScheduleStrategy):
    """等额本金: the same principal each period (the last takes the rounding residue)."""

    method = Method.EQUAL_PRINCIPAL

    def lines(self, plan: Plan, arith: Arithmetic[T]) -> tuple[list[Line[T]], T | None]:
        balance = arith.amount(plan.principal)
        zero = arith.zero
        amortising = plan.periods - plan.grace_periods
        part = arith.share(balance, amortising)
        if part * (amortising - 1) >= balance:
            # Rounding a tiny part up would leave nothing for the last period: round it down.
            part = arith.share_down(balance, amortising)
            if not part:
                raise ScheduleError(
                    f"the principal {arith.to_decimal(balance)} is too small to repay in "
                    f"{amortising} parts of at least one rounding unit"
                )
        deferred = zero
        interest_of = arith.interest
        rates = plan.rates
        last = plan.periods
        grace = plan.grace_periods
        out: list[Line[T]] = []
        for k in range(1, last + 1):
            interest = interest_of(balance, rates[k - 1])
            if k <= grace:
                line, deferred = _grace_line(k, interest, plan, arith, deferred)
                out.append(line)
                continue
            principal = balance if k == last else part
            if deferred:
                interest = interest + deferred
                deferred = zero
            out.append((k, principal, interest))
            balance = balance - principal
        return out, None


class InterestFirst(ScheduleStrategy):
    """先息后本: interest every period, the whole principal with the last instalment."""

    method = Method.INTEREST_FIRST

    def lines(self, plan: Plan, arith: Arithmetic[T]) -> tuple[list[Line[T]], T | None]:
        balance = arith.amount(plan.principal)
        zero = arith.zero
        deferred = zero
        last = plan.periods
        grace = plan.grace_periods
        out: list[Line[T]] = []
        previous_rate: PeriodRate | None = None
        interest = zero
        for k, rate in enumerate(plan.rates, start=1):
            if rate is not previous_rate:  # the balance never changes, so neither does its interest
                interest = arith.interest(balance, rate)
                previous_rate = rate
            if k <= grace:
                line, deferred = _grace_line(k, interest, plan, arith, deferred)
                out.append(line)
                continue
            if deferred:
                out.append((k, balance if k == last else zero, interest + deferred))
                deferred = zero
            else:
                out.append((k, balance if k == last else zero, interest))
        return out, None


class Bullet(ScheduleStrategy):
    """到期还本付息: one payment at maturity of the principal and simple interest for the term."""

    method = Method.BULLET

    def lines(self, plan: Plan, arith: Arithmetic[T]) -> tuple[list[Line[T]], T | None]:
        balance = arith.amount(plan.principal)
        return [(plan.periods, balance, arith.interest_over(balance, plan.rates))], None


STRATEGIES: dict[Method, ScheduleStrategy] = {
    strategy.method: strategy
    for strategy in (EqualInstallment(), EqualPrincipal(), InterestFirst(), Bullet())
}
"""The strategy of each method; a new method is a new class registered here."""


_new = object.__new__
_set = object.__setattr__


def _row(
    n: int,
    due_date: date,
    opening: Decimal,
    principal: Decimal,
    interest: Decimal,
    fee: Decimal,
    payment: Decimal,
    closing: Decimal,
) -> ScheduleRow:
    """A ``ScheduleRow`` equal to ``ScheduleRow(...)`` at a third of the cost.

    A frozen dataclass's ``__init__`` sets its eight fields one ``object.__setattr__`` at a time;
    rows are the engine's hot path and carry no validation, so their attribute dict is set at once.
    """
    row = _new(ScheduleRow)
    _set(
        row,
        "__dict__",
        {
            "n": n,
            "due_date": due_date,
            "opening_principal": opening,
            "principal": principal,
            "interest": interest,
            "fee": fee,
            "payment": payment,
            "closing_principal": closing,
        },
    )
    return row


def _build_grid(
    request: ScheduleRequest, plan: Plan, arith: GridArithmetic
) -> tuple[list[ScheduleRow], Totals, Decimal | None]:
    """Rows and totals on the rounding grid (every amount a Decimal multiple of the unit)."""
    lines, level = STRATEGIES[request.method].lines(plan, arith)
    fee_each = arith.amount(request.fee_per_period)
    opening = arith.amount(plan.principal)
    dates = plan.dates
    rows: list[ScheduleRow] = []
    append = rows.append
    total_interest = arith.zero
    previous = 0
    for n, (k, principal, interest) in enumerate(lines, start=1):
        fee = fee_each if k - previous == 1 else fee_each * (k - previous)
        previous = k
        closing = opening - principal
        payment = principal + interest + fee if fee else principal + interest
        append(_row(n, dates[k - 1], opening, principal, interest, fee, payment, closing))
        total_interest += interest
        opening = closing
    principal_total = arith.amount(plan.principal)
    fee_total = fee_each * plan.periods
    totals = Totals(
        principal_total,
        total_interest,
        fee_total,
        principal_total + total_interest + fee_total,
    )
    return rows, totals, level


def _build_exact(
    request: ScheduleRequest, plan: Plan, arith: ExactArithmetic
) -> tuple[list[ScheduleRow], tuple[Fraction, Fraction, Fraction], Fraction | None]:
    """Rows shown as Decimals and totals kept as exact fractions (principal, interest, fee)."""
    lines, level = STRATEGIES[request.method].lines(plan, arith)
    fee_each = arith.amount(request.fee_per_period)
    show = arith.to_decimal
    opening = arith.amount(plan.principal)
    rows: list[ScheduleRow] = []
    total_interest = arith.zero
    previous = 0
    for n, (k, principal, interest) in enumerate(lines, start=1):
        fee = fee_each * (k - previous)
        previous = k
        closing = opening - principal
        rows.append(
            ScheduleRow(
                n,
                plan.dates[k - 1],
                show(opening),
                show(principal),
                show(interest),
                show(fee),
                show(principal + interest + fee),
                show(closing),
            )
        )
        total_interest += interest
        opening = closing
    return rows, (arith.amount(plan.principal), total_interest, fee_each * plan.periods), level


def generate_schedule(request: ScheduleRequest) -> Schedule:
    """The repayment schedule of ``request``: rows rounded by its policy, totals that tie."""
    plan = make_plan(request)
    policy = request.rounding
    with localcontext(WIDE):
        if policy.unit is None:
            exact = ExactArithmetic(policy.payment_unit, policy.instalment_mode)
            rows, (p, i, f), level = _build_exact(request, plan, exact)
            totals = Totals(*(exact.to_decimal(x) for x in (p, i, f, p + i + f)))
            level_dec = None if level is None else exact.to_decimal(level)
        else:
            instalment_unit = policy.instalment_unit
            assert instalment_unit is not None  # unit is set, so the instalment unit is too
            grid = GridArithmetic(policy.unit, policy.mode, instalment_unit, policy.instalment_mode)
            rows, totals, level_dec = _build_grid(request, plan, grid)
    return Schedule(
        rows=tuple(rows),
        totals=totals,
        method=request.method,
        request=request,
        level_payment=level_dec,
    )


class TotalsConvention(StrEnum):
    """Which total a quote shows; published calculators differ and all three appear in the wild.

    ``ROWS``: the sums of the rounded rows, what the borrower actually pays (the only one a ledger
    may use). ``PAYMENT_TIMES_N``: the rounded level instalment times the number of instalments,
    ignoring the last instalment's residue. ``EXACT``: the schedule without any rounding, summed and
    rounded once.
    """

    ROWS = "rows"
    PAYMENT_TIMES_N = "payment_times_n"
    EXACT = "exact"


def quote_totals(
    request: ScheduleRequest, convention: TotalsConvention = TotalsConvention.ROWS
) -> Totals:
    """The totals of ``request`` as a quote under ``convention`` (see ``TotalsConvention``)."""
    convention = TotalsConvention(convention)
    if convention is TotalsConvention.ROWS:
        return generate_schedule(request).totals
    unit = request.rounding.unit or FEN
    mode = request.rounding.mode
    if convention is TotalsConvention.PAYMENT_TIMES_N:
        if request.method is not Method.EQUAL_INSTALLMENT or request.grace_periods:
            raise ScheduleError(
                "payment_times_n is defined for equal_installment without grace periods only"
            )
        schedule = generate_schedule(request)
        assert schedule.level_payment is not None
        level = schedule.level_payment + request.fee_per_period
        payment = round_fraction(Fraction(level) * request.periods, unit, mode)
        fee = request.fee_per_period * request.periods
        return Totals(request.principal, payment - request.principal - fee, fee, payment)
    exact_request = replace(request, rounding=RoundingPolicy.exact())
    with localcontext(WIDE):
        arith = ExactArithmetic(None, mode)
        _, (p, i, f), _ = _build_exact(exact_request, make_plan(exact_request), arith)
    interest = round_fraction(i, unit, mode)
    fee = round_fraction(f, unit, mode)
    principal = round_fraction(p, unit, mode)
    return Totals(principal, interest, fee, principal + interest + fee)


def annuity_payment(
    principal: Decimal,
    annual_rate: Decimal,
    periods: int,
    *,
    frequency: Frequency = Frequency.MONTHLY,
    advance: bool = False,
    unit: Decimal = FEN,
    rounding: str = ROUND_HALF_UP,
) -> Decimal:
    """The level instalment (PMT) at ``annual_rate / periods_per_year``, rounded to ``unit``.

    ``advance=True`` gives the annuity-due (first payment on the start date). Building block for
    conventions that fix the instalment themselves, e.g. Frappe's whole-unit ceiling EMI.
    """
    check = ScheduleRequest(  # the same validation and messages as a schedule
        principal=principal,
        annual_rate=annual_rate,
        periods=periods,
        method=Method.EQUAL_INSTALLMENT,
        start=date(2000, 1, 1),
        frequency=frequency,
        rounding=RoundingPolicy(payment_unit=unit, payment_mode=rounding),
    )
    rate = periodic_rate(check.annual_rate, check.periods_per_year)
    policy = check.rounding
    assert policy.payment_unit is not None
    return annuity_rounded(
        check.principal, rate, periods, advance, policy.payment_unit, policy.instalment_mode
    )
