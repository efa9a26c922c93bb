"""Demo stage: disburse the approved loans, live through 12 months of repayments, close each day.

Needs the decisions stage. Every approved decision is accepted and disbursed the day after the
world ends; borrowers then behave as the simulator's ground truth says. A borrower defaults on the
new loan with probability ``pd_true`` (their own luck drawn afresh), or, for people the simulator
gave no loan, as its counterfactual ``defaulted`` says; a defaulter pays until an instalment drawn
from the truth (``default_at`` less the 90 days it took, for people whose earlier loan defaulted;
the simulator's own rule otherwise) and never again. Good payers pay on their due dates and one in
ten prepays in full at a random month. The books keep one open business day: end of day has
closed the day before, the day's payments are posted, then that day's end of day runs. The stage
prints the portfolio by delinquency bucket, the vintage curve (share of loans ever 30+ and 90+
days past due by month on book), the labels written back for scoring and the trial balance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table
from sqlalchemy import Engine, func, select

from creditgraph.console.display import yuan
from creditgraph.servicing.calendar import add_months

if TYPE_CHECKING:
    from creditgraph.demo import DemoContext
    from creditgraph.servicing.loans import LoanService

MONTHS = 12
PREPAY_SHARE = 0.10
ACTOR = "demo"
CHANNEL = "demo-bank"  # the payment channel whose daily repayment file the demo posts


@dataclass(frozen=True)
class Behaviour:
    """How one borrower will behave: stop paying from ``stops_at`` (or never); prepay on a date."""

    stops_at: int | None = None
    prepay_on: date | None = None


def _truth(ctx: DemoContext, people: set[str]) -> dict[str, tuple[bool, float, int | None]]:
    """(counterfactual default, pd, months from an earlier loan to its default) per pseudonym."""
    import pyarrow.parquet as pq

    from creditgraph.contracts.schema import Namespace
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key

    simulation = ctx.results["simulation"]
    truth = pq.read_table(
        simulation.truth_path,
        columns=["person_id", "pd_true", "defaulted", "has_loan", "default_at"],
    ).to_pylist()
    applied = {
        row["person_id"]: row["applied_at"]
        for row in pq.read_table(
            simulation.files["loan_outcomes"], columns=["person_id", "applied_at"]
        ).to_pylist()
    }
    pseudo = Pseudonymiser(load_or_create_key(ctx.settings.key_file))
    out: dict[str, tuple[bool, float, int | None]] = {}
    for row in truth:
        person = pseudo.one(Namespace.PERSON, row["person_id"])
        if person not in people:
            continue
        months = None
        start = applied.get(row["person_id"])
        if row["default_at"] is not None and start is not None:
            months = round((row["default_at"] - start).days / 30.4)
        counterfactual = bool(row["defaulted"]) and not row["has_loan"]
        out[person] = (counterfactual, float(row["pd_true"]), months)
    return out


def behaviours(
    loans: list[tuple[str, str, list[date]]],
    truth: dict[str, tuple[bool, float, int | None]],
    seed: int,
) -> dict[str, Behaviour]:
    """Each loan's borrower behaviour, drawn reproducibly from the ground truth."""
    rng = np.random.default_rng(seed + 6)
    out: dict[str, Behaviour] = {}
    for loan_id, person, dues in loans:
        counterfactual, pd, months = truth.get(person, (False, 0.0, None))
        defaults = counterfactual or bool(rng.random() < pd)
        term = len(dues)
        if defaults:
            # The simulator's defaults reach 90 DPD three months after the first missed instalment.
            stop = months - 3 if months is not None else 1 + int(rng.exponential(2.5))
            out[loan_id] = Behaviour(stops_at=max(1, min(stop, term, 9)))
        elif term > 2 and rng.random() < PREPAY_SHARE:
            month = int(rng.integers(1, min(term, MONTHS) - 1))
            out[loan_id] = Behaviour(prepay_on=dues[month - 1] + timedelta(days=10))
        else:
            out[loan_id] = Behaviour()
    return out


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


