"""The portfolio page checked against hand-written SQL on the demo home: balances by DPD bucket,
PAR, the drill-down, the CSV exports, an as-of day in the past, filters and bad input."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from creditgraph.web.data import portfolio as data
from creditgraph.web.i18n import texts
from tests.web_world import Workspace, csrf_of

BUCKETS = ("M0", "M1", "M2", "M3", "M3+")
PAR_OVER = {1: 0, 30: 30, 90: 90}
"""PAR by hand: the DPD a loan must be over to count (on the buckets' edges)."""


def _sql(ws: Workspace, query: str, **params: Any) -> list[Any]:
    with ws.engine.connect() as conn:
        return list(conn.execute(text(query), params).all())


def _latest(ws: Workspace) -> date:
    (value,) = _sql(ws, "SELECT max(business_date) FROM eod_runs WHERE status = 'completed'")[0]
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _outstanding_by_journal(ws: Workspace, day: date, product: str | None = None) -> dict[str, int]:
    """Each loan's loans_receivable balance at the end of ``day``, by hand."""
    rows = _sql(
        ws,
        "SELECT j.loan_id, sum(j.debit_fen - j.credit_fen) FROM journal_lines j "
        "JOIN loans l ON l.id = j.loan_id "
        "WHERE j.account = 'loans_receivable' AND j.business_date <= :day "
        "AND (:product IS NULL OR l.product_code = :product) GROUP BY j.loan_id",
        day=day,
        product=product,
    )
    return {str(k): int(v) for k, v in rows if int(v) != 0}


def _bucket_csv(client: Any, query: str = "") -> dict[str, tuple[int, Decimal]]:
    answer = client.get(f"/portfolio.csv{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["bucket"] for r in rows] == [*BUCKETS, "total"]
    for r in rows:
        assert re.fullmatch(r"-?\d+\.\d{2}", r["outstanding_yuan"]), r
    return {r["bucket"]: (int(r["loans"]), Decimal(r["outstanding_yuan"])) for r in rows}


def _html_bucket_counts(html: str) -> dict[str, int]:
    table = html[html.index('id="dpd-buckets"') :]
    table = table[: table.index("</table>")]
    found = re.findall(r'data-bucket="([^"]+)"[^>]*>([\d,]+)</a>', table, flags=re.S)
    return {bucket: int(count.replace(",", "")) for bucket, count in found}


def _drill_ids(client: Any, query: str, htmx: bool = False) -> list[str]:
    """Every loan id of a drill-down, following its pages."""
    ids: list[str] = []
    page = 1
    while True:
        headers = {"HX-Request": "true"} if htmx else {}
        answer = client.get(f"/portfolio/loans?{query}&page={page}", headers=headers)
        assert answer.status_code == 200, answer.text
        ids += re.findall(r'<a href="/loans/([^"]+)">', answer.text)
        if 'rel="next"' not in answer.text:
            return ids
        page += 1


def _decision_rows(html: str) -> dict[tuple[str, str], list[str]]:
    """(segment, product) -> the number cells of the decision-rates table."""
    table = html[html.index('id="decision-rates"') :]
    table = table[: table.index("</tbody>")]
    rows = re.findall(
        r'<th scope="row">([^<]+)</th>\s*<td>([^<]+)</td>(.*?)</tr>', table, flags=re.S
    )
    return {
        (seg, product): re.findall(r'<td class="num">([^<]*)</td>', cells)
        for seg, product, cells in rows
    }


def _delinquent(ws: Workspace) -> tuple[str, date, date | None]:
    """A loan that fell overdue and never paid after: id, first day overdue, write-off day."""
    rows = _sql(
        ws,
        "SELECT id, overdue_since, written_off_on FROM loans WHERE overdue_since IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM loan_instalments i WHERE i.loan_id = loans.id "
        "AND (i.principal_paid_fen > 0 OR i.interest_paid_fen > 0)) ORDER BY id",
    )
    assert rows, "the demo home has no delinquent loan"
    loan_id, since, off = rows[0]

    def as_day(v: Any) -> date | None:
        return None if v is None else v if isinstance(v, date) else date.fromisoformat(str(v))

    first = as_day(since)
    assert first is not None
    return str(loan_id), first, as_day(off)


def test_every_role_sees_the_portfolio_and_logged_out_goes_to_log_in(workspace: Workspace) -> None:
    for role in ("officer", "analyst", "auditor", "admin"):
        answer = workspace.client(role).get("/portfolio")
        assert answer.status_code == 200
        assert 'id="dpd-buckets"' in answer.text
    for path in ("/portfolio/loans?bucket=M0", "/portfolio.csv", "/portfolio/loans.csv?bucket=M0"):
        assert workspace.client().get(path, follow_redirects=False).status_code == 303


def test_balances_sum_to_the_total_outstanding_at_the_latest_day_end(workspace: Workspace) -> None:
    latest = _latest(workspace)
    client = workspace.client("analyst")
    table = _bucket_csv(client)
    journal = _outstanding_by_journal(workspace, latest)
    total_fen = sum(journal.values())
    assert table["total"] == (len(journal), Decimal(total_fen) / 100)
    assert sum(table[b][0] for b in BUCKETS) == table["total"][0]
    assert sum(table[b][1] for b in BUCKETS) == table["total"][1]
    # the day-end history agrees with today's rows: the books are closed through the latest day
    (by_rows,) = _sql(
        workspace,
        "SELECT sum(i.principal_due_fen - i.principal_paid_fen) FROM loan_instalments i "
        "JOIN loans l ON l.id = i.loan_id WHERE NOT i.superseded "
        "AND l.state NOT IN ('closed', 'written_off')",
    )[0]
    assert int(by_rows or 0) == total_fen
    for bucket in BUCKETS:
        (count,) = _sql(
            workspace,
            "SELECT count(*) FROM loans WHERE bucket = :b AND state IN ('active', 'overdue')",
            b=bucket,
        )[0]
        assert table[bucket][0] == count, bucket
    html = client.get("/portfolio").text
    assert _html_bucket_counts(html) == {b: table[b][0] for b in BUCKETS}
    t = texts("zh")
    assert t.money(total_fen, fen=True) in html


def test_a_past_as_of_day_reads_the_day_end_history(workspace: Workspace) -> None:
    loan_id, since, written_off = _delinquent(workspace)
    day = since + timedelta(days=44)  # 45 days past due at the end of this day
    assert written_off is None or day < written_off
    client = workspace.client("analyst")
    past = _bucket_csv(client, f"?as_of={day}")
    now = _bucket_csv(client)
    journal = _outstanding_by_journal(workspace, day)
    assert past["total"] == (len(journal), Decimal(sum(journal.values())) / 100)
    assert past["total"] != now["total"]
    assert past["M2"][0] >= 1
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"/portfolio/loans.csv?bucket=M2&as_of={day}").text))
    )
    mine = [r for r in rows if r["loan_id"] == loan_id]
    assert mine and mine[0]["dpd"] == "45" and mine[0]["bucket"] == "M2"
    assert Decimal(mine[0]["outstanding_yuan"]) == Decimal(journal[loan_id]) / 100
    assert "person" not in ",".join(rows[0].keys())
    # a day before it fell overdue the loan is current, after its write-off it is gone
    before = client.get(f"/portfolio/loans.csv?bucket=M0&as_of={since - timedelta(days=1)}")
    assert loan_id in before.text
    if written_off is not None:
        after = _drill_ids(client, f"bucket=M3%2B&as_of={written_off}")
        assert loan_id not in after


