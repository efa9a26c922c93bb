"""Servicing's own monitoring events, published to the outbox in the posting's or the end-of-day
chunk's transaction, on SQLite and PostgreSQL: what each posting emits, that a rolled-back
posting leaves none, that a rerun end of day emits nothing new, and that every event passes the
event contract."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from creditgraph.event_envelope import partition_of
from creditgraph.money import from_fen
from creditgraph.monitoring.events import DPD_BUCKETS, SERVICING_SOURCE, EventType
from creditgraph.monitoring.outbox import OUTBOX, OutboxBus
from creditgraph.monitoring.validate import validate_batch
from creditgraph.servicing.book import TRANSACTIONS
from creditgraph.servicing.book.outbox import events_at_end
from creditgraph.servicing.book.uow import UnitOfWork, unit_of_work
from creditgraph.servicing.config import ServicingConfig, ServicingParams
from creditgraph.servicing.core import monitoring_events as events
from creditgraph.servicing.core.plan import PostingPlan
from creditgraph.servicing.core.repayment import Source, repayment
from creditgraph.servicing.delinquency import BUCKETS
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.loans import LoanService
from creditgraph.servicing.payments import Payment
from tests.loan_world import START, active_loan, instalment_rows, loan_row

DAY = timedelta(days=1)
FIRST_DUE = date(2026, 8, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Small thresholds so a write-off comes within weeks rather than half a year of end-of-day runs.
QUICK = ServicingConfig("test", "test", ServicingParams(npa_dpd=20, write_off_dpd=35))


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def outbox(engine: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    """The outbox's rows in offset order (optionally of one event type)."""
    statement = select(OUTBOX).order_by(OUTBOX.c.offset)
    if kind is not None:
        statement = statement.where(OUTBOX.c.type == kind)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(statement).mappings()]


def payloads(engine: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    return [row["payload"] for row in outbox(engine, kind)]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one())


def assert_contract(engine: Engine) -> list[dict[str, Any]]:
    """Every event in the outbox passes contract v1 as a batch (so ids are unique too), carries
    the loan's person and sits in that person's partition."""
    rows = outbox(engine)
    result = validate_batch([r["payload"] for r in rows], datetime.now(UTC))
    assert result.errors == ()
    assert len(result.events) == len(rows)
    for row, event in zip(rows, result.events, strict=True):
        assert event.source == SERVICING_SOURCE and event.version == 1
        assert row["partition"] == partition_of(event.person_id)
        assert row["event_id"] == event.event_id and len(event.event_id) <= 64
        assert loan_row(engine, str(event.get("loan_id")))["person_id"] == event.person_id
    return [r["payload"] for r in rows]


def owed_through(engine: Engine, loan_id: str, day: date) -> int:
    """Everything due on or before ``day`` and unpaid, penalty included (fen)."""
    return sum(
        r["principal_due_fen"]
        - r["principal_paid_fen"]
        + r["interest_due_fen"]
        - r["interest_paid_fen"]
        + r["fee_due_fen"]
        - r["fee_paid_fen"]
        + r["penalty_accrued_fen"]
        - r["penalty_paid_fen"]
        for r in instalment_rows(engine, loan_id)
        if r["due_date"] <= day
    )


def test_a_repayment_posts_repayment_posted_with_what_is_still_due(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)  # 12 x 1,066.19 from 2026-08-01
    run_eod(engine, FIRST_DUE)
    assert count(engine) == 0  # nothing was due before 08-01: nothing missed, no bucket moved
    before = datetime.now(UTC)
    service.repay(loan_id, "500.00", FIRST_DUE + DAY, key="part")
    [row] = outbox(engine)
    event = row["payload"]
    with engine.connect() as conn:
        tx_id = conn.execute(
            select(TRANSACTIONS.c.id).where(
                TRANSACTIONS.c.loan_id == loan_id, TRANSACTIONS.c.kind == "repayment"
            )
        ).scalar_one()
    assert event == {
        "event_id": f"repaid:{tx_id}",
        "type": "repayment_posted",
        "person_id": loan_row(engine, loan_id)["person_id"],
        "occurred_at": event["occurred_at"],
        "source": "servicing",
        "version": 1,
        "loan_id": loan_id,
        "posting_id": tx_id,
        "amount": "500.00",
        "remaining_due": "566.19",
    }
    assert before <= datetime.fromisoformat(event["occurred_at"]) <= datetime.now(UTC)
    assert row["event_id"] == event["event_id"] and row["type"] == "repayment_posted"

    # The rest of what is due: nothing remains; a replay of the same request posts nothing.
    service.repay(loan_id, "566.19", FIRST_DUE + DAY, key="rest")
    service.repay(loan_id, "566.19", FIRST_DUE + DAY, key="rest")
    posted = payloads(engine, "repayment_posted")
    assert [e["amount"] for e in posted] == ["500.00", "566.19"]
    assert posted[-1]["remaining_due"] == "0.00"
    assert_contract(engine)


