"""Benchmark: the end-of-day job over a book of active loans, and repayment posting.

    python bench/servicing.py                      # 20,000 loans, about a minute all in
    python bench/servicing.py --loans 1000000      # the target size (seeding takes minutes)
    python bench/servicing.py --repayments 0       # the end of day only
    python bench/servicing.py --schedules          # also run bench/schedules.py's measurement

1. End of day. A book of ``--loans`` active loans (3-12 months, equal instalment and equal
   principal, 7.2%-24%, disbursed over the months before the business date; 8% in arrears, some
   past 90 days) is seeded straight into a fresh SQLite database, as the end of day of the
   previous date would have left it. One end of day (``servicing.eod.run_eod``) is then timed:
   accrual on every loan, overdue detection, DPD and buckets, penalty, NPA, write-offs, labels.
   A second run of the same date is timed too (it must change nothing). Target: 1M loans in
   under 120 s.
2. Repayments. ``--repayments`` instalments are paid on their due dates through the posting
   service (``LoanService``, each with its idempotency key, journal lines and loan update in one
   transaction), then the same requests are replayed (they must post nothing). Postings are
   accepted only in the open business day (the day after the last completed end of day), so the
   payments are made day by day from the day after the business date, with that day's end of
   day run (not timed) before the next day's payments. Target: at least 2,000 repayments a
   second.

Schedules: ``bench/schedules.py`` measures schedule generation (100k in under 5 s); ``--schedules``
runs it here too rather than repeating it.

The seeded loans are not linked to stored decisions (foreign keys are off while seeding): the end
of day never reads decisions, and a million decision records would only slow the seeding down.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select

from creditgraph.servicing import Method, ScheduleRequest, generate_schedule
from creditgraph.servicing.delinquency import BUCKETS, accrued_to, bucket_index, penalty_rate
from creditgraph.servicing.eod import run_eod
from creditgraph.store.db import migrated_engine
from creditgraph.store.models import JournalLine

TARGETS = {"eod_s": 120.0, "eod_loans": 1_000_000, "repayments_per_s": 2_000.0}
AS_OF = date(2026, 9, 15)
PRINCIPALS = (3_000, 8_000, 20_000, 50_000)
RATES = ("0.0720", "0.1200", "0.1800", "0.2400")
TERMS = (3, 6, 12)
METHODS = (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL)
ARREARS_SHARE = 0.08
PRODUCT = "XFD-GEN"

Row = tuple[
    int, date, date, int, int
]  # number, period start, due date, principal fen, interest fen


def _schedules() -> Iterator[tuple[int, int, int, int]]:
    for p in range(len(PRINCIPALS)):
        for r in range(len(RATES)):
            for t in range(len(TERMS)):
                for m in range(len(METHODS)):
                    yield p, r, t, m


TEMPLATES = list(_schedules())
_CACHE: dict[tuple[int, date], list[Row]] = {}


def schedule_rows(template: int, start: date) -> list[Row]:
    """The instalments of one template loan disbursed on ``start`` (cached: few distinct keys)."""
    key = (template, start)
    rows = _CACHE.get(key)
    if rows is None:
        p, r, t, m = TEMPLATES[template]
        schedule = generate_schedule(
            ScheduleRequest(
                principal=Decimal(PRINCIPALS[p]),
                annual_rate=Decimal(RATES[r]),
                periods=TERMS[t],
                method=METHODS[m],
                start=start,
            )
        )
        starts = [start, *(row.due_date for row in schedule.rows[:-1])]
        rows = [
            (row.n, s, row.due_date, int(row.principal * 100), int(row.interest * 100))
            for row, s in zip(schedule.rows, starts, strict=True)
        ]
        _CACHE[key] = rows
    return rows


def seed_book(engine: Engine, loans: int, as_of: date, seed: int = 1) -> dict[str, int]:
    """Insert ``loans`` serviced loans as the end of day of ``as_of - 1`` left them."""
    rng = np.random.default_rng(seed)
    yesterday = as_of - timedelta(days=1)
    stamp = datetime(2026, 1, 1).isoformat(sep=" ")
    templates = rng.integers(len(TEMPLATES), size=loans)
    arrears = rng.random(loans) < ARREARS_SHARE
    counts = {"loans": loans, "instalments": 0, "in_arrears": 0, "npa": 0}
    loan_rows: list[tuple[object, ...]] = []
    instalment_rows: list[tuple[object, ...]] = []
    tx_rows: list[tuple[object, ...]] = []
    line_rows: list[tuple[object, ...]] = []
    sql = _statements()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")

        def flush() -> None:
            for name, batch in (
                ("loan", loan_rows),
                ("instalment", instalment_rows),
                ("tx", tx_rows),
                ("line", line_rows),
            ):
                if batch:
                    conn.exec_driver_sql(sql[name], batch)  # type: ignore[arg-type]
                    batch.clear()
            conn.commit()

        for k in range(loans):
            template = int(templates[k])
            p, r, t, m = TEMPLATES[template]
            term_days = TERMS[t] * 30
            start = as_of - timedelta(days=int(rng.integers(1, term_days - 3)))
            rows = schedule_rows(template, start)
            due_rows = [row for row in rows if row[2] <= yesterday]
            missed_from = None
            if arrears[k] and due_rows:
                late = [row for row in due_rows if (yesterday - row[2]).days < 170]
                if late:
                    missed_from = late[int(rng.integers(len(late)))][0]
            loan_id = f"BL-{k:010d}"
            dpd = 0
            since = None
            if missed_from is not None:
                first_missed = rows[missed_from - 1][2]
                dpd = (yesterday - first_missed).days
                since = (first_missed + timedelta(days=1)).isoformat()
                counts["in_arrears"] += 1
            npa = dpd >= 90
            counts["npa"] += npa
            rate = Decimal(RATES[r])
            principal = PRINCIPALS[p] * 100
            loan_rows.append(
                (
                    loan_id,
                    f"BD-{k:010d}",
                    f"bench-person-{k % 50_000}",
                    PRODUCT,
                    "overdue" if dpd else "active",
                    principal,
                    str(rate),
                    str(penalty_rate(rate)),
                    METHODS[m].value,
                    TERMS[t],
                    start.isoformat(),
                    start.isoformat(),
                    rows[0][2].isoformat(),
                    rows[-1][2].isoformat(),
                    dpd,
                    BUCKETS[int(bucket_index(np.asarray([dpd]))[0])].value,
                    int(npa),
                    since,
                    yesterday.isoformat(),
                    stamp,
                    stamp,
                )
            )
            for number, period_start, due, principal_due, interest_due in rows:
                settled = due <= yesterday and (missed_from is None or number < missed_from)
                if due <= yesterday:
                    accrued = interest_due
                else:
                    elapsed = (yesterday - period_start).days
                    accrued = accrued_to(interest_due, (due - period_start).days, elapsed)
                instalment_rows.append(
                    (
                        loan_id,
                        number,
                        due.isoformat(),
                        period_start.isoformat(),
                        principal_due,
                        interest_due,
                        principal_due if settled else 0,
                        interest_due if settled else 0,
                        accrued,
                    )
                )
            counts["instalments"] += len(rows)
            tx_id = f"TX-BENCH{k:012d}"
            tx_rows.append((tx_id, loan_id, start.isoformat(), principal, stamp))
            line_rows.append((tx_id, loan_id, "loans_receivable", principal, 0, start.isoformat()))
            line_rows.append((tx_id, loan_id, "cash_clearing", 0, principal, start.isoformat()))
            if len(loan_rows) >= 20_000:
                flush()
        flush()
        conn.exec_driver_sql(
            "INSERT INTO eod_runs (business_date, started_at, finished_at, loans_processed, status) "
            f"VALUES ('{yesterday.isoformat()}', '{stamp}', '{stamp}', {loans}, 'completed')"
        )
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    return counts


def _statements() -> dict[str, str]:
    return {
        "loan": (
            "INSERT INTO loans (id, decision_id, offer_index, person_id, product_code, state, "
            "principal_fen, upfront_fee_fen, fee_per_period_fen, nominal_rate, penalty_rate, "
            "prepayment_fee_rate, allocation_order, method, frequency, day_count, periods, "
            "start_date, disbursed_on, first_due, maturity, credit_fen, schedule_version, dpd, "
            "bucket, npa, overdue_since, accrued_through, version, created_at, updated_at) "
            "VALUES (?, ?, 0, ?, ?, ?, ?, 0, 0, ?, ?, '0', 'instalment:penalty,fee,interest,principal', ?, "
            "'monthly', 'periodic', ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, 0, ?, ?)"
        ),
        "instalment": (
            "INSERT INTO loan_instalments (loan_id, number, due_date, period_start, "
            "principal_due_fen, interest_due_fen, fee_due_fen, principal_paid_fen, "
            "interest_paid_fen, fee_paid_fen, interest_accrued_fen, penalty_accrued_fen, "
            "penalty_paid_fen, superseded, schedule_version) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, 0, 0, 0, 0)"
        ),
        "tx": (
            "INSERT INTO loan_transactions (id, loan_id, kind, business_date, amount_fen, actor, "
            "created_at, detail) VALUES (?, ?, 'disbursement', ?, ?, 'bench', ?, '{}')"
        ),
        "line": (
            "INSERT INTO journal_lines (transaction_id, loan_id, account, debit_fen, credit_fen, "
            "business_date) VALUES (?, ?, ?, ?, ?, ?)"
        ),
    }


def trial_balance(engine: Engine) -> int:
    table = JournalLine.__table__
    with engine.connect() as conn:
        total = conn.execute(select(func.sum(table.c.debit_fen - table.c.credit_fen))).scalar()
    return int(total or 0)


def bench_eod(engine: Engine, loans: int) -> None:
    started = time.perf_counter()
    counts = seed_book(engine, loans, AS_OF)
    seeded = time.perf_counter() - started
    print(
        f"seeded {counts['loans']:,} loans, {counts['instalments']:,} instalments "
        f"({counts['in_arrears']:,} in arrears, {counts['npa']:,} NPA) in {seeded:.1f} s"
    )
    started = time.perf_counter()
    result = run_eod(engine, AS_OF)
    elapsed = time.perf_counter() - started
    day = result.days[0]
    started = time.perf_counter()
    again = run_eod(engine, AS_OF)
    repeat = time.perf_counter() - started
    target = TARGETS["eod_s"] * loans / TARGETS["eod_loans"]
    projected = elapsed * TARGETS["eod_loans"] / loans
    print(
        f"end of day {AS_OF}: {day.loans:,} loans in {elapsed:.2f} s "
        f"({day.loans / elapsed:,.0f} loans/s); accrued {day.accrued_fen / 100:,.2f}, "
        f"penalty {day.penalty_fen / 100:,.2f}; {day.fell_overdue:,} fell overdue, "
        f"{day.became_npa:,} became NPA, {day.written_off:,} written off"
    )
    print(
        f"  target {TARGETS['eod_s']:.0f} s per 1M loans: {elapsed:.1f} s for {loans:,} is "
        f"{elapsed / target:.2f}x of the pro-rata budget ({target:.1f} s); "
        f"1M projected {projected:.1f} s"
    )
    print(
        f"  second run of the same date: {repeat * 1000:.0f} ms, "
        f"{'nothing done' if again.already_done else 'DID WORK'}; "
        f"trial balance {trial_balance(engine)} fen"
    )


def _next_instalments(engine: Engine, count: int) -> list[tuple[str, date, Decimal]]:
    """(loan, due date, amount) of the next instalment of ``count`` current loans, the earliest
    due first: the payments the borrowers of a book make over the following days."""
    from creditgraph.servicing.book import INSTALMENTS, LOANS

    c = INSTALMENTS.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                c.loan_id,
                func.min(c.due_date).label("due"),
            )
            .join(LOANS, LOANS.c.id == c.loan_id)
            .where(LOANS.c.state == "active", c.due_date > AS_OF)
            .group_by(c.loan_id)
            .order_by("due", c.loan_id)
            .limit(count)
        ).all()
        amounts = {
            (loan_id, due): fen
            for loan_id, due, fen in conn.execute(
                select(
                    c.loan_id, c.due_date, c.principal_due_fen + c.interest_due_fen + c.fee_due_fen
                )
                .join(LOANS, LOANS.c.id == c.loan_id)
                .where(LOANS.c.state == "active", c.due_date > AS_OF)
            )
        }
    return [(loan_id, due, Decimal(amounts[(loan_id, due)]).scaleb(-2)) for loan_id, due in rows]


def bench_repayments(engine: Engine, count: int) -> None:
    """Pay the next instalment of ``count`` current loans on its due date, then replay them.

    Day by day in the open business day: half of the day's payments one posting at a time (an
    API call each), the other half as a repayment file (``repay_many``: a savepoint per payment,
    a commit per 500), both timed; then the day's end of day (not timed)."""
    from creditgraph.servicing.loans import LoanService, Payment

    service = LoanService(engine)
    payments = _next_instalments(engine, count)
    by_day: dict[date, list[tuple[str, date, Decimal]]] = {}
    for payment in payments:
        by_day.setdefault(payment[1], []).append(payment)
    before = trial_balance(engine)
    single = batch = 0.0
    singles = batched = 0
    for day in sorted(by_day):
        run_eod(engine, day - timedelta(days=1))  # opens ``day`` for postings (not timed)
        todays = by_day[day]
        one_by_one, as_file = todays[::2], todays[1::2]
        started = time.perf_counter()
        for loan_id, due, amount in one_by_one:
            result = service.repay(loan_id, amount, due, key=f"bench-repay-{loan_id}-{due}")
            assert not result.replayed
        single += time.perf_counter() - started
        file = [Payment(lo, amount, due, f"bench-repay-{lo}-{due}") for lo, due, amount in as_file]
        started = time.perf_counter()
        posted = service.repay_many(file)
        batch += time.perf_counter() - started
        assert all(getattr(r, "replayed", None) is False for r in posted), posted[:3]
        singles, batched = singles + len(one_by_one), batched + len(as_file)
    started = time.perf_counter()
    for loan_id, due, amount in payments:
        result = service.repay(loan_id, amount, due, key=f"bench-repay-{loan_id}-{due}")
        assert result.replayed
    replay = time.perf_counter() - started
    n = len(payments)
    target = TARGETS["repayments_per_s"]
    rate, file_rate = singles / single, batched / max(batch, 1e-9)
    print(
        f"repayments, one posting at a time: {singles:,} in {single:.2f} s ({rate:,.0f}/s, "
        f"{1000 * single / max(singles, 1):.2f} ms each: idempotency key, open-date check, "
        f"allocation, journal lines and loan update in one transaction), on their due dates "
        f"{min(by_day)}..{max(by_day)} ({len(by_day)} business days); target {target:,.0f}/s: "
        f"{rate / target:.2f}x"
    )
    print(
        f"repayments from a file (a savepoint each, a commit per 500): {batched:,} in "
        f"{batch:.2f} s ({file_rate:,.0f}/s); target {target:,.0f}/s: {file_rate / target:.2f}x"
    )
    print(
        f"  all {n:,} replayed with the same keys in {replay:.2f} s ({n / replay:,.0f}/s, "
        f"nothing posted); trial balance {before} -> {trial_balance(engine)} fen"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000, help="active loans in the book")
    parser.add_argument("--repayments", type=int, default=5_000, help="repayments to post")
    parser.add_argument("--schedules", action="store_true", help="also run bench/schedules.py")
    parser.add_argument("--workdir", type=Path, default=None, help="where the database goes")
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {os.cpu_count()} CPUs, SQLite")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with migrated_engine(url) as engine:
            bench_eod(engine, args.loans)
            if args.repayments:
                bench_repayments(engine, args.repayments)
    if args.schedules:
        sys.stdout.flush()
        import schedules  # bench/schedules.py, beside this file

        sys.argv = [sys.argv[0]]
        schedules.main()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