def _par_cards(html: str, total_fen: int, late_fen: dict[int, int]) -> None:
    """Each PAR card shows the share and the amount computed by hand."""
    t = texts("zh")
    for threshold, late in late_fen.items():
        card = html[html.index(f'id="par{threshold}"') :]
        card = card[: card.index("</div></div>") + 12]
        ratio = Decimal(late) / Decimal(total_fen) if total_fen else None
        assert t.percent(ratio, 2) in card, (threshold, card)
        assert t.money(late, fen=True) in card, (threshold, card)


def test_par_counts_more_than_30_and_90_days_on_the_bucket_edges() -> None:
    """PAR30 starts where M1 ends (31 days), PAR90 where M3 ends (91), PAR1 at 1 day."""
    state = data.DayState(
        {
            "a": (100, 0, "M0"),
            "b": (200, 1, "M1"),
            "c": (400, 30, "M1"),
            "d": (800, 31, "M2"),
            "e": (1600, 90, "M3"),
            "f": (3200, 91, "M3+"),
        }
    )
    rows = [data.LoanRow(k, "p", "x", 1, None, date(2026, 1, 1), "s", "r") for k in state.loans]
    table = data.buckets(rows, state)
    par = {p.threshold: p.outstanding_fen for p in table.par}
    assert par == {1: 200 + 400 + 800 + 1600 + 3200, 30: 800 + 1600 + 3200, 90: 3200}
    assert [p.over for p in table.par] == [0, 30, 90]
    assert table.total_fen == 6300


