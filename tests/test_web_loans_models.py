"""The loans pages show the servicing book's own figures; the models pages list the registry
with its champion and serve each version's report safely."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from creditgraph.servicing.loans import LoanService
from creditgraph.web.i18n import texts


def _loan_with_payments(workspace: Any) -> str:
    with workspace.engine.connect() as conn:
        found: str = conn.execute(
            text(
                "SELECT loan_id FROM loan_transactions WHERE kind = 'repayment' "
                "GROUP BY loan_id ORDER BY count(*) DESC, loan_id LIMIT 1"
            )
        ).scalar_one()
    return found


def test_loan_page_totals_match_the_servicing_service(workspace: Any) -> None:
    loan_id = _loan_with_payments(workspace)
    service = LoanService(workspace.engine)
    shown = service.show(loan_id)
    statement = service.statement(loan_id)
    client = workspace.client("analyst")
    html = client.get(f"/loans/{loan_id}").text
    t = texts("zh")
    outstanding = re.search(r'id="principal-outstanding">([^<]+)<', html)
    assert outstanding and outstanding.group(1) == t.money(shown["principal_outstanding"])
    totals = re.search(r'<tr id="schedule-totals">(.*?)</tr>', html, re.S)
    assert totals
    paid = sum((Decimal(r["paid"]) for r in shown["schedule"]), Decimal(0))
    principal = sum((Decimal(r["principal"]) for r in shown["schedule"]), Decimal(0))
    assert t.money(paid) in totals.group(1) and t.money(principal) in totals.group(1)
    for account, amount in statement["balances"].items():
        assert f'data-account="{account}">{t.money(amount)}<' in html
    repayments = [p for p in statement["postings"] if p["kind"] == "repayment"]
    assert repayments and html.count("<td>repayment") == len(repayments)
    # the daily accruals are summed by month, and the months add up to the book's postings
    accrued = sum(
        (Decimal(p["amount"]) for p in statement["postings"] if p["kind"] == "accrual"), Decimal(0)
    )
    from creditgraph.web.data.loans import split_postings

    _, months = split_postings(statement["postings"])
    assert sum((m["total"] for m in months if m["kind"] == "accrual"), Decimal(0)) == accrued
    assert t.money(months[0]["total"]) in html


def test_loan_list_paginates_and_filters(workspace: Any) -> None:
    client = workspace.client("officer")
    with workspace.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM loans")).scalar_one()
        closed = conn.execute(
            text("SELECT count(*) FROM loans WHERE state = 'closed'")
        ).scalar_one()
    first = client.get("/loans")
    assert first.status_code == 200
    assert first.text.count('<td><a href="/loans/') == min(50, total)
    assert f"共 {total} 笔贷款" in first.text
    only_closed = client.get("/loans", params={"state": "closed", "page": 2})
    assert only_closed.status_code == 200
    assert only_closed.text.count('<td><a href="/loans/') == max(0, min(50, closed - 50))
    fragment = client.get("/loans", params={"state": "closed"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'id="loans-table"' in fragment.text
    unknown = client.get("/loans", params={"state": "nonsense"})
    assert unknown.status_code == 200 and f"共 {total} 笔贷款" in unknown.text
    assert client.get("/loans", params={"page": "x"}).status_code == 400
    assert client.get("/loans", params={"page": "0"}).status_code == 400


def test_unknown_loan_and_model_are_404(workspace: Any) -> None:
    client = workspace.client("admin")
    assert client.get("/loans/LN-NOSUCHLOAN").status_code == 404
    assert client.get("/models/no-such-model").status_code == 404
    assert client.get("/models/no-such-model/report").status_code == 404


def test_models_page_lists_the_champion_and_challengers(workspace: Any) -> None:
    with workspace.engine.connect() as conn:
        champion = conn.execute(
            text("SELECT id FROM model_versions WHERE status = 'champion' AND variant = 'social'")
        ).scalar_one()
        candidates = list(
            conn.execute(text("SELECT id FROM model_versions WHERE status = 'candidate'")).scalars()
        )
    client = workspace.client("analyst")
    html = client.get("/models").text
    row = re.search(rf"<code>{re.escape(champion)}</code></a></th>\s*<td>(.*?)</td>", html, re.S)
    assert row and "冠军" in row.group(1)
    for candidate in candidates:
        row = re.search(
            rf"<code>{re.escape(candidate)}</code></a></th>\s*<td>(.*?)</td>", html, re.S
        )
        assert row and "挑战者" in row.group(1)
    one = client.get(f"/models/{champion}")
    assert one.status_code == 200 and "AUC" in one.text
    assert f'href="/models/{champion}/report"' in one.text


def test_model_report_is_a_sandboxed_download(workspace: Any) -> None:
    with workspace.engine.connect() as conn:
        champion = conn.execute(
            text("SELECT id FROM model_versions WHERE status = 'champion' LIMIT 1")
        ).scalar_one()
    answer = workspace.client("auditor").get(f"/models/{champion}/report")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment")
    policies = answer.headers.get_list("content-security-policy")
    assert any(p.startswith("sandbox") for p in policies)
    assert "<html" in answer.text.lower()


def test_models_are_refused_to_officers_and_loans_to_the_logged_out(workspace: Any) -> None:
    assert workspace.client("officer").get("/models").status_code == 403
    answer = workspace.client().get("/loans", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
