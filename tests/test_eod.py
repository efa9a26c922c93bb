"""The end-of-day job on SQLite and PostgreSQL: accrual, arrears, buckets, penalty, NPA,
write-off, cures, idempotency, catching up skipped dates, labels, and a balanced journal."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from creditgraph.cli import servicing_cmd
from creditgraph.money import from_fen
from creditgraph.servicing.accounts import Account
from creditgraph.servicing.book import (
    EVENTS,
    INSTALMENTS,
    JOURNAL,
    LOANS,
    TRANSACTIONS,
    BusinessDateError,
)
from creditgraph.servicing.delinquency import accrued_to
from creditgraph.servicing.eod import EodResult, run_eod
from creditgraph.servicing.ledger import account_totals, trial_balance
from creditgraph.servicing.loans import LoanService
from creditgraph.settings import get_settings
from creditgraph.store.models import IngestBatch, LoanOutcome, Person, table_of
from tests.loan_world import START, active_loan
from tests.loan_world import instalment_rows as _rows
from tests.loan_world import ledger_of as _ledger
from tests.loan_world import loan_row as _loan

DAY = timedelta(days=1)
FIRST_DUE = date(2026, 8, 1)


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def eod(engine: Engine, day: date) -> EodResult:
    """One run, checked: the journal balances and every loan's sub-ledger equals its ledger."""
    result = run_eod(engine, day)
    assert trial_balance(engine)["balanced"]
    with engine.connect() as conn:
        loans = conn.execute(select(LOANS.c.id, LOANS.c.state)).all()
        for loan_id, state in loans:
            if state in ("written_off", "accepted"):
                continue
            rows = _rows(engine, loan_id)
            ledger = {a: d - c for a, (d, c) in account_totals(conn, loan_id).items()}
            principal = sum(r["principal_due_fen"] - r["principal_paid_fen"] for r in rows)
            interest = sum(r["interest_accrued_fen"] - r["interest_paid_fen"] for r in rows)
            penalty = sum(
                r["penalty_accrued_fen"] - r["penalty_paid_fen"] - r["penalty_memo_fen"]
                for r in rows
            )
            assert all(0 <= r["penalty_memo_fen"] <= r["penalty_accrued_fen"] for r in rows)
            assert ledger.get(Account.LOANS_RECEIVABLE, 0) == principal
            assert ledger.get(Account.INTEREST_RECEIVABLE, 0) == interest
            assert ledger.get(Account.PENALTY_RECEIVABLE, 0) == penalty
    return result


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one(),
            conn.execute(select(func.count()).select_from(JOURNAL)).scalar_one(),
            conn.execute(select(func.sum(LOANS.c.version))).scalar_one(),
        )


def _posted(engine: Engine, loan_id: str, kind: str, after: date | None = None) -> int:
    with engine.connect() as conn:
        statement = select(func.coalesce(func.sum(TRANSACTIONS.c.amount_fen), 0)).where(
            TRANSACTIONS.c.loan_id == loan_id, TRANSACTIONS.c.kind == kind
        )
        if after is not None:
            statement = statement.where(TRANSACTIONS.c.business_date > after)
        return int(conn.execute(statement).scalar_one())


def _owed_through(engine: Engine, loan_id: str, day: date) -> str:
    """Everything due on or before ``day`` and unpaid, penalty included, in yuan."""
    fen = sum(
        r["principal_due_fen"]
        - r["principal_paid_fen"]
        + r["interest_due_fen"]
        - r["interest_paid_fen"]
        + r["fee_due_fen"]
        - r["fee_paid_fen"]
        + r["penalty_accrued_fen"]
        - r["penalty_paid_fen"]
        for r in _rows(engine, loan_id)
        if r["due_date"] <= day
    )
    return str(from_fen(fen))