def test_a_rolled_back_posting_leaves_no_event(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, FIRST_DUE)
    with pytest.raises(RuntimeError, match="after the posting"), unit_of_work(engine) as uow:
        loan, owing = uow.lock_with_owing(loan_id)
        assert loan is not None
        plan = repayment(
            loan, owing, FIRST_DUE + DAY, source=Source.CHANNEL, actor="t", cash_fen=50_000
        )
        assert plan is not None
        tx_id, _ = uow.apply(plan)
        seen = uow.conn.execute(
            select(OUTBOX.c.event_id).where(OUTBOX.c.event_id == f"repaid:{tx_id}")
        ).all()
        assert len(seen) == 1  # written in the posting's transaction ...
        raise RuntimeError("a failure after the posting, in the same transaction")
    assert count(engine) == 0  # ... and gone with it
    with engine.connect() as conn:
        repaid = conn.execute(
            select(TRANSACTIONS.c.id).where(
                TRANSACTIONS.c.loan_id == loan_id, TRANSACTIONS.c.kind == "repayment"
            )
        ).all()
        assert repaid == []
    # A file of payments: the refused one (over the ceiling) posts nothing and reports nothing.
    results = service.repay_many(
        [
            Payment(loan_id, "100.00", FIRST_DUE + DAY, "f-1"),
            Payment(loan_id, "999999.00", FIRST_DUE + DAY, "f-2"),
            Payment(loan_id, "200.00", FIRST_DUE + DAY, "f-3"),
        ]
    )
    assert isinstance(results[1], ValueError)
    assert [e["amount"] for e in payloads(engine)] == ["100.00", "200.00"]


def test_a_rolled_back_savepoint_of_a_many_posting_transaction_leaves_no_event(
    service: LoanService,
) -> None:
    """Inside ``events_at_end`` (a file of payments, an end-of-day chunk) events wait for the
    end of the transaction; a posting whose savepoint rolls back after it was applied takes its
    kept events with it, and a transaction that fails publishes nothing."""
    engine = service.engine
    first, second = active_loan(service), active_loan(service)
    run_eod(engine, FIRST_DUE)

    def plan_for(uow: UnitOfWork, loan_id: str, fen: int) -> PostingPlan:
        loan, owing = uow.lock_with_owing(loan_id)
        assert loan is not None
        plan = repayment(
            loan, owing, FIRST_DUE + DAY, source=Source.CHANNEL, actor="t", cash_fen=fen
        )
        assert plan is not None
        return plan

    def applied_then_refused(uow: UnitOfWork) -> None:
        uow.apply(plan_for(uow, first, 10_000))
        raise ValueError("refused after the posting was applied")

    with unit_of_work(engine) as uow, events_at_end(uow.conn):
        with pytest.raises(ValueError, match="refused after"):
            uow.attempt(lambda: applied_then_refused(uow))
        uow.apply(plan_for(uow, second, 20_000))
        assert count(engine) == 0  # nothing published before the end of the block
    assert [(e["loan_id"], e["amount"]) for e in payloads(engine)] == [(second, "200.00")]

    with pytest.raises(RuntimeError), unit_of_work(engine) as uow, events_at_end(uow.conn):
        uow.apply(plan_for(uow, second, 30_000))
        raise RuntimeError("the transaction fails")
    assert count(engine) == 1
    # The pooled connection forgot the block: a posting on its own publishes at once again.
    with unit_of_work(engine) as uow:
        uow.apply(plan_for(uow, first, 40_000))
        assert uow.conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one() == 2
    assert [e["amount"] for e in payloads(engine)] == ["200.00", "400.00"]
    assert_contract(engine)


