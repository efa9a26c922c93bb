"""Servicing as a pure core, a book and thin services behaves as the single loan service did, on
SQLite and PostgreSQL: a reversal's catch-up penalty names and follows its reversal, a key stored
without a request hash is a conflict, keys in any script replay, a bad channel name is judged
entry by entry after the replay, and an offer without a stated frequency keeps its schedule's."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from creditgraph import idempotency
from creditgraph.servicing.book import TRANSACTIONS
from creditgraph.servicing.calendar import Frequency
from creditgraph.servicing.core.frequency import frequency_of_due_dates, offer_frequency
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.errors import IdempotencyConflictError, LoanInputError
from creditgraph.servicing.loans import LoanService
from creditgraph.servicing.payments import Payment
from tests import loan_world
from tests.loan_world import START, active_loan, insert_decision, loan_row


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def _transaction_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one())


def _first_instalment(service: LoanService, loan_id: str) -> Decimal:
    row = service.show(loan_id)["schedule"][0]
    return Decimal(row["principal"]) + Decimal(row["interest"]) + Decimal(row["fee"])


def test_a_reversals_catch_up_penalty_names_the_reversal_and_follows_it(
    service: LoanService,
) -> None:
    """End of day charged no penalty on an instalment the payment had paid; reversing the
    payment charges it, in a penalty posting that names the reversal and comes after it."""
    engine = service.engine
    loan_id = active_loan(service)
    paid = service.repay(loan_id, _first_instalment(service, loan_id), date(2026, 8, 1), key="p")
    run_eod(engine, date(2026, 8, 10))
    reversal = service.reverse(paid.transaction_id, key="r")
    catch_up_id = reversal.detail["catch_up"]["transaction"]
    with engine.connect() as conn:
        stored = conn.execute(
            select(TRANSACTIONS.c.kind, TRANSACTIONS.c.detail).where(
                TRANSACTIONS.c.id == catch_up_id
            )
        ).one()
    detail = stored.detail if isinstance(stored.detail, dict) else json.loads(stored.detail)
    assert stored.kind == "penalty"
    assert detail["catch_up_for"] == reversal.transaction_id
    order = [p["transaction_id"] for p in service.statement(loan_id)["postings"]]
    assert order.index(reversal.transaction_id) < order.index(catch_up_id)
    assert reversal.transaction_id < catch_up_id  # ids sort by creation: the reversal's first


def _refunded_key(service: LoanService) -> str:
    """The key a refund's payout is stored under (with no request hash)."""
    loan_id = active_loan(service, term=3, amount="3000")
    run_eod(service.engine, date(2026, 10, 1))
    on = date(2026, 10, 2)
    service.repay(loan_id, Decimal(service.ceiling(loan_id, on).most_fen) / 100, on, key="all")
    refund = service.approve_refund(loan_id, "officer1")
    return f"refund:{refund['refund_id']}"


def test_a_key_stored_without_a_request_hash_is_a_conflict(service: LoanService) -> None:
    key = _refunded_key(service)
    on = date(2026, 10, 2)
    other = active_loan(service, on=on, term=3, amount="3000")
    before = _transaction_count(service.engine)
    with pytest.raises(IdempotencyConflictError, match="refund on loan"):
        service.repay(other, "100", on, key=key)
    with pytest.raises(IdempotencyConflictError, match="refund on loan"):
        service.prepay(other, on, amount="100", key=key)
    assert _transaction_count(service.engine) == before


def test_judge_stored_replays_only_the_same_hash() -> None:
    assert idempotency.judge_stored("a" * 64, "a" * 64) is idempotency.Seen.REPLAY
    assert idempotency.judge_stored("a" * 64, "b" * 64) is idempotency.Seen.CONFLICT
    assert idempotency.judge_stored(None, "b" * 64) is idempotency.Seen.CONFLICT
    assert idempotency.judge(None, "b" * 64) is idempotency.Seen.NEW  # no key stored at all


@pytest.mark.parametrize("key", ["付款-1", "a\tb", "x" * 200, "k"])
def test_the_key_rule_takes_any_characters(key: str) -> None:
    assert idempotency.check_key(key) == key


@pytest.mark.parametrize("key", ["", " a", "a ", "\ta", "a\n", "x" * 201])
def test_the_key_rule_refuses_surrounding_whitespace_and_length(key: str) -> None:
    with pytest.raises(idempotency.IdempotencyKeyError, match="1 to 200 characters"):
        idempotency.check_key(key)


