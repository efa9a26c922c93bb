"""The disbursement processor: an accepted loan paid out, its schedule starting that day."""

from __future__ import annotations

from datetime import date

from creditgraph.money import from_fen, to_fen
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.apr import schedule_all_in_rate
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.core.dates import check_open_date
from creditgraph.servicing.core.plan import (
    Lines,
    NewInstalment,
    PostingPlan,
    StateEvent,
    TransactionKind,
)
from creditgraph.servicing.core.values import LoanSnapshot
from creditgraph.servicing.daycount import DayCount
from creditgraph.servicing.lifecycle import LoanEvent, transition
from creditgraph.servicing.model import Method, ScheduleRequest
from creditgraph.servicing.schedules import generate_schedule


def disbursement(loan: LoanSnapshot, on: date, *, actor: str) -> PostingPlan:
    """Dr loans_receivable the principal; Cr cash_clearing what is paid out and fee_income the
    upfront fee kept; the schedule generated from the loan's terms, due dates from ``on``."""
    target = transition(loan.state, LoanEvent.DISBURSE, loan.id)
    check_open_date(loan, on, "disbursement")
    request = ScheduleRequest(
        principal=from_fen(loan.principal_fen),
        annual_rate=loan.nominal_rate,
        periods=loan.periods,
        method=Method(loan.method),
        start=on,
        frequency=Frequency(loan.frequency),
        day_count=DayCount(loan.day_count),
        upfront_fee=from_fen(loan.upfront_fee_fen),
        fee_per_period=from_fen(loan.fee_per_period_fen),
    )
    schedule = generate_schedule(request)
    starts = [on, *(row.due_date for row in schedule.rows[:-1])]
    instalments = tuple(
        NewInstalment(
            number=row.n,
            due_date=row.due_date,
            period_start=start,
            principal_due_fen=to_fen(row.principal),
            interest_due_fen=to_fen(row.interest),
            fee_due_fen=to_fen(row.fee),
        )
        for row, start in zip(schedule.rows, starts, strict=True)
    )
    principal, fee = loan.principal_fen, loan.upfront_fee_fen
    lines = Lines()
    lines.dr(Account.LOANS_RECEIVABLE, principal)
    lines.cr(Account.CASH_CLEARING, principal - fee)
    lines.cr(Account.FEE_INCOME, fee)
    all_in = str(schedule_all_in_rate(schedule))
    return PostingPlan(
        loan_id=loan.id,
        kind=TransactionKind.DISBURSEMENT,
        business_date=on,
        amount_fen=principal,
        actor=actor or "service",
        lines=lines.lines(),
        detail={
            "actor": actor,
            "state_before": loan.state,
            "state_after": target.value,
            "net_disbursed_fen": principal - fee,
            "upfront_fee_fen": fee,
            "all_in_rate": all_in,
            "version_after": loan.version + 1,
        },
        new_instalments=instalments,
        loan_values={
            "state": target.value,
            "start_date": on,
            "disbursed_on": on,
            "first_due": instalments[0].due_date,
            "maturity": instalments[-1].due_date,
            "all_in_rate": all_in,
        },
        events=(StateEvent(loan.state, target.value, LoanEvent.DISBURSE.value),),
    )
