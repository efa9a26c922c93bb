"""Demo stage 6: disburse the approved loans, live through 12 months of repayments, close each day.

Needs the decisions stage. Every approved decision is accepted and disbursed the day after the
world ends; borrowers then behave as the simulator's ground truth says (``borrowers``). The books
keep one open business day: end of day has closed the day before, the day's payments are posted,
then that day's end of day runs. The stage prints (``portfolio``) the portfolio by delinquency
bucket, the vintage curve (share of loans ever 30+ and 90+ days past due by month on book), the
labels written back for scoring and the trial balance.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from creditgraph.demo.borrowers import MONTHS, behaviours, ground_truth, payments_by_day
from creditgraph.demo.portfolio import (
    VintageCurve,
    bucket_table,
    labels_line,
    trial_balance_line,
    trial_balance_table,
)
from creditgraph.servicing.calendar import add_months

if TYPE_CHECKING:
    from creditgraph.demo.context import DemoContext
    from creditgraph.servicing.loans import LoanService

ACTOR = "demo"
CHANNEL = "demo-bank"  # the payment channel whose daily repayment file the demo posts


def _disburse(service: LoanService, decisions: list[dict[str, Any]], on: date) -> list[str]:
    loans = []
    for record in decisions:
        loan_id = str(service.accept(record["id"], 0, actor=ACTOR)["loan_id"])
        service.disburse(loan_id, on, key=f"demo-disburse-{loan_id}", actor=ACTOR)
        loans.append(loan_id)
    return loans


def _schedules(db: Engine, loan_ids: list[str]) -> dict[str, tuple[str, list[date]]]:
    """(person, due dates) of each loan, in two queries."""
    from creditgraph.servicing.book import INSTALMENTS, LOANS

    with db.connect() as conn:
        people = dict(conn.execute(select(LOANS.c.id, LOANS.c.person_id)).all())
        dues: dict[str, list[date]] = {}
        for loan_id, due in conn.execute(
            select(INSTALMENTS.c.loan_id, INSTALMENTS.c.due_date).order_by(
                INSTALMENTS.c.loan_id, INSTALMENTS.c.number
            )
        ):
            dues.setdefault(loan_id, []).append(due)
    return {loan_id: (people[loan_id], dues[loan_id]) for loan_id in loan_ids}


def _owed(db: Engine, loan_ids: list[str], day: date) -> dict[str, int]:
    """Fen due on or before ``day`` and unpaid, penalty included, for each loan, in one query."""
    from creditgraph.servicing.book import INSTALMENTS as R

    if not loan_ids:
        return {}
    with db.connect() as conn:
        rows = conn.execute(
            select(
                R.c.loan_id,
                func.sum(
                    R.c.principal_due_fen
                    - R.c.principal_paid_fen
                    + R.c.interest_due_fen
                    - R.c.interest_paid_fen
                    + R.c.fee_due_fen
                    - R.c.fee_paid_fen
                    + R.c.penalty_accrued_fen
                    - R.c.penalty_paid_fen
                ),
            )
            .where(R.c.loan_id.in_(loan_ids), R.c.superseded.is_(False), R.c.due_date <= day)
            .group_by(R.c.loan_id)
        ).all()
    return {loan_id: int(fen or 0) for loan_id, fen in rows}


def servicing_stage(ctx: DemoContext) -> None:
    """Disburse, service for ``MONTHS`` months with a daily end of day, print the portfolio."""
    from creditgraph.money import from_fen
    from creditgraph.servicing.eod import run_eod
    from creditgraph.servicing.loans import LoanService, Payment
    from creditgraph.store.db import migrated_engine

    ctx.console.rule("6. Servicing: 12 months of repayments and end of day 贷后管理与日终")
    approved = [r for r in ctx.results["decisions"].decisions if r["outcome"] == "approve"]
    start = ctx.results["simulation_config"].end_date + timedelta(days=1)
    end = add_months(start, MONTHS)
    started = time.perf_counter()
    with migrated_engine(ctx.settings.database_url) as db:
        service = LoanService(db)
        # Close the eve of the first day, so every posting below is dated in the open day.
        run_eod(db, start - timedelta(days=1), timezone=ctx.settings.timezone)
        with ctx.console.status(f"disbursing {len(approved):,} approved loans…"):
            loan_ids = _disburse(service, approved, start)
        schedules = _schedules(db, loan_ids)
        truth = ground_truth(ctx, {person for person, _ in schedules.values()})
        plans = behaviours(
            [(loan_id, person, dues) for loan_id, (person, dues) in schedules.items()],
            truth,
            ctx.seed,
        )
        actions = payments_by_day(schedules, plans)
        curve = VintageCurve(start, len(loan_ids))
        payments = 0
        with ctx.console.status("servicing…") as status:
            day = start
            while day <= end:  # end of day has closed the day before: post today, then close it
                todays = actions.get(day, [])
                owed = _owed(db, [loan_id for action, loan_id in todays if action == "repay"], day)
                # Money comes from a payment channel: the day's repayments are its file, the
                # prepayments what it received for them.
                paid_file = [
                    Payment(loan_id, from_fen(owed[loan_id]), day, f"demo-{loan_id}-{day}")
                    for action, loan_id in todays
                    if action == "repay" and owed.get(loan_id)
                ]
                for result in service.repay_many(paid_file, actor=ACTOR, channel=CHANNEL):
                    if isinstance(result, Exception):
                        raise result
                payments += len(paid_file)
                for action, loan_id in todays:
                    if action == "prepay":
                        service.prepay(
                            loan_id,
                            day,
                            full=True,
                            key=f"demo-pp-{loan_id}",
                            actor=ACTOR,
                            channel=CHANNEL,
                        )
                        payments += 1
                run_eod(db, day, timezone=ctx.settings.timezone)
                curve.observe(db, day)
                if day.day == 1:
                    status.update(f"servicing… end of day {day}")
                day += timedelta(days=1)
        seconds = time.perf_counter() - started
        ctx.console.print(
            f"{len(loan_ids):,} loans disbursed on {start}; {payments:,} repayments and "
            f"prepayments; end of day run daily through {end} ({seconds:.1f} s)",
            highlight=False,
        )
        ctx.console.print(bucket_table(db))
        ctx.console.print(curve.table())
        ctx.console.print(labels_line(db))
        ctx.console.print(trial_balance_table(db))
        ctx.console.print(trial_balance_line(db), soft_wrap=True, highlight=False)
        ctx.results["servicing"] = {"loans": len(loan_ids), "seconds": seconds}
