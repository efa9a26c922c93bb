"""``/v1/loans`` over the real app, decision service and loan service (SQLite): roles, applicant
isolation, idempotent postings, bad input refused with nothing posted, the books balanced.
Repayments and prepayments come from payment-channel keys (issue #11: an applicant app only
makes repayment intents, see tests/test_payment_channels.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from creditgraph.servicing.ledger import trial_balance
from creditgraph.store.models import JournalLine
from tests.loan_world import Api, insert_decision, open_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(
        tmp_path / "home",
        {
            "app": "applicant-app",
            "other-app": "applicant-app",
            "officer": "officer",
            "analyst": "analyst",
            "channel": "payment-channel",
            "other-channel": "payment-channel",
        },
    )


def _lines(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalLine)).scalar_one())


def _balanced(engine: Engine) -> bool:
    return Decimal(trial_balance(engine)["difference"]) == 0


def _active_loan(api: Api) -> str:
    decision = insert_decision(api.engine, applicant_ref=str(api.ids["app"]))
    accepted = api.client.post("/v1/loans", json={"decision_id": decision}, headers=api.as_("app"))
    assert accepted.status_code == 201, accepted.text
    loan: dict[str, Any] = accepted.json()
    assert loan["state"] == "accepted" and loan["all_in_rate"]
    paid_out = api.client.post(
        f"/v1/loans/{loan['loan_id']}/disbursements",
        json={"business_date": "2026-07-01"},
        headers=api.as_("officer", "disburse-1"),
    )
    assert paid_out.status_code == 201, paid_out.text
    assert paid_out.json()["state"] == "active"
    return str(loan["loan_id"])


def test_an_applicant_accepts_and_reads_only_its_own_loans_paid_by_a_channel(api: Api) -> None:
    loan = _active_loan(api)
    first = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={"amount": "1066.19", "business_date": "2026-08-01"},
        headers=api.as_("channel", "pay-1"),
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["kind"] == "repayment" and body["amount"] == "1066.19"
    shown = api.client.get(f"/v1/loans/{loan}", headers=api.as_("app")).json()
    assert shown["schedule"][0]["paid"] != "0.00"
    # another applicant app can neither see nor pay it, and cannot accept someone else's offer
    assert api.client.get(f"/v1/loans/{loan}", headers=api.as_("other-app")).status_code == 404
    stranger = api.client.post(
        f"/v1/loans/{loan}/repayment-intents",
        json={"amount": "10.00", "method": "bank_card"},
        headers=api.as_("other-app"),
    )
    assert stranger.status_code == 404
    decision = insert_decision(api.engine, applicant_ref=str(api.ids["app"]))
    foreign = api.client.post(
        "/v1/loans", json={"decision_id": decision}, headers=api.as_("other-app")
    )
    assert foreign.status_code == 404
    # the lender's side: an applicant app may not disburse or reverse; an analyst reads
    denied = api.client.post(
        f"/v1/loans/{loan}/disbursements",
        json={"business_date": "2026-07-01"},
        headers=api.as_("app"),
    )
    assert denied.status_code == 403
    statement = api.client.get(f"/v1/loans/{loan}/statement", headers=api.as_("analyst"))
    assert statement.status_code == 200
    assert [p["kind"] for p in statement.json()["postings"]] == ["disbursement", "repayment"]
    assert _balanced(api.engine)


def test_postings_are_idempotent_per_key(api: Api) -> None:
    loan = _active_loan(api)
    body = {"amount": "500.00", "business_date": "2026-08-01"}
    first = api.client.post(
        f"/v1/loans/{loan}/repayments", json=body, headers=api.as_("channel", "k-1")
    )
    lines = _lines(api.engine)
    again = api.client.post(
        f"/v1/loans/{loan}/repayments", json=body, headers=api.as_("channel", "k-1")
    )
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    changed = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={**body, "amount": "600.00"},
        headers=api.as_("channel", "k-1"),
    )
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "conflict"
    # the same client key from another API key is another posting, not a replay
    other = api.client.post(
        f"/v1/loans/{loan}/repayments", json=body, headers=api.as_("other-channel", "k-1")
    )
    assert other.status_code == 201
    assert other.json()["transaction_id"] != first.json()["transaction_id"]
    assert _lines(api.engine) > lines and _balanced(api.engine)


def test_a_missing_loan_is_404_even_under_a_key_used_on_another_loan(api: Api) -> None:
    """The key names nothing of a loan that does not exist: no lookup, no 409 naming the
    caller's other loan, just the missing loan."""
    loan = _active_loan(api)
    body = {"amount": "500.00", "business_date": "2026-08-01"}
    first = api.client.post(
        f"/v1/loans/{loan}/repayments", json=body, headers=api.as_("channel", "k-1")
    )
    assert first.status_code == 201, first.text
    lines = _lines(api.engine)
    missing = api.client.post(
        "/v1/loans/LN-NOPE/repayments", json=body, headers=api.as_("channel", "k-1")
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert loan not in missing.text
    assert _lines(api.engine) == lines


@pytest.mark.parametrize(
    ("amount", "status"),
    [("-5.00", 422), ("1.234", 422), (1000, 422), ("0.00", 422), ("abc", 422)],
)
def test_bad_amounts_are_refused_and_nothing_is_posted(api: Api, amount: Any, status: int) -> None:
    loan = _active_loan(api)
    before = _lines(api.engine)
    response = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={"amount": amount, "business_date": "2026-08-01"},
        headers=api.as_("channel"),
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in response.text
    assert _lines(api.engine) == before


def test_unknown_loan_closed_loan_and_reversal(api: Api) -> None:
    missing = api.client.post(
        "/v1/loans/LN-nope/repayments",
        json={"amount": "10.00", "business_date": "2026-08-01"},
        headers=api.as_("channel"),
    )
    assert missing.status_code == 404
    loan = _active_loan(api)
    paid = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={"amount": "1066.19", "business_date": "2026-08-01"},
        headers=api.as_("channel"),
    ).json()
    reversed_ = api.client.post(
        f"/v1/loans/{loan}/transactions/{paid['transaction_id']}/reversals",
        json={"note": "payment returned by the bank"},
        headers=api.as_("officer", "rev-1"),
    )
    assert reversed_.status_code == 201, reversed_.text
    assert reversed_.json()["kind"] == "reversal"
    assert (
        api.client.post(
            f"/v1/loans/{loan}/transactions/{paid['transaction_id']}/reversals",
            json={},
            headers=api.as_("app"),
        ).status_code
        == 403
    )
    closed = api.client.post(
        f"/v1/loans/{loan}/prepayments",
        json={"business_date": "2026-08-15", "full": True},
        headers=api.as_("channel", "prepay-all"),
    )
    assert closed.status_code == 201, closed.text
    assert closed.json()["state"] == "closed"
    before = _lines(api.engine)
    late = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={"amount": "10.00", "business_date": "2026-09-01"},
        headers=api.as_("channel"),
    )
    assert late.status_code in (409, 422) and "closed" in late.json()["error"]["message"]
    both = api.client.post(
        f"/v1/loans/{loan}/prepayments",
        json={"business_date": "2026-09-01", "full": True, "amount": "5.00"},
        headers=api.as_("channel"),
    )
    assert both.status_code == 422
    assert _lines(api.engine) == before and _balanced(api.engine)


def test_a_posting_checks_who_may_see_the_loan_without_reading_it_first(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ownership is checked on the row the posting locks: no statement is read before it."""
    from creditgraph.servicing.loans import LoanService

    loan = _active_loan(api)

    def no_read(*_: Any, **__: Any) -> Any:
        raise AssertionError("a posting read the loan before posting")

    monkeypatch.setattr(LoanService, "show", no_read)
    paid = api.client.post(
        f"/v1/loans/{loan}/repayments",
        json={"amount": "100.00", "business_date": "2026-08-01"},
        headers=api.as_("channel", "no-pre-read"),
    )
    assert paid.status_code == 201, paid.text
    missing = api.client.post(
        "/v1/loans/LN-nope/repayments",
        json={"amount": "10.00", "business_date": "2026-08-01"},
        headers=api.as_("channel"),
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