def test_a_rebuilt_dpd_never_passes_its_bucket() -> None:
    """A payment inside a bucket publishes no move: the aged DPD stops at the bucket's edge."""
    day = date(2027, 1, 10)
    m1 = [data.Move(day, 1, "M1", 5)]
    assert data.status_at(m1, day + timedelta(days=10)) == ("M1", 15)
    assert data.status_at(m1, day + timedelta(days=40)) == ("M1", 30)
    m2 = [*m1, data.Move(day + timedelta(days=26), 1, "M2", 31)]
    assert data.status_at(m2, day + timedelta(days=100)) == ("M2", 60)
    m3 = [data.Move(day, 1, "M3", 70)]
    assert data.status_at(m3, day + timedelta(days=50)) == ("M3", 90)
    beyond = [data.Move(day, 1, "M3+", 91)]
    assert data.status_at(beyond, day + timedelta(days=50)) == ("M3+", 141)
    assert data.status_at([data.Move(day, 1, "M0", 0)], day + timedelta(days=5)) == ("M0", 0)


def test_the_latest_close_reads_the_end_of_days_own_dpd_and_buckets(workspace: Workspace) -> None:
    """The latest day's buckets and PAR equal a hand query over ``loans.dpd``/``bucket``, also
    for a loan whose DPD a payment lowered inside its bucket (its last move says M1 at 1 day,
    40 days ago; the end of day left 12). A loan a later end of day already touched is rebuilt
    (and capped at M1's 30 days)."""
    latest = _latest(workspace)
    loan_id, person_id, accrued = _sql(
        workspace,
        "SELECT id, person_id, accrued_through FROM loans "
        "WHERE state = 'active' AND bucket = 'M0' ORDER BY id DESC",
    )[0]
    moved_on = latest - timedelta(days=39)
    event_id = f"bucket:{loan_id}:{moved_on:%Y%m%d}"
    payload = (
        f'{{"event_id":"{event_id}","type":"dpd_bucket_changed","loan_id":"{loan_id}",'
        f'"from_bucket":"M0","to_bucket":"M1","dpd":1}}'
    )
    with workspace.engine.begin() as conn:
        (offset,) = conn.execute(text('SELECT max("offset") + 1 FROM event_outbox')).one()
        conn.execute(
            text(
                'INSERT INTO event_outbox ("offset", partition, event_id, person_id, type, '
                "occurred_at, recorded_at, payload) VALUES (:o, 0, :e, :p, "
                "'dpd_bucket_changed', :at, :at, :payload)"
            ),
            {"o": offset, "e": event_id, "p": person_id, "at": f"{moved_on}", "payload": payload},
        )
        conn.execute(
            text("UPDATE loans SET dpd = 12, bucket = 'M1', state = 'overdue' WHERE id = :i"),
            {"i": loan_id},
        )
    client = workspace.client("analyst")
    try:
        workspace.app.state.web._cache.clear()
        journal = _outstanding_by_journal(workspace, latest)
        stored = {
            str(i): (int(d), str(b))
            for i, d, b in _sql(workspace, "SELECT id, dpd, bucket FROM loans")
            if str(i) in journal
        }
        assert stored[loan_id] == (12, "M1")
        table = _bucket_csv(client)
        for bucket in BUCKETS:
            mine = [i for i, (_, b) in stored.items() if b == bucket]
            assert table[bucket] == (len(mine), Decimal(sum(journal[i] for i in mine)) / 100)
        html = client.get("/portfolio").text
        late = {
            k: sum(journal[i] for i, (d, _) in stored.items() if d > over)
            for k, over in PAR_OVER.items()
        }
        assert late[1] >= journal[loan_id] and late[30] < late[1]
        _par_cards(html, sum(journal.values()), late)
        m1 = client.get("/portfolio/loans.csv?bucket=M1").text
        assert [r["dpd"] for r in csv.DictReader(io.StringIO(m1)) if r["loan_id"] == loan_id] == [
            "12"
        ]
        # the day before is rebuilt from the move, aged 38 days but no further than M1's edge
        before = client.get(f"/portfolio/loans.csv?bucket=M1&as_of={latest - timedelta(days=1)}")
        rows = [r for r in csv.DictReader(io.StringIO(before.text)) if r["loan_id"] == loan_id]
        assert [r["dpd"] for r in rows] == ["30"]
        # an end of day for the next day has begun on this loan: the row is no longer the close's
        with workspace.engine.begin() as conn:
            conn.execute(
                text("UPDATE loans SET accrued_through = :d WHERE id = :i"),
                {"d": latest + timedelta(days=1), "i": loan_id},
            )
        workspace.app.state.web._cache.clear()
        m1 = client.get("/portfolio/loans.csv?bucket=M1").text
        assert [r["dpd"] for r in csv.DictReader(io.StringIO(m1)) if r["loan_id"] == loan_id] == [
            "30"
        ]
    finally:
        with workspace.engine.begin() as conn:
            conn.execute(text("DELETE FROM event_outbox WHERE event_id = :e"), {"e": event_id})
            conn.execute(
                text(
                    "UPDATE loans SET dpd = 0, bucket = 'M0', state = 'active', "
                    "accrued_through = :d WHERE id = :i"
                ),
                {"d": accrued, "i": loan_id},
            )
        workspace.app.state.web._cache.clear()