def _actions(
    schedules: dict[str, tuple[str, list[date]]], plans: dict[str, Behaviour]
) -> dict[date, list[tuple[str, str]]]:
    """Payments by business date: ("repay" | "prepay", loan)."""
    actions: dict[date, list[tuple[str, str]]] = {}
    for loan_id, (_, dues) in schedules.items():
        plan = plans[loan_id]
        for n, due in enumerate(dues, start=1):
            if plan.stops_at is not None and n >= plan.stops_at:
                break
            if plan.prepay_on is not None and due > plan.prepay_on:
                break
            actions.setdefault(due, []).append(("repay", loan_id))
        if plan.prepay_on is not None:
            actions.setdefault(plan.prepay_on, []).append(("prepay", loan_id))
    return actions


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
        truth = _truth(ctx, {person for person, _ in schedules.values()})
        plans = behaviours(
            [(loan_id, person, dues) for loan_id, (person, dues) in schedules.items()],
            truth,
            ctx.seed,
        )
        actions = _actions(schedules, plans)
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


class VintageCurve:
    """Share of one vintage ever 30+ and 90+ days past due, by month on book."""

    def __init__(self, disbursed: date, loans: int) -> None:
        self.disbursed = disbursed
        self.loans = loans
        self.ever: dict[int, dict[str, int]] = {30: {}, 90: {}}
        self.month_ends = {add_months(disbursed, m): m for m in range(1, MONTHS + 1)}
        self.marks: dict[int, tuple[int, int]] = {}

    def observe(self, db: Engine, day: date) -> None:
        from creditgraph.servicing.book import LOANS

        with db.connect() as conn:
            rows = conn.execute(select(LOANS.c.id, LOANS.c.dpd).where(LOANS.c.dpd >= 30)).all()
        for loan_id, dpd in rows:
            for threshold, seen in self.ever.items():
                if dpd >= threshold:
                    seen.setdefault(loan_id, 1)
        month = self.month_ends.get(day)
        if month is not None:
            self.marks[month] = (len(self.ever[30]), len(self.ever[90]))

    def table(self) -> Table:
        """One row per month on book: the share of the vintage ever 30+ and 90+ past due."""
        table = Table(
            title=f"vintage {self.disbursed:%Y-%m}: share ever past due by month on book 账龄曲线",
            caption=f"of the {self.loans:,} loans disbursed on {self.disbursed}",
        )
        for column in ("month on book", "ever 30+ DPD", "ever 90+ DPD", "loans observed"):
            table.add_column(column, justify="right")
        for month in sorted(self.marks):
            ever_30, ever_90 = self.marks[month]
            table.add_row(
                str(month),
                f"{ever_30 / max(self.loans, 1):.1%}",
                f"{ever_90 / max(self.loans, 1):.1%}",
                f"{self.loans:,}",
            )
        return table


