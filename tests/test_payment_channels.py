"""Money comes only from payment channels: an applicant app makes an intent that a channel
confirms (once), a payment beyond the loan's ceiling (what would settle it today plus the
tolerance) is refused with nothing posted, and credit left on a closed loan is a refund due that
only an officer pays out, every refund listed in the refunds report. On SQLite and PostgreSQL
for the service, SQLite for HTTP and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from creditgraph.cli import ledger_cmd, loan_cmd
from creditgraph.money import from_fen
from creditgraph.servicing.book import TRANSACTIONS
from creditgraph.servicing.ceiling import OverpaymentError
from creditgraph.servicing.errors import LoanError
from creditgraph.servicing.intents import IntentConflictError, IntentService
from creditgraph.servicing.ledger import trial_balance
from creditgraph.servicing.lifecycle import LoanStateError
from creditgraph.servicing.loans import LoanService
from creditgraph.settings import get_settings
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import JournalLine
from tests.loan_world import START, Api, active_loan, insert_decision, ledger_of, loan_row, open_api

DAY = timedelta(days=1)
HUGE = "999999999999.99"


@pytest.fixture
def service(engine: Engine) -> LoanService:
    return LoanService(engine)


def _postings(engine: Engine, kind: str | None = None) -> int:
    with engine.connect() as conn:
        statement = select(func.count()).select_from(TRANSACTIONS)
        if kind is not None:
            statement = statement.where(TRANSACTIONS.c.kind == kind)
        return int(conn.execute(statement).scalar_one())


def _lines(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalLine)).scalar_one())


# ---- the ceiling (service) --------------------------------------------------------------------


def test_a_repayment_beyond_the_ceiling_is_refused_naming_it_and_posts_nothing(
    service: LoanService,
) -> None:
    loan_id = active_loan(service, amount="2000", term=6)
    on = START + 14 * DAY
    ceiling = service.ceiling(loan_id, on)
    assert ceiling.tolerance == Decimal("1.00")
    assert ceiling.most == ceiling.outstanding + Decimal("1.00")
    assert ceiling.outstanding > Decimal("2000")
    before = _lines(service.engine)
    for amount in (HUGE, str(ceiling.most + Decimal("0.01"))):
        with pytest.raises(OverpaymentError) as refused:
            service.repay(loan_id, amount, on, key=f"over-{amount}", channel="bank")
        assert "most that can be paid on this loan today" in str(refused.value)
        assert f"{ceiling.most:,}" in str(refused.value) and "tolerance 1.00" in str(refused.value)
        assert refused.value.ceiling == ceiling.most and refused.value.field == "amount"
    assert _lines(service.engine) == before
    paid = service.repay(loan_id, str(ceiling.most), on, key="at-ceiling", channel="bank")
    assert paid.detail["channel"] == "bank"
    # The credit now held counts against the next payment: nothing more than the tolerance.
    with pytest.raises(OverpaymentError):
        service.repay(loan_id, "1.01", on, key="more", channel="bank")
    assert trial_balance(service.engine)["balanced"]


def test_a_file_row_beyond_the_ceiling_is_refused_and_the_rest_posts(
    service: LoanService,
) -> None:
    from creditgraph.servicing.loans import Payment

    loan_id = active_loan(service)
    on = date(2026, 8, 1)
    results = service.repay_many(
        [Payment(loan_id, HUGE, on, "f-1"), Payment(loan_id, "1066.19", on, "f-2")],
        actor="file:p.csv",
        channel="bank",
    )
    assert isinstance(results[0], OverpaymentError)
    assert not isinstance(results[1], Exception) and results[1].detail["channel"] == "bank"
    assert _postings(service.engine, "repayment") == 1


# ---- refunds (service) ------------------------------------------------------------------------


def test_a_full_prepayment_with_excess_leaves_a_refund_due_that_an_officer_pays_out(
    service: LoanService,
) -> None:
    engine = service.engine
    loan_id = active_loan(service, amount="2000", term=6)
    on = START + 14 * DAY
    most = service.ceiling(loan_id, on).most
    service.repay(loan_id, str(most), on, key="all", channel="bank")
    closing = service.prepay(loan_id, on, full=True, key="close", channel="bank")
    assert closing.state == "closed"
    due = Decimal(closing.detail["refund_due"])
    assert due > 0
    assert _postings(engine, "refund") == 0  # nothing paid out automatically
    assert ledger_of(engine, loan_id)["borrower_credit"] == -int(due * 100)  # still owed
    [refund] = service.refunds()
    assert (refund["loan_id"], refund["amount"], refund["status"]) == (loan_id, str(due), "due")
    assert refund["approved_by"] is None and refund["due_on"] == on.isoformat()

    paid = service.approve_refund(loan_id, by="officer-li")
    assert (paid["status"], paid["approved_by"], paid["paid_on"]) == (
        "paid",
        "officer-li",
        on.isoformat(),
    )
    assert _postings(engine, "refund") == 1
    ledger = ledger_of(engine, loan_id)
    assert ledger.get("borrower_credit", 0) == 0
    assert loan_row(engine, loan_id)["credit_fen"] == 0
    with pytest.raises(LoanError, match="no refund due"):
        service.approve_refund(loan_id, by="officer-li")
    assert _postings(engine, "refund") == 1
    [listed] = service.refunds(start=on, end=on)
    assert listed["status"] == "paid" and listed["transaction_id"] == paid["transaction_id"]
    assert service.refunds(start=on + DAY) == []
    assert trial_balance(engine)["balanced"]


def test_reversing_the_closing_payment_cancels_its_refund_due(service: LoanService) -> None:
    loan_id = active_loan(service, amount="2000", term=6)
    on = START + 14 * DAY
    service.repay(loan_id, str(service.ceiling(loan_id, on).most), on, key="a", channel="bank")
    closing = service.prepay(loan_id, on, full=True, key="close", channel="bank")
    service.reverse(closing.transaction_id, key="undo")
    [refund] = service.refunds()
    assert refund["status"] == "cancelled"
    with pytest.raises(LoanError, match="no refund due"):
        service.approve_refund(loan_id, by="officer-li")
    assert _postings(service.engine, "refund") == 0
    assert trial_balance(service.engine)["balanced"]


# ---- intents (service) ------------------------------------------------------------------------


def test_an_intent_confirmed_twice_posts_exactly_once(service: LoanService) -> None:
    intents = IntentService(service)
    loan_id = active_loan(service)
    intent = intents.create(loan_id, "1066.19", "bank_card", key_id=7, actor="api-key:7")
    assert intent["status"] == "pending" and _postings(service.engine, "repayment") == 0
    first, replayed = intents.confirm(
        intent["intent_id"], "unionpay", "UP-1", "1066.19", date(2026, 8, 1), "api-key:9"
    )
    assert not replayed and first["status"] == "confirmed" and first["transaction_id"]
    again, replayed = intents.confirm(
        intent["intent_id"], "unionpay", "UP-1", "1066.19", date(2026, 8, 1), "api-key:9"
    )
    assert replayed and again["transaction_id"] == first["transaction_id"]
    with pytest.raises(IntentConflictError):
        intents.confirm(
            intent["intent_id"], "unionpay", "UP-2", "1066.19", date(2026, 8, 1), "api-key:9"
        )
    other = intents.create(loan_id, "10.00", "alipay", key_id=7, actor="api-key:7")
    with pytest.raises(IntentConflictError, match="UP-1"):
        intents.confirm(
            other["intent_id"], "unionpay", "UP-1", "10.00", date(2026, 8, 1), "api-key:9"
        )
    assert _postings(service.engine, "repayment") == 1
    statement = service.statement(loan_id)["postings"]
    assert [p["kind"] for p in statement] == ["disbursement", "repayment"]


def test_confirmations_racing_on_one_intent_post_it_once(service: LoanService) -> None:
    from concurrent.futures import ThreadPoolExecutor

    intents = IntentService(service)
    loan_id = active_loan(service)
    intent = intents.create(loan_id, "500.00", "alipay", key_id=1, actor="api-key:1")

    def confirm(_: int) -> tuple[dict[str, Any], bool]:
        return intents.confirm(
            intent["intent_id"], "alipay", "AP-9", "500.00", date(2026, 8, 1), "api-key:2"
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(confirm, range(4)))
    assert len({r["transaction_id"] for r, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False, True, True, True]
    assert _postings(service.engine, "repayment") == 1
    assert trial_balance(service.engine)["balanced"]


# ---- property ---------------------------------------------------------------------------------

repay_op = st.tuples(
    st.just("repay"),
    st.one_of(st.integers(1, 120_000), st.integers(1, 400_000), st.integers(1, 10**14)),
    st.integers(0, 20),
)
prepay_op = st.tuples(st.just("prepay"), st.integers(0, 20))
refund_op = st.tuples(st.just("refund"), st.booleans())
ops_strategy = st.lists(
    st.one_of(repay_op, repay_op, repay_op, prepay_op, refund_op), min_size=1, max_size=10
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=ops_strategy)
def test_any_payments_keep_the_books_balanced_under_the_ceiling_and_refunds_need_an_officer(
    service: LoanService, ops: list[tuple[Any, ...]]
) -> None:
    engine = service.engine
    loan_id = active_loan(service, amount="3000", term=3)
    on, approvals = START, 0
    for n, op in enumerate(ops):
        try:
            if op[0] == "repay":
                on += op[2] * DAY
                most = service.ceiling(loan_id, on).most
                amount = from_fen(op[1])
                result = service.repay(loan_id, amount, on, key=f"{loan_id}-{n}", channel="c")
                assert result.amount <= most
            elif op[0] == "prepay":
                on += op[1] * DAY
                service.prepay(loan_id, on, full=True, key=f"{loan_id}-{n}", channel="c")
            elif op[1]:
                service.approve_refund(loan_id, by="officer")
                approvals += 1
            event(f"{op[0]} done")
        except (LoanError, LoanStateError) as exc:
            event(f"{op[0]} refused: {type(exc).__name__}")
        assert trial_balance(engine)["balanced"]
        assert _postings(engine, "refund") == approvals
        loan = loan_row(engine, loan_id)
        assert -ledger_of(engine, loan_id).get("borrower_credit", 0) == loan["credit_fen"] >= 0
        due = sum(Decimal(r["amount"]) for r in service.refunds() if r["status"] == "due")
        if loan["state"] == "closed":
            assert due * 100 == loan["credit_fen"]
        else:
            assert due == 0


# ---- HTTP -------------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(
        tmp_path / "home",
        {
            "app": "applicant-app",
            "other-app": "applicant-app",
            "officer": "officer",
            "analyst": "analyst",
            "unionpay": "payment-channel",
        },
    )


def _http_loan(api: Api, amount: str = "12000", term: int = 12) -> str:
    decision = insert_decision(
        api.engine, applicant_ref=str(api.ids["app"]), amount=amount, term=term
    )
    loan = api.client.post("/v1/loans", json={"decision_id": decision}, headers=api.as_("app"))
    loan_id = str(loan.json()["loan_id"])
    paid_out = api.client.post(
        f"/v1/loans/{loan_id}/disbursements",
        json={"business_date": "2026-07-01"},
        headers=api.as_("officer", "d-1"),
    )
    assert paid_out.status_code == 201, paid_out.text
    return loan_id


def test_only_a_payment_channel_posts_repayments_and_prepayments_over_http(api: Api) -> None:
    loan = _http_loan(api)
    body = {"amount": "1066.19", "business_date": "2026-08-01"}
    for who in ("app", "officer", "analyst"):
        denied = api.client.post(f"/v1/loans/{loan}/repayments", json=body, headers=api.as_(who))
        assert denied.status_code == 403, (who, denied.text)
        prepaid = api.client.post(
            f"/v1/loans/{loan}/prepayments",
            json={"business_date": "2026-08-01", "full": True},
            headers=api.as_(who),
        )
        assert prepaid.status_code == 403, (who, prepaid.text)
    assert _postings(api.engine, "repayment") == 0
    posted = api.client.post(
        f"/v1/loans/{loan}/repayments", json=body, headers=api.as_("unionpay", "r-1")
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["detail"]["channel"] == "unionpay"


def test_an_overpayment_over_http_is_a_422_naming_the_ceiling_and_posts_nothing(api: Api) -> None:
    loan = _http_loan(api, amount="2000", term=6)
    before = _lines(api.engine)
    response = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={"amount": HUGE, "business_date": "2026-07-15"},
        headers=api.as_("unionpay", "huge"),
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "overpayment_ceiling" and error["field"] == "amount"
    assert "most that can be paid on this loan today" in error["message"]
    assert Decimal(error["ceiling"]) > Decimal("2000") and HUGE not in response.text
    assert _lines(api.engine) == before


def test_an_app_intent_is_posted_once_when_its_channel_confirms(api: Api) -> None:
    loan = _http_loan(api)
    made = api.client.post(
        f"/v1/loans/{loan}/repayment-intents",
        json={"amount": "1066.19", "method": "bank_card"},
        headers=api.as_("app"),
    )
    assert made.status_code == 201, made.text
    intent = made.json()
    assert intent["status"] == "pending" and _postings(api.engine, "repayment") == 0
    stranger = api.client.post(
        f"/v1/loans/{loan}/repayment-intents",
        json={"amount": "10.00", "method": "bank_card"},
        headers=api.as_("other-app"),
    )
    assert stranger.status_code == 404
    path = f"/v1/repayment-intents/{intent['intent_id']}"
    assert api.client.get(path, headers=api.as_("app")).json()["status"] == "pending"
    assert api.client.get(path, headers=api.as_("other-app")).status_code == 404
    confirm = {"channel_reference": "UP-77", "amount": "1066.19", "business_date": "2026-08-01"}
    denied = api.client.post(f"{path}/confirm", json=confirm, headers=api.as_("app"))
    assert denied.status_code == 403
    first = api.client.post(f"{path}/confirm", json=confirm, headers=api.as_("unionpay"))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "confirmed" and first.json()["channel"] == "unionpay"
    again = api.client.post(f"{path}/confirm", json=confirm, headers=api.as_("unionpay"))
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    other = api.client.post(
        f"{path}/confirm", json={**confirm, "amount": "1000.00"}, headers=api.as_("unionpay")
    )
    assert other.status_code == 409
    assert _postings(api.engine, "repayment") == 1
    shown = api.client.get(path, headers=api.as_("app")).json()
    assert shown["status"] == "confirmed" and shown["transaction_id"]
    listed = api.client.get(f"/v1/loans/{loan}/repayment-intents", headers=api.as_("app"))
    assert [i["intent_id"] for i in listed.json()["intents"]] == [intent["intent_id"]]


def test_refunds_over_http_need_an_officer_and_are_listed(api: Api) -> None:
    loan = _http_loan(api, amount="2000", term=6)
    pay = {"amount": "2150.00", "business_date": "2026-07-15"}
    too_much = api.client.post(
        f"/v1/loans/{loan}/repayments", json=pay, headers=api.as_("unionpay")
    )
    assert too_much.status_code == 422
    ceiling = too_much.json()["error"]["ceiling"]
    paid = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={**pay, "amount": ceiling},
        headers=api.as_("unionpay", "all"),
    )
    assert paid.status_code == 201, paid.text
    closed = api.client.post(
        f"/v1/loans/{loan}/prepayments",
        json={"business_date": "2026-07-15", "full": True},
        headers=api.as_("unionpay", "close"),
    )
    assert closed.json()["state"] == "closed", closed.text
    for who in ("app", "analyst", "unionpay"):
        denied = api.client.post(f"/v1/loans/{loan}/refunds", json={}, headers=api.as_(who))
        assert denied.status_code == 403, who
    assert _postings(api.engine, "refund") == 0
    report = api.client.get("/v1/refunds", headers=api.as_("analyst")).json()["refunds"]
    assert [(r["loan_id"], r["status"]) for r in report] == [(loan, "due")]
    approved = api.client.post(f"/v1/loans/{loan}/refunds", json={}, headers=api.as_("officer"))
    assert approved.status_code == 201, approved.text
    assert approved.json()["status"] == "paid" and approved.json()["approved_by"] == "officer"
    assert _postings(api.engine, "refund") == 1
    report = api.client.get(
        "/v1/refunds?from=2026-07-15&to=2026-07-15", headers=api.as_("officer")
    ).json()["refunds"]
    assert [(r["status"], r["approved_by"]) for r in report] == [("paid", "officer")]
    assert api.client.get("/v1/refunds", headers=api.as_("app")).status_code == 403
    assert Decimal(trial_balance(api.engine)["difference"]) == 0


# ---- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli_loan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, str]]:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    try:
        yield engine, active_loan(LoanService(engine), amount="2000", term=6)
    finally:
        engine.dispose()
        get_settings.cache_clear()


def _cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    loan_cmd.register(app)
    ledger_cmd.register(app)
    return app


def test_the_cli_refuses_an_overpayment_in_one_line_and_an_officer_refunds(
    cli_loan: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, loan = cli_loan
    runner, app = CliRunner(), _cli()
    on = "2026-07-15"
    base = ["loan", "repay", loan, "--date", on]
    nameless = runner.invoke(app, [*base, "--amount", "10"])
    assert nameless.exit_code == 2 and "--channel" in nameless.output
    over = runner.invoke(app, [*base, "--amount", HUGE, "--channel", "bank"])
    assert over.exit_code == 2, over.output
    assert "most that can be paid on this loan today" in over.stderr
    assert len(over.stderr.strip().splitlines()) == 1 and "Traceback" not in over.output
    assert _postings(engine, "repayment") == 0
    most = LoanService(engine).ceiling(loan, date(2026, 7, 15)).most
    paid = runner.invoke(app, [*base, "--amount", str(most), "--channel", "bank", "--json"])
    assert paid.exit_code == 0, paid.output
    assert json.loads(paid.stdout)["detail"]["channel"] == "bank"
    closed = runner.invoke(
        app, ["loan", "prepay", loan, "--full", "--date", on, "--channel", "bank", "--json"]
    )
    assert json.loads(closed.stdout)["state"] == "closed", closed.output
    nobody = runner.invoke(app, ["loan", "refund", loan])
    assert nobody.exit_code == 2 and _postings(engine, "refund") == 0
    refunded = runner.invoke(app, ["loan", "refund", loan, "--by", "officer-li", "--json"])
    assert refunded.exit_code == 0, refunded.output
    assert json.loads(refunded.stdout)["approved_by"] == "officer-li"
    twice = runner.invoke(app, ["loan", "refund", loan, "--by", "officer-li"])
    assert twice.exit_code == 2 and "no refund due" in twice.stderr
    report = runner.invoke(app, ["ledger", "refunds", "--from", on, "--to", on, "--json"])
    assert report.exit_code == 0, report.output
    [row] = json.loads(report.stdout)["refunds"]
    assert (row["loan_id"], row["status"], row["approved_by"]) == (loan, "paid", "officer-li")
    table = runner.invoke(app, ["ledger", "refunds"])
    assert table.exit_code == 0 and "officer-li" in table.stdout


def test_a_repayment_file_names_its_channel_and_refuses_an_overpaid_row(
    cli_loan: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, loan = cli_loan
    payments = tmp_path / "payments.csv"
    payments.write_text(
        "loan_id,amount,business_date,idempotency_key\n"
        f"{loan},{HUGE},2026-07-15,f-1\n"
        f"{loan},100.00,2026-07-15,f-2\n"
    )
    runner, app = CliRunner(), _cli()
    nameless = runner.invoke(app, ["loan", "repay-file", str(payments)])
    assert nameless.exit_code == 2 and _postings(engine, "repayment") == 0
    result = runner.invoke(app, ["loan", "repay-file", str(payments), "--channel", "unionpay"])
    assert result.exit_code == 1, result.output
    assert "1 posted, 0 already posted (same key), 1 refused" in result.output
    assert "payments.csv row 1 amount:" in result.output
    assert "most that can be paid on this loan today" in result.output
    statement = LoanService(engine).statement(loan)["postings"]
    assert [p["kind"] for p in statement] == ["disbursement", "repayment"]
    with engine.connect() as conn:
        detail = conn.execute(
            select(TRANSACTIONS.c.detail).where(TRANSACTIONS.c.kind == "repayment")
        ).scalar_one()
    assert detail["channel"] == "unionpay"