def test_credit_swept_at_end_of_day_is_reported_as_a_repayment(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, START + 8 * DAY)
    service.repay(loan_id, "2000.00", START + 9 * DAY, key="ahead")  # nothing due yet: credit
    [ahead] = payloads(engine)
    assert (ahead["amount"], ahead["remaining_due"]) == ("2000.00", "0.00")
    run_eod(engine, FIRST_DUE + DAY)
    swept = payloads(engine)[1:]
    assert [(e["type"], e["amount"], e["remaining_due"]) for e in swept] == [
        ("repayment_posted", "1066.19", "0.00")
    ]
    with engine.connect() as conn:
        actor = conn.execute(
            select(TRANSACTIONS.c.actor).where(TRANSACTIONS.c.id == swept[0]["posting_id"])
        ).scalar_one()
    assert actor == "eod"  # posted by the end of day's sweep, in its chunk's transaction
    assert_contract(engine)


def test_end_of_day_emits_missed_instalments_and_bucket_changes_once(
    service: LoanService,
) -> None:
    engine = service.engine
    never = active_loan(service)  # pays nothing
    partly = active_loan(service)  # pays 300.00 of the first 1,066.19 on its due date
    run_eod(engine, FIRST_DUE - DAY)
    service.repay(partly, "300.00", FIRST_DUE, key="short")
    run_eod(engine, FIRST_DUE)
    assert [e["type"] for e in payloads(engine)] == ["repayment_posted"]  # not missed yet

    run_eod(engine, FIRST_DUE + DAY)  # the first day past due
    day_events = payloads(engine)[1:]
    persons = {loan_id: loan_row(engine, loan_id)["person_id"] for loan_id in (never, partly)}
    first_row = {loan_id: instalment_rows(engine, loan_id)[0]["id"] for loan_id in persons}
    closed = datetime(2026, 8, 3, tzinfo=SHANGHAI).isoformat()  # the end of 08-02, UTC+8
    expected = []
    for loan_id in sorted(persons):  # chunk order: by loan id
        common = {"person_id": persons[loan_id], "occurred_at": closed}
        common |= {"source": "servicing", "version": 1, "loan_id": loan_id}
        expected += [
            {
                "event_id": f"missed:{loan_id}:{first_row[loan_id]}",
                "type": "instalment_missed",
                **common,
                "instalment": 1,
                "due_date": "2026-08-01",
                "amount_due": "1066.19",
                "amount_paid": "300.00" if loan_id == partly else "0.00",
            },
            {
                "event_id": f"bucket:{loan_id}:20260802",
                "type": "dpd_bucket_changed",
                **common,
                "from_bucket": "M0",
                "to_bucket": "M1",
                "dpd": 1,
            },
        ]
    assert day_events == expected

    # Each later bucket boundary once: M1 -> M2 at 31 days past due (09-01), and the second
    # instalment missed the day after its due date (09-02); the days between emit nothing.
    run_eod(engine, FIRST_DUE + 32 * DAY)
    later = [(e["type"], e["loan_id"]) for e in payloads(engine)[1 + len(expected) :]]
    assert sorted(later) == sorted(
        [("instalment_missed", loan_id) for loan_id in persons]
        + [("dpd_bucket_changed", loan_id) for loan_id in persons]
    )
    moves = {
        (e["loan_id"], e["from_bucket"], e["to_bucket"], e["dpd"], e["event_id"][-8:])
        for e in payloads(engine, "dpd_bucket_changed")
    }
    assert {m for m in moves if m[2] == "M2"} == {
        (loan_id, "M1", "M2", 31, "20260901") for loan_id in persons
    }
    assert {e["instalment"] for e in payloads(engine, "instalment_missed")} == {1, 2}

    # The same date again, and an earlier one: nothing new.
    total = count(engine)
    assert run_eod(engine, FIRST_DUE + 32 * DAY).already_done
    assert run_eod(engine, FIRST_DUE + 2 * DAY).already_done
    assert count(engine) == total
    assert_contract(engine)