def bucket_table(db: Engine) -> Table:
    """Loans and balances by delinquency bucket, with closed and written-off loans below."""
    from creditgraph.money import from_fen
    from creditgraph.servicing.book import INSTALMENTS as R
    from creditgraph.servicing.book import LOANS
    from creditgraph.servicing.delinquency import BUCKETS

    outstanding = (
        select(
            R.c.loan_id,
            func.sum(R.c.principal_due_fen - R.c.principal_paid_fen).label("principal"),
            func.sum(R.c.interest_accrued_fen - R.c.interest_paid_fen).label("interest"),
            func.sum(R.c.penalty_accrued_fen - R.c.penalty_paid_fen - R.c.penalty_memo_fen).label(
                "penalty"
            ),
            func.sum(R.c.penalty_memo_fen).label("memo"),
        )
        .where(R.c.superseded.is_(False))
        .group_by(R.c.loan_id)
        .subquery()
    )
    with db.connect() as conn:
        rows = conn.execute(
            select(
                LOANS.c.state,
                LOANS.c.bucket,
                func.count(),
                func.sum(outstanding.c.principal),
                func.sum(outstanding.c.interest),
                func.sum(outstanding.c.penalty),
                func.sum(outstanding.c.memo),
            )
            .join(outstanding, outstanding.c.loan_id == LOANS.c.id)
            .group_by(LOANS.c.state, LOANS.c.bucket)
        ).all()
    serviced: dict[str, list[int]] = {b.value: [0, 0, 0, 0] for b in BUCKETS}
    other: dict[str, list[int]] = {}
    memo = 0
    for state, bucket, count, principal, interest, penalty, memo_fen in rows:
        values = [int(count), int(principal or 0), int(interest or 0), int(penalty or 0)]
        memo += int(memo_fen or 0) if state in ("active", "overdue") else 0
        target = (
            serviced.setdefault(bucket, [0, 0, 0, 0])
            if state in ("active", "overdue")
            else other.setdefault(state, [0, 0, 0, 0])
        )
        for k in range(4):
            target[k] += values[k]
    total = sum(v[1] for v in serviced.values())
    caption = (
        f"penalty: receivable; {from_fen(memo):,} more is memo (owed by NPA loans, off balance)"
        if memo
        else "interest and penalty: receivable (accrued, not yet paid)"
    )
    table = Table(title="portfolio by delinquency bucket 逾期分档", caption=caption)
    table.add_column("bucket", no_wrap=True)
    for column in ("loans", "principal", "share", "interest", "penalty"):
        table.add_column(column, justify="right")
    for bucket, (count, principal, interest, penalty) in serviced.items():
        table.add_row(
            bucket,
            f"{count:,}",
            f"{from_fen(principal):,}",
            f"{principal / max(total, 1):.1%}",
            f"{from_fen(interest):,}",
            f"{from_fen(penalty):,}",
        )
    for state, (count, principal, _, _) in sorted(other.items()):
        table.add_row(
            STATE_LABELS.get(state, state),
            f"{count:,}",
            f"{from_fen(principal):,}" if principal else "-",
            "",
            "",
            "",
        )
    return table


STATE_LABELS = {"closed": "closed 已结清", "written_off": "written off 已核销"}
"""Loans no longer serviced, as the bucket table names them (principal: what was written off)."""


def labels_line(db: Engine) -> str:
    """How many outcome labels the end of day wrote back for scoring."""
    from creditgraph.store.models import LoanOutcome

    with db.connect() as conn:
        rows = conn.execute(
            select(LoanOutcome.defaulted, func.count())
            .where(LoanOutcome.batch_id.like("eod-%"))
            .group_by(LoanOutcome.defaulted)
        ).all()
    counts = {bool(d): int(n) for d, n in rows}
    return (
        f"labels for scoring 回流标签 (loan_outcomes): {counts.get(True, 0):,} defaults "
        f"(90+ DPD within 12 months), {counts.get(False, 0):,} good"
    )


def trial_balance_table(db: Engine) -> Table:
    """Debits and credits by account; the footer is the difference, zero when the books balance."""
    from creditgraph.servicing.ledger import trial_balance

    tb = trial_balance(db)
    table = Table(title="trial balance by account 试算平衡表")
    for column in ("account", "debit", "credit", "balance"):
        table.add_column(column, justify="left" if column == "account" else "right")
    for row in tb["accounts"]:
        table.add_row(row["account"], *(yuan(row[k]) for k in ("debit", "credit", "balance")))
    table.add_row("total", *(yuan(tb[k]) for k in ("total_debit", "total_credit", "difference")))
    return table


def trial_balance_line(db: Engine) -> str:
    """One line a reader (or a test) can check: zero difference means the books balance."""
    from creditgraph.servicing.ledger import trial_balance

    tb = trial_balance(db)
    verdict = "balanced 借贷平衡" if tb["balanced"] else "NOT BALANCED"
    return (
        f"trial balance 试算平衡: difference {tb['difference']}, {verdict} "
        f"(debits {yuan(tb['total_debit'])} = credits {yuan(tb['total_credit'])})"
    )