def test_par_is_the_share_of_principal_more_than_so_many_days_late(workspace: Workspace) -> None:
    _, since, _ = _delinquent(workspace)
    client = workspace.client("analyst")
    for offset in (0, 29, 44, 95):
        day = since + timedelta(days=offset)
        lines: dict[str, list[dict[str, str]]] = {}
        for bucket in BUCKETS:
            answer = client.get(
                f"/portfolio/loans.csv?bucket={bucket.replace('+', '%2B')}&as_of={day}"
            )
            lines[bucket] = list(csv.DictReader(io.StringIO(answer.text)))
        every = [r for rs in lines.values() for r in rs]
        total = sum(Decimal(r["outstanding_yuan"]) for r in every)
        html = client.get(f"/portfolio?as_of={day}").text
        t = texts("zh")
        for threshold, over in PAR_OVER.items():
            late = sum(Decimal(r["outstanding_yuan"]) for r in every if int(r["dpd"]) > over)
            card = html[html.index(f'id="par{threshold}"') :]
            card = card[: card.index("</div></div>") + 12]
            expected = t.percent(late / total if total else None, 2)
            assert expected in card, (day, threshold, card)
            assert t.money(late) in card
        for r in lines["M1"]:
            assert 1 <= int(r["dpd"]) <= 30, (day, r)


def test_each_bucket_drills_down_to_as_many_loans_as_it_counts(workspace: Workspace) -> None:
    _, since, _ = _delinquent(workspace)
    client = workspace.client("officer")
    for day in (since + timedelta(days=44), _latest(workspace)):
        table = _bucket_csv(client, f"?as_of={day}")
        for bucket in BUCKETS:
            query = f"bucket={bucket.replace('+', '%2B')}&as_of={day}"
            full = _drill_ids(client, query)
            assert len(full) == len(set(full)) == table[bucket][0], (day, bucket)
            assert _drill_ids(client, query, htmx=True) == full
            listed = list(
                csv.DictReader(io.StringIO(client.get(f"/portfolio/loans.csv?{query}").text))
            )
            assert sorted(r["loan_id"] for r in listed) == sorted(full)
            assert sum(Decimal(r["outstanding_yuan"]) for r in listed) == table[bucket][1]