def test_a_payment_that_cures_an_overdue_loan_moves_its_bucket_back(service: LoanService) -> None:
    """A channel's payment that clears the arrears cures the loan in the posting itself (DPD 0,
    M0), so the next end of day sees no move: the posting reports it, after its repayment."""
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, FIRST_DUE + 2 * DAY)
    assert loan_row(engine, loan_id)["bucket"] == "M1"
    owed = str(Decimal(owed_through(engine, loan_id, FIRST_DUE)) / 100)
    result = service.repay(loan_id, owed, FIRST_DUE + 3 * DAY, key="cure")
    run_eod(engine, FIRST_DUE + 3 * DAY)
    assert loan_row(engine, loan_id)["bucket"] == "M0"
    kinds = [e["type"] for e in payloads(engine)]
    assert kinds == [
        "instalment_missed",
        "dpd_bucket_changed",
        "repayment_posted",
        "dpd_bucket_changed",
    ]
    paid, cured = payloads(engine)[2:]
    assert paid["remaining_due"] == "0.00" and paid["amount"] == owed
    tx_id = paid["posting_id"]
    assert tx_id == result.transaction_id
    assert (cured["event_id"], cured["from_bucket"], cured["to_bucket"], cured["dpd"]) == (
        f"bucket:{tx_id}",
        "M1",
        "M0",
        0,
    )
    assert cured["occurred_at"] == paid["occurred_at"]
    assert_contract(engine)


def test_a_write_off_emits_loan_written_off(service: LoanService) -> None:
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, FIRST_DUE + 34 * DAY, config=QUICK)
    assert payloads(engine, "loan_written_off") == []
    run_eod(engine, FIRST_DUE + 35 * DAY, config=QUICK)  # 35 days past due
    assert loan_row(engine, loan_id)["state"] == "written_off"
    [event] = payloads(engine, "loan_written_off")
    with engine.connect() as conn:
        written = conn.execute(
            select(TRANSACTIONS.c.amount_fen).where(
                TRANSACTIONS.c.loan_id == loan_id, TRANSACTIONS.c.kind == "write_off"
            )
        ).scalar_one()
    assert written > 1_200_000  # the principal and the interest and penalty booked on it
    assert event["event_id"] == f"writeoff:{loan_id}"
    assert event["amount"] == events.yuan(written)
    assert event["occurred_at"] == datetime(2026, 9, 6, tzinfo=SHANGHAI).isoformat()
    # In order for the person: the day's bucket change (M2 at 31 days) came before, and after
    # the write-off the loan is out of the end of day: nothing more about it.
    run_eod(engine, FIRST_DUE + 40 * DAY, config=QUICK)
    assert payloads(engine)[-1] == event
    assert_contract(engine)


# --- the pure mapping ---------------------------------------------------------------------------


def test_every_bucket_the_end_of_day_can_name_is_one_the_contract_accepts() -> None:
    assert tuple(b.value for b in BUCKETS) == DPD_BUCKETS
    assert set(events.EVENT_TYPES) <= {t.value for t in EventType}


def test_event_ids_too_long_for_the_outbox_are_hashed_deterministically() -> None:
    short = events.event_id("missed", "LN-1", 7)
    assert short == "missed:LN-1:7"
    long = events.event_id("bucket", "L" * 100, "20260802")
    assert len(long) == 64 and long.startswith("bucket:")
    assert long == events.event_id("bucket", "L" * 100, "20260802")
    assert long != events.event_id("bucket", "L" * 100, "20260803")


def test_a_day_closes_at_midnight_in_its_zone_unless_that_is_still_ahead() -> None:
    now = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    past = events.day_closed_at(date(2026, 8, 2), SHANGHAI, now)
    assert past.isoformat() == "2026-08-03T00:00:00+08:00"
    assert events.day_closed_at(date(2027, 1, 5), SHANGHAI, now) == now
    with pytest.raises(ValueError, match="timezone-aware"):
        events.day_closed_at(date(2026, 8, 2), SHANGHAI, now.replace(tzinfo=None))
    for fen in (0, 5, 99, 100, 106_619, -1, -250, 10**17 + 1):
        assert events.yuan(fen) == str(from_fen(fen))


def test_the_outbox_bus_delivers_servicing_events_in_order_per_person(
    service: LoanService,
) -> None:
    """What servicing wrote is what a consumer of the embedded bus reads, unchanged."""
    engine = service.engine
    loan_id = active_loan(service)
    run_eod(engine, FIRST_DUE + DAY)
    service.repay(loan_id, "100.00", FIRST_DUE + 2 * DAY, key="a")
    bus = OutboxBus(engine)
    delivered = bus.consume("servicing-test", "c1")
    assert [d.event["type"] for d in delivered] == [
        "instalment_missed",
        "dpd_bucket_changed",
        "repayment_posted",
    ]
    assert [d.event for d in delivered] == payloads(engine)