def _add_person(engine: Engine, person_id: str) -> None:
    stamp = datetime(2026, 1, 1)
    with engine.begin() as conn:
        if conn.execute(select(table_of(IngestBatch).c.id)).first() is None:
            conn.execute(
                table_of(IngestBatch).insert(),
                {
                    "id": "test-batch",
                    "name": "test",
                    "source": "test",
                    "started_at": stamp,
                    "finished_at": stamp,
                    "status": "done",
                    "content_sha256": "0" * 64,
                    "contract_version": "1",
                    "counts": {},
                },
            )
        conn.execute(
            table_of(Person).insert(),
            {
                "person_id": person_id,
                "segment": "salaried",
                "region_tier": "tier2",
                "birth_year": 1990,
                "gender": None,
                "occupation": "-",
                "declared_monthly_income_enc": b"opaque",  # no data key: never read here
                "registered_at": stamp,
                "phone_pseudonym": None,
                "row_hash": "0" * 32,
                "batch_id": "test-batch",
                "created_at": stamp,
                "updated_at": stamp,
            },
        )


def test_a_second_run_of_the_same_date_changes_nothing(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    first = eod(engine, START + 5 * DAY)
    assert [d.business_date for d in first.days] == [START + k * DAY for k in range(6)]
    assert _posted(engine, loan_id, "accrual") > 0
    first_row = _rows(engine, loan_id)[0]
    with engine.connect() as conn:
        details = [
            row[0]
            for row in conn.execute(
                select(TRANSACTIONS.c.detail).where(TRANSACTIONS.c.kind == "accrual")
            )
        ]
    assert len(details) == 5  # nothing accrues on the disbursement day
    assert sum(d["instalments"][0][1] for d in details) == first_row["interest_accrued_fen"]
    assert {d["instalments"][0][0] for d in details} == {first_row["id"]}
    before = _counts(engine)
    again = eod(engine, START + 5 * DAY)
    assert again.already_done and again.days == []
    assert _counts(engine) == before
    assert eod(engine, START + 2 * DAY).already_done  # an earlier, completed date: nothing


def test_skipped_dates_are_caught_up_one_by_one(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    eod(engine, START + 3 * DAY)
    result = eod(engine, FIRST_DUE + 9 * DAY)
    days = [d.business_date for d in result.days]
    assert days == [START + (4 + k) * DAY for k in range(len(days))]
    assert days[-1] == FIRST_DUE + 9 * DAY
    first, second = _rows(engine, loan_id)[:2]
    assert first["interest_accrued_fen"] == first["interest_due_fen"]
    period = (second["due_date"] - second["period_start"]).days
    assert second["interest_accrued_fen"] == accrued_to(second["interest_due_fen"], period, 9)
    loan = _loan(engine, loan_id)
    assert (loan["state"], loan["dpd"], loan["bucket"]) == ("overdue", 9, "M1")
    # Nine days of penalty, each one day at 1.5 x 12% / 360 on the unpaid principal, to the fen.
    daily = round(first["principal_due_fen"] * 18 / 100 / 360)
    assert first["penalty_accrued_fen"] == 9 * daily
    assert _posted(engine, loan_id, "penalty") == 9 * daily


def test_arrears_buckets_npa_write_off_cure_and_labels(service: LoanService) -> None:
    engine = service.engine
    bad = active_loan(service)  # never pays
    good = active_loan(service, term=3)  # pays every instalment on its due date
    late = active_loan(service)  # misses the first instalment, then pays everything
    for loan_id in (bad, good, late):
        _add_person(engine, _loan(engine, loan_id)["person_id"])
    due_dates = [r["due_date"] for r in _rows(engine, good)]
    assert due_dates[0] == FIRST_DUE

    expected = {
        FIRST_DUE: ("active", 0, "M0", False),
        FIRST_DUE + DAY: ("overdue", 1, "M1", False),
        FIRST_DUE + 30 * DAY: ("overdue", 30, "M1", False),
        FIRST_DUE + 31 * DAY: ("overdue", 31, "M2", False),
        FIRST_DUE + 60 * DAY: ("overdue", 60, "M2", False),
        FIRST_DUE + 61 * DAY: ("overdue", 61, "M3", False),
        FIRST_DUE + 89 * DAY: ("overdue", 89, "M3", False),
        FIRST_DUE + 90 * DAY: ("overdue", 90, "M3", True),
        FIRST_DUE + 91 * DAY: ("overdue", 91, "M3+", True),
    }
    cure_day = FIRST_DUE + 19 * DAY
    paid: set[date] = set()
    for day in sorted({*expected, cure_day, cure_day + DAY, *due_dates}):
        run_eod(engine, day - DAY)  # postings are dated in the open business day only
        for due in due_dates:
            if due <= day and due not in paid:
                service.repay(good, _owed_through(engine, good, due), due, key=f"g-{due}")
                paid.add(due)
        if day == cure_day:
            service.repay(late, _owed_through(engine, late, day), day, key="late")
        eod(engine, day)
        if day in expected:
            loan = _loan(engine, bad)
            assert (loan["state"], loan["dpd"], loan["bucket"], loan["npa"]) == expected[day]
        if day == cure_day:
            loan = _loan(engine, late)
            assert (loan["state"], loan["dpd"], loan["bucket"], loan["npa"]) == (
                "active",
                0,
                "M0",
                False,
            )
            assert loan["overdue_since"] is None

    npa_day = FIRST_DUE + 90 * DAY
    frozen = _rows(engine, bad)
    eod(engine, npa_day + 30 * DAY)
    # From NPA on, nothing more is accrued to income: no accrual, no penalty posting; the
    # penalty is still owed, kept on the rows off balance (memo).
    assert _posted(engine, bad, "accrual", after=npa_day - DAY) == 0
    assert _posted(engine, bad, "penalty", after=npa_day - DAY) == 0
    assert [r["interest_accrued_fen"] for r in _rows(engine, bad)] == [
        r["interest_accrued_fen"] for r in frozen
    ]
    first_before, first_after = frozen[0], _rows(engine, bad)[0]
    daily = round(first_after["principal_due_fen"] * 18 / 100 / 360)
    assert first_after["penalty_memo_fen"] == 31 * daily  # the 31 NPA days from 90 DPD to 120
    added = first_after["penalty_accrued_fen"] - first_before["penalty_accrued_fen"]
    assert added == first_after["penalty_memo_fen"] - first_before["penalty_memo_fen"]
    assert _loan(engine, good)["state"] == "closed"

    # Write-off at 180 DPD: every receivable of the loan is credited, the expense debited.
    write_off_day = FIRST_DUE + 180 * DAY
    eod(engine, write_off_day - DAY)
    assert _loan(engine, bad)["state"] == "overdue"
    with engine.connect() as conn:
        before = {a: d - c for a, (d, c) in account_totals(conn, bad).items()}
    result = eod(engine, write_off_day)
    assert result.days[-1].written_off == 1
    loan = _loan(engine, bad)
    assert (loan["state"], loan["written_off_on"], loan["dpd"]) == (
        "written_off",
        write_off_day,
        180,
    )
    with engine.connect() as conn:
        after = {a: d - c for a, (d, c) in account_totals(conn, bad).items()}
        events = [
            (e["from_state"], e["to_state"], e["event"])
            for e in conn.execute(
                select(EVENTS).where(EVENTS.c.loan_id == bad).order_by(EVENTS.c.id)
            ).mappings()
        ]
    receivables = (
        Account.LOANS_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
    )
    assert all(after.get(a, 0) == 0 for a in receivables)
    assert after[Account.WRITE_OFF_EXPENSE] == sum(before.get(a, 0) for a in receivables)
    assert before[Account.LOANS_RECEIVABLE] == 1_200_000
    assert events[-2:] == [
        ("active", "overdue", "overdue"),
        ("overdue", "written_off", "write_off"),
    ]
    eod(engine, write_off_day + 5 * DAY)
    assert _posted(engine, bad, "accrual", after=write_off_day) == 0

    # Labels for scoring: the default at 90 DPD within 12 months, the good loan once repaid.
    with engine.connect() as conn:
        labels = {r["loan_id"]: r for r in conn.execute(select(table_of(LoanOutcome))).mappings()}
    assert labels[bad]["defaulted"] is True
    assert labels[bad]["observed_at"] == datetime(2026, 10, 30, 16)  # end of the 90th day, UTC+8
    assert labels[good]["defaulted"] is False
    assert labels[good]["observed_at"] == datetime(2026, 10, 1, 16)  # repaid on 1 October
    assert labels[late]["defaulted"] is True  # cured once, then stopped paying in September
    assert labels[bad]["amount_fen"] == 1_200_000 and labels[bad]["term_months"] == 12


def test_the_good_label_is_written_when_twelve_months_pass(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service, term=24)
    _add_person(engine, _loan(engine, loan_id)["person_id"])
    # Mark the book as processed to the eve of the anniversary and the loan as current.
    anniversary = date(2027, 7, 1)
    with engine.begin() as conn:
        conn.execute(
            table_of_runs().insert(),
            {
                "business_date": anniversary - 2 * DAY,
                "started_at": datetime(2027, 6, 29),
                "finished_at": datetime(2027, 6, 29),
                "loans_processed": 1,
                "status": "completed",
            },
        )
        conn.execute(
            INSTALMENTS.update()
            .where(INSTALMENTS.c.loan_id == loan_id, INSTALMENTS.c.due_date < anniversary)
            .values(
                principal_paid_fen=INSTALMENTS.c.principal_due_fen,
                interest_paid_fen=INSTALMENTS.c.interest_due_fen,
                interest_accrued_fen=INSTALMENTS.c.interest_due_fen,
            )
        )
        conn.execute(
            LOANS.update()
            .where(LOANS.c.id == loan_id)
            .values(accrued_through=anniversary - 2 * DAY)
        )
    result = run_eod(engine, anniversary)
    assert [d.goods_labelled for d in result.days] == [0, 1]
    with engine.connect() as conn:
        label = conn.execute(select(table_of(LoanOutcome))).mappings().one()
    assert (label["loan_id"], label["defaulted"]) == (loan_id, False)
    assert label["observed_at"] == datetime(2027, 7, 1, 16)


def table_of_runs() -> Any:
    from creditgraph.store.models import EodRun

    return table_of(EodRun)


def test_cli_rejects_a_bad_date_in_one_line_and_runs_a_good_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = typer.Typer()
    servicing_cmd.register(app)
    runner = CliRunner()
    bad = runner.invoke(app, ["servicing", "eod", "--date", "2026-02-30"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: --date must be a date as YYYY-MM-DD, got '2026-02-30'"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    try:
        good = runner.invoke(app, ["servicing", "eod", "--date", "2026-07-02"])
        again = runner.invoke(app, ["servicing", "eod", "--date", "2026-07-02"])
    finally:
        get_settings.cache_clear()
    assert good.exit_code == 0, good.output
    assert "1 business date(s) closed through 2026-07-02" in good.stdout
    assert again.exit_code == 0 and "already completed" in again.stdout


def _transactions(engine: Engine, loan_id: str, kind: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        statement = (
            select(TRANSACTIONS)
            .where(TRANSACTIONS.c.loan_id == loan_id, TRANSACTIONS.c.kind == kind)
            .order_by(TRANSACTIONS.c.business_date)
        )
        return [dict(r) for r in conn.execute(statement).mappings()]


def test_borrower_credit_pays_what_falls_due_before_it_counts_as_overdue(
    service: LoanService,
) -> None:
    """2,000.00 paid ahead is held as credit; on each due date the end of day settles the
    instalment from it (a repayment posting, Dr borrower_credit), so the loan is not late while
    the lender holds the money; once the credit runs short, only the shortfall is late."""
    engine = service.engine
    loan_id = active_loan(service)  # 12 x 1,066.19
    eod(engine, START + 8 * DAY)
    service.repay(loan_id, "2000.00", START + 9 * DAY, key="ahead")
    assert _loan(engine, loan_id)["credit_fen"] == 200_000

    result = eod(engine, FIRST_DUE + 4 * DAY)
    loan = _loan(engine, loan_id)
    assert (loan["state"], loan["dpd"], loan["bucket"]) == ("active", 0, "M0")
    assert loan["credit_fen"] == 200_000 - 106_619
    assert sum(d.credit_applied_fen for d in result.days) == 106_619
    first = _rows(engine, loan_id)[0]
    assert (first["principal_paid_fen"], first["interest_paid_fen"]) == (94_619, 12_000)
    assert _ledger(engine, loan_id).get("penalty_receivable", 0) == 0
    [paid] = _transactions(engine, loan_id, "repayment")[1:]
    assert (paid["business_date"], paid["actor"], paid["amount_fen"]) == (FIRST_DUE, "eod", 106_619)
    assert _ledger(engine, loan_id)["borrower_credit"] == -loan["credit_fen"]

    # 933.81 left pays interest 110.54 and principal 823.27 of the 1,066.19 due on 09-01;
    # the 132.38 of principal short is 4 days late on 09-05 and bears the penalty alone.
    eod(engine, date(2026, 9, 5))
    loan = _loan(engine, loan_id)
    assert (loan["state"], loan["dpd"], loan["bucket"], loan["credit_fen"]) == (
        "overdue",
        4,
        "M1",
        0,
    )
    second = _rows(engine, loan_id)[1]
    assert second["principal_paid_fen"] == 93_381 - 11_054
    daily = round((second["principal_due_fen"] - second["principal_paid_fen"]) * 18 / 100 / 360)
    assert second["penalty_accrued_fen"] == 4 * daily


def test_credit_that_settles_the_last_instalment_closes_the_loan_leaving_a_refund_due(
    service: LoanService,
) -> None:
    """The credit left at closing is no longer paid out by end of day (issue #11): it stays in
    borrower_credit as a refund due until an officer approves it, then it is posted."""
    engine = service.engine
    loan_id = active_loan(service, amount="6000", term=3)
    _add_person(engine, _loan(engine, loan_id)["person_id"])
    rows = _rows(engine, loan_id)
    total = sum(r["principal_due_fen"] + r["interest_due_fen"] for r in rows)
    eod(engine, START + 8 * DAY)
    # 0.50 over every instalment: within the overpayment tolerance
    service.repay(loan_id, str(from_fen(total + 50)), START + 9 * DAY, key="all-ahead")
    maturity = rows[-1]["due_date"]
    result = eod(engine, maturity)
    loan = _loan(engine, loan_id)
    assert (loan["state"], loan["closed_on"], loan["credit_fen"]) == ("closed", maturity, 50)
    assert sum(d.credit_loans for d in result.days) == 3  # one posting on each due date
    assert _transactions(engine, loan_id, "refund") == []
    [due] = service.refunds()
    assert (due["amount"], due["status"], due["due_on"]) == ("0.50", "due", maturity.isoformat())
    assert _ledger(engine, loan_id)["borrower_credit"] == -50
    paid = service.approve_refund(loan_id, by="officer-li")
    assert paid["paid_on"] == (maturity + DAY).isoformat()  # the open business date
    [refund] = _transactions(engine, loan_id, "refund")
    assert (refund["amount_fen"], refund["business_date"]) == (50, maturity + DAY)
    ledger = _ledger(engine, loan_id)
    assert all(
        ledger.get(a, 0) == 0
        for a in (
            "loans_receivable",
            "interest_receivable",
            "penalty_receivable",
            "borrower_credit",
        )
    )
    with engine.connect() as conn:
        label = conn.execute(select(table_of(LoanOutcome))).mappings().one()
    assert (label["loan_id"], label["defaulted"]) == (loan_id, False)


def test_npa_penalty_is_kept_off_balance_and_is_income_when_paid(service: LoanService) -> None:
    """From 90 DPD the contractual penalty still accrues on the rows (the borrower owes it) but
    as memo: no posting, not in penalty_receivable. Paid, it goes straight to penalty_income."""
    engine = service.engine
    loan_id = active_loan(service)
    on = date(2026, 11, 29)  # instalment 1 (due 08-01) is 120 days past due
    result = eod(engine, on)
    assert _loan(engine, loan_id)["npa"]
    rows = [r for r in _rows(engine, loan_id) if r["due_date"] < on]
    contractual = sum(
        round(r["principal_due_fen"] * 18 / 100 / 360) * (on - r["due_date"]).days for r in rows
    )
    memo = sum(r["penalty_memo_fen"] for r in rows)
    booked = -_ledger(engine, loan_id)["penalty_income"]
    assert sum(r["penalty_accrued_fen"] for r in rows) == contractual == booked + memo
    assert memo == sum(d.penalty_memo_fen for d in result.days) > 0
    assert _ledger(engine, loan_id)["penalty_receivable"] == booked
    assert _posted(engine, loan_id, "penalty", after=FIRST_DUE + 89 * DAY) == 0

    pay_day = on + DAY  # the open business day
    service.repay(loan_id, _owed_through(engine, loan_id, pay_day), pay_day, key="npa-pay")
    ledger = _ledger(engine, loan_id)
    assert -ledger["penalty_income"] == booked + memo
    assert ledger.get("penalty_receivable", 0) == 0
    assert all(r["penalty_memo_fen"] == 0 for r in _rows(engine, loan_id))
    eod(engine, pay_day)
    loan = _loan(engine, loan_id)
    assert (loan["state"], loan["dpd"], loan["npa"]) == ("active", 0, False)


def test_a_default_label_stands_when_a_repayment_cures_the_loan_after_its_chunk(
    service: LoanService,
) -> None:
    """The default is decided in the chunk's transaction from the DPD it computed. A repayment
    between that chunk and the end of the run is refused for the day being closed (the loan's
    own day is done), and one on the next day cures the loan without taking the label away."""
    engine = service.engine
    loans = sorted(active_loan(service) for _ in range(2))
    for loan_id in loans:
        _add_person(engine, _loan(engine, loan_id)["person_id"])
    crossing = FIRST_DUE + 90 * DAY
    eod(engine, crossing - DAY)
    label = f"end of day {crossing}"
    refused: list[Exception] = []

    def cure_after_first_chunk(what: str, done: int, total: int | None) -> None:
        if what == label and done == 1:
            owed = _owed_through(engine, loans[0], crossing)
            try:
                service.repay(loans[0], owed, crossing, key="race-cure")
            except BusinessDateError as exc:
                refused.append(exc)

    result = run_eod(engine, crossing, chunk_loans=1, progress=cure_after_first_chunk)
    assert refused, "a posting for a day end of day has already done for the loan is refused"
    assert result.days[0].defaults_labelled == 2
    owed = _owed_through(engine, loans[0], crossing + DAY)
    service.repay(loans[0], owed, crossing + DAY, key="cure-next-day")
    assert _loan(engine, loans[0])["state"] == "active"  # cured the next day
    with engine.connect() as conn:
        labels = {r["loan_id"]: r for r in conn.execute(select(table_of(LoanOutcome))).mappings()}
        batch = (
            conn.execute(
                select(table_of(IngestBatch)).where(table_of(IngestBatch).c.id == f"eod-{crossing}")
            )
            .mappings()
            .one()
        )
    assert sorted(labels) == loans
    assert all(
        r["defaulted"] and r["observed_at"] == datetime(2026, 10, 30, 16) for r in labels.values()
    )
    assert batch["counts"] == {"loan_outcomes": {"accepted": 2}}