def test_the_drill_down_is_a_fragment_for_htmx_and_a_page_without(workspace: Workspace) -> None:
    client = workspace.client("analyst")
    html = client.get("/portfolio").text
    link = re.search(r'<a href="(/portfolio/loans\?[^"]*bucket=M0[^"]*)" data-bucket="M0"', html)
    assert link and 'hx-target="#bucket-drill"' in html
    path = link.group(1).replace("&amp;", "&")
    fragment = client.get(path, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'id="bucket-loans"' in fragment.text
    full = client.get(path)
    assert "<html" in full.text and 'id="bucket-loans"' in full.text
    person = re.search(r'href="/applicants/([0-9a-f]+)"', full.text)
    assert person and _sql(workspace, "SELECT 1 FROM loans WHERE person_id = :p", p=person.group(1))
    # 50 a page: the first of the current loans at the start fills a page and links the next
    first_day = _sql(workspace, "SELECT min(disbursed_on) FROM loans")[0][0]
    paged = client.get(f"/portfolio/loans?bucket=M0&as_of={first_day}").text
    assert paged.count('<a href="/loans/') == 50 and 'rel="next"' in paged


def test_filters_narrow_the_figures(workspace: Workspace) -> None:
    latest = _latest(workspace)
    _, since, _ = _delinquent(workspace)
    day = since + timedelta(days=10)
    client = workspace.client("analyst")
    everything = _bucket_csv(client, f"?as_of={day}")
    products = [p for (p,) in _sql(workspace, "SELECT DISTINCT product_code FROM loans")]
    counts = 0
    for product in products:
        narrowed = _bucket_csv(client, f"?as_of={day}&product={product}")
        journal = _outstanding_by_journal(workspace, day, product)
        assert narrowed["total"] == (len(journal), Decimal(sum(journal.values())) / 100)
        counts += narrowed["total"][0]
    assert counts == everything["total"][0]
    segment, _ = _sql(
        workspace,
        "SELECT p.segment, count(*) FROM loans l JOIN persons p ON p.person_id = l.person_id "
        "GROUP BY p.segment ORDER BY count(*) DESC",
    )[0]
    by_segment = _bucket_csv(client, f"?as_of={day}&segment={segment}")
    assert 0 < by_segment["total"][0] < everything["total"][0]
    region = _sql(workspace, "SELECT region_tier FROM persons ORDER BY region_tier")[0][0]
    start = _sql(workspace, "SELECT min(as_of) FROM decisions")[0][0]
    html = client.get(f"/portfolio?region={region}&from={start}&to={latest}").text
    assert f'<option value="{region}" selected>' in html
    (decided,) = _sql(
        workspace,
        "SELECT count(*) FROM decisions d JOIN persons p ON p.person_id = d.person_id "
        "WHERE p.region_tier = :r",
        r=region,
    )[0]
    shown = _decision_rows(html)
    assert shown and sum(int(cells[0].replace(",", "")) for cells in shown.values()) == decided
    # an unknown product is dropped, not an error
    assert _bucket_csv(client, f"?as_of={day}&product=NOPE")["total"] == everything["total"]


def test_decision_rates_match_the_decisions_table(workspace: Workspace) -> None:
    client = workspace.client("auditor")
    html = client.get("/portfolio").text
    assert 'id="decision-rates"' in html
    rows = _sql(
        workspace,
        "SELECT p.segment, d.product_code, sum(d.outcome = 'approve'), count(*) "
        "FROM decisions d JOIN persons p ON p.person_id = d.person_id "
        "GROUP BY p.segment, d.product_code",
    )
    t = texts("zh")
    shown = _decision_rows(html)
    assert len(shown) >= len(rows)
    for segment, product, approved, total in rows:
        cells = shown[(t.label("segment", segment), product)]
        assert cells[0] == t.number(total) and cells[1] == t.number(approved)
        assert cells[4] == t.percent(Decimal(approved) / Decimal(total), 1)


def test_vintage_curve_is_cumulative_and_matches_the_history(workspace: Workspace) -> None:
    html = workspace.client("analyst").get("/portfolio").text
    assert "<svg" in html and "<title" in html and "<desc" in html
    table = html[html.index('id="vintage-table"') :]
    table = table[: table.index("</table>")]
    loans = _sql(workspace, "SELECT id, disbursed_on, principal_fen FROM loans")
    rows = dict(re.findall(r'<th scope="row">(\d{4}-\d{2})</th>(.*?)</tr>', table, flags=re.S))
    assert set(rows) == {str(d)[:7] for _, d, _ in loans}
    # by hand: the loans that ever went past 30 days (into M2 or worse) by the latest day
    bad = {
        str(loan_id)
        for (loan_id,) in _sql(
            workspace,
            "SELECT DISTINCT json_extract(payload, '$.loan_id') FROM event_outbox "
            "WHERE type = 'dpd_bucket_changed' "
            "AND json_extract(payload, '$.to_bucket') IN ('M2', 'M3', 'M3+')",
        )
    }
    assert bad, "the demo home has no loan 30+ days past due"
    t = texts("zh")
    for month, cells in rows.items():
        shares = re.findall(r'<td class="num">([\d.]+)%</td>', cells)
        values = [Decimal(s) for s in shares]
        assert values == sorted(values)
        members = [(i, int(p)) for i, d, p in loans if str(d)[:7] == month]
        whole = sum(p for _, p in members)
        late = sum(p for i, p in members if i in bad)
        assert f"{shares[-1]}%" == t.percent(Decimal(late) / Decimal(whole), 1)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("as_of=2027-13-01", 400),
        ("as_of=yesterday", 400),
        ("from=2026-01-01&to=2025-01-01", 400),
        ("as_of=2999-01-01", 400),
    ],
)
def test_bad_dates_get_a_clear_400_page(workspace: Workspace, query: str, status: int) -> None:
    client = workspace.client("analyst")
    answer = client.get(f"/portfolio?{query}")
    assert answer.status_code == status
    assert "输入有误" in answer.text and "Traceback" not in answer.text
    assert client.get(f"/portfolio.csv?{query}").status_code == status
    fragment = client.get(f"/portfolio/loans?bucket=M0&{query}", headers={"HX-Request": "true"})
    assert fragment.status_code == status and 'role="alert"' in fragment.text


