"""What the demo's servicing stage prints about the book: the portfolio by delinquency bucket,
the vintage curve, the labels written back for scoring and the trial balance."""

from __future__ import annotations

from datetime import date

from rich.table import Table
from sqlalchemy import Engine, func, select

from creditgraph.console.display import yuan
from creditgraph.demo.borrowers import MONTHS
from creditgraph.servicing.calendar import add_months


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