def test_keys_in_any_script_post_and_replay(service: LoanService) -> None:
    loan_id = active_loan(service)
    on = date(2026, 8, 1)
    for key in ("付款-1", "a\tb"):
        first = service.repay(loan_id, "100", on, key=key)
        again = service.repay(loan_id, "100", on, key=key)
        assert not first.replayed and again.replayed
        assert again.transaction_id == first.transaction_id
    rerun = service.repay_many([Payment(loan_id, "100", on, "付款-1")])
    assert isinstance(rerun[0], type(first)) and rerun[0].replayed


def test_a_bad_channel_name_is_judged_entry_by_entry_after_the_replay(
    service: LoanService,
) -> None:
    loan_id = active_loan(service)
    on = date(2026, 8, 1)
    file = [Payment(loan_id, "100", on, "f-1"), Payment(loan_id, "200", on, "f-2")]
    posted = service.repay_many(file, channel="bank")
    assert all(not isinstance(r, ValueError) for r in posted)
    before = _transaction_count(service.engine)
    rerun = service.repay_many(
        [*file, Payment(loan_id, "300", on, "f-1"), Payment(loan_id, "300", on, "f-3")],
        channel=" bad",
    )
    replayed_1, replayed_2, conflict, refused = rerun
    assert not isinstance(replayed_1, ValueError) and replayed_1.replayed
    assert not isinstance(replayed_2, ValueError) and replayed_2.replayed
    assert isinstance(conflict, IdempotencyConflictError)
    assert isinstance(refused, LoanInputError) and "channel" in str(refused)
    # one at a time, repayment and prepayment alike: the first result again, then the refusal
    assert service.repay(loan_id, "100", on, key="f-1", channel=" bad").replayed
    prepaid = service.prepay(loan_id, on, amount="1000", key="pp-1", channel="bank")
    again = service.prepay(loan_id, on, amount="1000", key="pp-1", channel=" bad")
    assert again.replayed and again.transaction_id == prepaid.transaction_id
    after = _transaction_count(service.engine)
    with pytest.raises(LoanInputError, match="channel"):
        service.repay(loan_id, "100", on, key="f-4", channel=" bad")
    with pytest.raises(LoanInputError, match="channel"):
        service.prepay(loan_id, on, amount="100", key="pp-2", channel=" bad")
    assert _transaction_count(service.engine) == after == before + 1


def _weekly(n: int) -> list[date]:
    return [START + timedelta(days=7 * k) for k in range(1, n + 1)]


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (_weekly(4), Frequency.WEEKLY),
        ([START + timedelta(days=14 * k) for k in range(1, 5)], Frequency.BIWEEKLY),
        ([date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)], Frequency.MONTHLY),
        ([date(2026, 2, 1), date(2026, 3, 1)], Frequency.MONTHLY),
        ([date(2026, 8, 1)], Frequency.MONTHLY),  # one row cannot tell
        ([], Frequency.MONTHLY),
    ],
)
def test_the_frequency_a_schedules_due_dates_were_stepped_by(
    due: list[date], expected: Frequency
) -> None:
    assert frequency_of_due_dates(due) is expected


def test_an_offers_stated_frequency_wins_over_its_schedule() -> None:
    rows = [{"due_date": d.isoformat()} for d in _weekly(3)]
    assert offer_frequency({"schedule": {"rows": rows}}) is Frequency.WEEKLY
    assert offer_frequency({"frequency": "biweekly", "schedule": {"rows": rows}}) is (
        Frequency.BIWEEKLY
    )
    assert offer_frequency({}) is Frequency.MONTHLY


def test_an_offer_stored_before_it_carried_its_frequency_keeps_its_schedules(
    service: LoanService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weekly offer written before offers stated their frequency (decisions are immutable,
    so it is written that way) becomes a weekly loan, not a monthly one."""
    weekly_offer = loan_world.offer_dict()
    weekly_offer.pop("frequency", None)
    rows = weekly_offer["schedule"]["rows"]
    for row, due in zip(rows, _weekly(len(rows)), strict=True):
        row["due_date"] = due.isoformat()
    monkeypatch.setattr(loan_world, "offer_dict", lambda **_: weekly_offer)
    decision_id = insert_decision(service.engine)
    loan_id = service.accept(decision_id, 0)["loan_id"]
    assert loan_row(service.engine, loan_id)["frequency"] == "weekly"