def test_an_unknown_bucket_is_a_400_and_english_readers_get_english(workspace: Workspace) -> None:
    client = workspace.client("analyst")
    answer = client.get("/portfolio/loans?bucket=M9")
    assert answer.status_code == 400 and "输入有误" in answer.text
    assert client.get("/portfolio/loans.csv?bucket=").status_code == 400

    token = csrf_of(client)
    client.post("/lang", data={"lang": "en", "next": "/portfolio", "csrf_token": token})
    english = client.get("/portfolio").text
    assert "Outstanding principal" in english and "Vintage curves" in english


def test_a_posting_in_the_open_day_leaves_the_closed_day_unchanged(workspace: Workspace) -> None:
    """Last in the module: it writes. The default as-of is the last close, so a prepayment
    dated in the open day changes today's rows but not the page's figures."""
    from creditgraph.servicing.loans import LoanService

    latest = _latest(workspace)
    client = workspace.client("analyst")
    before = _bucket_csv(client)
    loan_id = _sql(
        workspace, "SELECT id FROM loans WHERE state = 'active' AND bucket = 'M0' ORDER BY id"
    )[0][0]
    LoanService(workspace.engine).prepay(
        loan_id, latest + timedelta(days=1), full=True, key=f"pf-{loan_id}", actor="tests"
    )
    assert _sql(workspace, "SELECT state FROM loans WHERE id = :i", i=loan_id)[0][0] == "closed"
    workspace.app.state.web._cache.clear()  # read again, not from what the first look kept
    assert _bucket_csv(client) == before
    m0 = list(csv.DictReader(io.StringIO(client.get("/portfolio/loans.csv?bucket=M0").text)))
    assert loan_id in {r["loan_id"] for r in m0}
