"""The applicant page: the ego graph's shape and folding, statuses from known loans, and a
profile decrypted only for roles that may see it, logged when it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from markupsafe import escape
from sqlalchemy import text

from creditgraph.contracts.schema import table_spec
from creditgraph.privacy.consent import revoke_active
from creditgraph.privacy.fieldcrypt import read_identity
from creditgraph.privacy.keys import master_key_file, open_master_key
from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, withdrawn_sources
from creditgraph.store import lake
from creditgraph.store.db import write_transaction
from creditgraph.web.data import tie_index
from creditgraph.web.data.graph import (
    FOLD_OVER,
    MAX_DEVICES,
    MAX_NODES,
    PER_NODE,
    SHORT,
    fold,
    short,
)
from tests.web_world import csrf_of


def _star(arms: int, leaves: int) -> dict[str, list[str]]:
    """A centre "c" with ``arms`` contacts, each with ``leaves`` contacts of its own."""
    graph: dict[str, list[str]] = {}
    for a in range(arms):
        arm = f"a{a}"
        graph[arm] = ["c", *(f"{arm}-l{i}" for i in range(leaves))]
    return graph


def test_fold_keeps_small_branches_and_folds_large_ones() -> None:
    star = _star(3, 2)
    star["a0"] += [f"big{i}" for i in range(20)]
    ego = fold("c", star, fold_over=5)
    assert ego.hop1 == ["a0", "a1", "a2"]
    assert [(f.parent, f.hidden) for f in ego.folded] == [("a0", 22)]
    assert sorted(ego.hop2) == ["a1-l0", "a1-l1", "a2-l0", "a2-l1"]
    assert ("c", "a0") in ego.edges and ("a1", "a1-l0") in ego.edges

    opened = fold("c", star, fold_over=5, expand=["a0"])
    assert not opened.folded
    assert len(opened.hop2) == 26


def test_fold_counts_contacts_beyond_the_fetch_cap() -> None:
    star = _star(1, 3)
    ego = fold("c", star, {"a0": 500}, fold_over=10)
    assert [(f.parent, f.hidden) for f in ego.folded] == [("a0", 500 - 1)]


def test_fold_never_goes_beyond_two_hops_or_the_node_cap() -> None:
    star = _star(4, 50)
    ego = fold("c", star, fold_over=1000, max_nodes=60)
    assert len(ego.hop1) + len(ego.hop2) + 1 <= 60
    assert ego.truncated
    # third-hop people are never named: only the centre's contacts' contacts appear
    people = {"c", *ego.hop1, *ego.hop2}
    assert all(p == "c" or p.startswith("a") for p in people)
    linked = {b for a, b in ego.edges if a in ego.hop1} | set(ego.hop1)
    assert set(ego.hop2) <= linked


def test_fold_links_first_hop_people_to_each_other_once() -> None:
    ego = fold("c", {"a": ["c", "b"], "b": ["c", "a"]})
    assert sorted(ego.edges) == [("a", "b"), ("c", "a"), ("c", "b")]
    assert ego.hop2 == []


def _person_with_loan(workspace: Any) -> str:
    with workspace.engine.connect() as conn:
        found: str = conn.execute(
            text(
                "SELECT l.person_id FROM loans l JOIN persons p USING (person_id) "
                "ORDER BY l.id LIMIT 1"
            )
        ).scalar_one()
    return found


def _person_with_ties(workspace: Any) -> str:
    with workspace.engine.connect() as conn:
        people = list(
            conn.execute(text("SELECT person_id FROM persons ORDER BY person_id")).scalars()
        )
    client = workspace.client("analyst")
    for person in people[:50]:
        graph = client.get(f"/applicants/{person}/graph.json").json()
        if len(graph["nodes"]) > 5:
            return person
    pytest.fail("no person with ties in the demo home")


def test_graph_json_has_two_hops_of_pseudonyms_only(workspace: Any) -> None:
    person = _person_with_ties(workspace)
    client = workspace.client("analyst")
    answer = client.get(f"/applicants/{person}/graph.json")
    assert answer.status_code == 200
    graph = answer.json()
    assert graph["center"] == short(person)
    people = [n for n in graph["nodes"] if n["kind"] == "person"]
    assert [n for n in people if n["is_center"]] == [
        {
            "id": short(person),
            "kind": "person",
            "hop": 0,
            "status": graph["nodes"][0]["status"],
            "is_center": True,
            "in_book": True,
        }
    ]
    assert {n["hop"] for n in people} <= {0, 1, 2}
    assert any(n["hop"] == 1 for n in people)
    assert all(n["status"] in ("current", "late", "defaulted", "unknown") for n in graph["nodes"])
    assert all(len(n["id"]) <= SHORT or n["kind"] != "person" for n in graph["nodes"])
    assert person not in answer.text  # the whole pseudonym is never in the JSON
    assert len(graph["nodes"]) <= 300
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    # every second-hop person is linked to a first-hop one
    hop1 = {n["id"] for n in people if n["hop"] == 1}
    for n in people:
        if n["hop"] == 2:
            assert any(
                (e["source"] in hop1 and e["target"] == n["id"])
                or (e["target"] in hop1 and e["source"] == n["id"])
                for e in graph["edges"]
            ), n


def test_graph_statuses_follow_known_loans(workspace: Any) -> None:
    from creditgraph.web.data.graph import statuses

    with workspace.engine.connect() as conn:
        rows = conn.execute(text("SELECT person_id, state, dpd, npa FROM loans ORDER BY id")).all()
        outcomes = dict(
            conn.execute(
                text("SELECT person_id, max(defaulted) FROM loan_outcomes GROUP BY 1")
            ).all()
        )
    bad = {p for p, state, dpd, npa in rows if state == "written_off" or npa or dpd >= 90}
    bad |= {p for p, d in outcomes.items() if d}
    good = {p for p, *_ in rows} - bad
    found = statuses(workspace.engine, [*sorted(bad | good), "0" * 32])
    assert bad and all(found[p] == "defaulted" for p in bad)
    assert all(found[p] in ("current", "late") for p in good)
    assert found["0" * 32] == "unknown"


def test_graph_of_unknown_person_is_404(workspace: Any) -> None:
    client = workspace.client("officer")
    assert client.get("/applicants/" + "f" * 32 + "/graph.json").status_code == 404
    assert client.get("/applicants/not-a-person").status_code == 404


def _identity(workspace: Any, person: str) -> Any:
    provider = open_master_key(workspace.engine, master_key_file(workspace.settings))
    with workspace.engine.connect() as conn:
        return read_identity(conn, provider, person)


def _log_rows(workspace: Any, person: str) -> tuple[int, int]:
    with workspace.engine.connect() as conn:
        reads = conn.execute(
            text(
                "SELECT count(*) FROM data_access_log WHERE person_id = :p AND purpose = 'decision_review'"
            ),
            {"p": person},
        ).scalar_one()
        acts = conn.execute(
            text(
                "SELECT count(*) FROM workspace_actions WHERE action = 'profile.reveal' AND target = :p"
            ),
            {"p": person},
        ).scalar_one()
    return int(reads), int(acts)


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_profile_never_reaches_analysts_or_auditors(workspace: Any, role: str) -> None:
    person = _person_with_loan(workspace)
    identity = _identity(workspace, person)
    client = workspace.client(role)
    page = client.get(f"/applicants/{person}")
    assert page.status_code == 200
    refused = client.post(
        f"/applicants/{person}/profile",
        data={"csrf_token": csrf_of(client, f"/applicants/{person}")},
    )
    assert refused.status_code == 403
    values = [
        v for v in (identity.name, identity.phone, identity.id_number, identity.external_id) if v
    ]
    assert len(values) >= 2
    for html in (page.text, refused.text):
        for value in values:
            assert value not in html
    assert "income_monthly_fen" in page.text  # the feature is listed, its value withheld
    assert _log_rows(workspace, person) == (0, 0)


def test_officer_sees_the_profile_only_when_asking_and_it_is_logged(workspace: Any) -> None:
    with workspace.engine.connect() as conn:
        person = conn.execute(
            text("SELECT person_id FROM persons ORDER BY person_id DESC LIMIT 1")
        ).scalar_one()
    identity = _identity(workspace, person)
    client = workspace.client("officer")
    before = _log_rows(workspace, person)
    plain = client.get(f"/applicants/{person}")
    assert plain.status_code == 200
    assert identity.name not in plain.text and identity.phone not in plain.text
    assert f'action="/applicants/{person}/profile"' in plain.text
    assert _log_rows(workspace, person) == before
    # a GET never reveals (a prefetch or a link scanner must not decrypt anyone)
    assert identity.name not in client.get(f"/applicants/{person}?reveal=1").text
    assert _log_rows(workspace, person) == before
    csrf = csrf_of(client, f"/applicants/{person}")
    assert client.post(f"/applicants/{person}/profile").status_code == 403  # no token

    shown = client.post(f"/applicants/{person}/profile", data={"csrf_token": csrf})
    assert shown.status_code == 200
    assert identity.name in shown.text and identity.phone in shown.text
    assert _log_rows(workspace, person) == (before[0] + 1, before[1] + 1)
    with workspace.engine.connect() as conn:
        actor = conn.execute(
            text(
                "SELECT actor, actor_kind FROM data_access_log WHERE person_id = :p ORDER BY id DESC"
            ),
            {"p": person},
        ).first()
    assert actor == ("user:web:" + workspace.users["officer"], "user")

    fragment = client.post(
        f"/applicants/{person}/profile",
        data={"csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and identity.name in fragment.text


def test_page_shows_score_reasons_decisions_loans_and_contacts(workspace: Any) -> None:
    person = _person_with_loan(workspace)
    with workspace.engine.connect() as conn:
        loan_id = conn.execute(
            text("SELECT id FROM loans WHERE person_id = :p"), {"p": person}
        ).scalar()
        reasons = conn.execute(
            text(
                "SELECT s.reasons FROM scores s JOIN model_versions m ON m.id = s.model_id "
                "WHERE s.person_id = :p AND m.status = 'champion' AND m.variant = 'social' "
                "ORDER BY s.as_of DESC"
            ),
            {"p": person},
        ).scalar()
    client = workspace.client("auditor")
    page = client.get(f"/applicants/{person}").text
    assert f'href="/loans/{loan_id}"' in page
    assert 'id="graph" role="img"' in page and "/static/graph.js" in page
    assert "<caption>" in page
    first = json.loads(reasons)[0]
    assert escape(first["zh"]) in page and escape(first["en"]) in page
    assert page.count('<li><span lang="zh-CN">') <= 4


def test_search_by_pseudonym_prefix_and_external_id(workspace: Any) -> None:
    person = _person_with_loan(workspace)
    client = workspace.client("analyst")
    found = client.get("/applicants", params={"q": person[:12]}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/applicants/{person}"
    identity = _identity(workspace, person)
    # the lender's own id is searched only by a role that may see profiles, and logged
    officer = workspace.client("officer")
    before = _log_rows(workspace, person)
    by_id = officer.get("/applicants", params={"q": identity.external_id}, follow_redirects=False)
    assert by_id.status_code == 303 and by_id.headers["location"] == f"/applicants/{person}"
    assert _log_rows(workspace, person)[0] == before[0] + 1
    assert client.get("/applicants", params={"q": identity.external_id}).status_code == 404
    missing = client.get("/applicants", params={"q": "nobody-at-all"})
    assert missing.status_code == 404 and "没有找到该申请人" in missing.text
    listing = client.get("/applicants")
    assert listing.status_code == 200 and 'href="/applicants/' in listing.text


def test_logged_out_is_sent_to_log_in(workspace: Any) -> None:
    client = workspace.client()
    answer = client.get("/applicants", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    person = _person_with_loan(workspace)
    assert client.get(f"/applicants/{person}/graph.json", follow_redirects=False).status_code == 303


def test_expand_unfolds_a_folded_branch(workspace: Any) -> None:
    with workspace.engine.connect() as conn:
        people = list(
            conn.execute(text("SELECT person_id FROM persons ORDER BY person_id")).scalars()
        )
    client = workspace.client("analyst")
    for person in people[:80]:
        graph = client.get(f"/applicants/{person}/graph.json").json()
        folds = [n for n in graph["nodes"] if n["kind"] == "folded"]
        if folds:
            break
    else:
        pytest.skip("no folded branch among the first people of the demo home")
    fold_node = folds[0]
    assert fold_node["label"] == f"+{fold_node['hidden']}"
    opened = client.get(
        f"/applicants/{person}/graph.json", params={"expand": fold_node["parent"]}
    ).json()
    assert fold_node["id"] not in {n["id"] for n in opened["nodes"]}
    assert len(opened["nodes"]) > len(graph["nodes"])


# -- the tie index against the lake ---------------------------------------------------------------


def _lake_contacts(
    lake_dir: Path, center: str, erased: list[str], withdrawn: list[tuple[str, str]]
) -> tuple[dict[str, list[str]], dict[str, int], dict[tuple[str, str], str]]:
    """The reference: the graph's first two hops read straight from the lake through DuckDB,
    as the page read them before the index (first-hop people taken in pseudonym order)."""
    con = duckdb.connect()
    con.register("erased", pa.table({"p": pa.array(erased, pa.string())}))
    con.register(
        "withdrawn",
        pa.table(
            {
                "p": pa.array([p for p, _ in withdrawn], pa.string()),
                "s": pa.array([s for _, s in withdrawn], pa.string()),
            }
        ),
    )
    ties = f"read_parquet('{lake.parquet_glob(lake_dir, 'ties')}', union_by_name = true)"
    rows = con.execute(
        f"""
        WITH t AS (
            SELECT src, dst, kind FROM {ties} r
            WHERE ended_at IS NULL
              AND src NOT IN (SELECT p FROM erased) AND dst NOT IN (SELECT p FROM erased)
              AND NOT EXISTS (SELECT 1 FROM withdrawn w WHERE w.p = r.src AND w.s = r.source)
        ),
        u AS (SELECT src AS a, dst AS b, kind FROM t UNION ALL SELECT dst, src, kind FROM t),
        h1 AS (
            SELECT DISTINCT b AS p FROM u WHERE a = $center AND b <> $center
            ORDER BY p LIMIT {MAX_NODES}
        ),
        pairs AS (
            SELECT a, b, min(kind) AS kind FROM u WHERE a IN (SELECT p FROM h1) GROUP BY a, b
        ),
        ranked AS (
            SELECT a, b, kind, row_number() OVER (PARTITION BY a ORDER BY b) AS n,
                   count(*) OVER (PARTITION BY a) AS total
            FROM pairs
        )
        SELECT a, b, kind, total FROM ranked WHERE n <= {PER_NODE} ORDER BY a, b
        """,
        {"center": center},
    ).fetchall()
    neighbours: dict[str, list[str]] = {}
    totals: dict[str, int] = {}
    kinds: dict[tuple[str, str], str] = {}
    for a, b, kind, total in rows:
        neighbours.setdefault(a, []).append(b)
        totals[a] = int(total)
        kinds[(a, b)] = kind
    return neighbours, totals, kinds


def _lake_devices(lake_dir: Path, person: str, erased: list[str]) -> list[list[str]]:
    con = duckdb.connect()
    con.register("erased", pa.table({"p": pa.array(erased, pa.string())}))
    devices = f"read_parquet('{lake.parquet_glob(lake_dir, 'devices')}', union_by_name = true)"
    rows = con.execute(
        f"""
        WITH d AS (
            SELECT DISTINCT person_id, device_id FROM {devices}
            WHERE person_id NOT IN (SELECT p FROM erased)
        ),
        mine AS (
            SELECT device_id FROM d WHERE person_id = $p ORDER BY device_id LIMIT {MAX_DEVICES}
        )
        SELECT device_id, person_id FROM d
        WHERE device_id IN (SELECT device_id FROM mine) AND person_id <> $p
        ORDER BY device_id, person_id
        """,
        {"p": person},
    ).fetchall()
    shared: dict[str, list[str]] = {}
    for device, other in rows:
        shared.setdefault(device, []).append(other)
    return [people[:PER_NODE] for people in shared.values()]


def _db_filters(workspace: Any) -> tuple[list[str], list[tuple[str, str]]]:
    with workspace.engine.connect() as conn:
        erased = sorted(conn.execute(text("SELECT person_id FROM erasures")).scalars())
        withdrawn = withdrawn_sources(conn, CREDIT_ASSESSMENT)
    return erased, withdrawn


def _ties_by_degree(lake_dir: Path) -> list[str]:
    ties = f"read_parquet('{lake.parquet_glob(lake_dir, 'ties')}', union_by_name = true)"
    return [
        p
        for (p,) in duckdb.sql(
            f"SELECT p FROM (SELECT src AS p FROM {ties} UNION ALL SELECT dst FROM {ties}) "
            "GROUP BY p ORDER BY count(*) DESC, p"
        ).fetchall()
    ]


def test_index_gives_the_same_neighbourhood_as_the_lake(workspace: Any) -> None:
    lake_dir = workspace.settings.lake_dir
    erased, withdrawn = _db_filters(workspace)
    assert withdrawn, "the demo home has withdrawn consents: the filter is exercised"
    index = tie_index.index_for(lake_dir)
    filters = index.filters(erased, withdrawn)
    ranked = _ties_by_degree(lake_dir)
    people = ranked[:10] + ranked[len(ranked) // 2 : len(ranked) // 2 + 10] + ranked[-5:]
    people += [*erased, "0" * 32]
    folded = 0
    for person in people:
        found = index.contacts(person, filters, max_first=MAX_NODES, per_node=PER_NODE)
        assert found == _lake_contacts(lake_dir, person, erased, withdrawn), person
        folded += any(total > FOLD_OVER for total in found[1].values())
        devices = index.shared_devices(
            person, filters, max_devices=MAX_DEVICES, per_device=PER_NODE
        )
        assert list(devices.values()) == _lake_devices(lake_dir, person, erased), person
    assert folded, "some of the people compared have a large branch"


def _write_ties(lake_dir: Path, batch: str, rows: list[dict[str, Any]]) -> Path:
    schema = lake.lake_schema(table_spec("ties"))
    full = [
        {"created_at": datetime(2026, 1, 1, tzinfo=UTC), "ended_at": None, "row_key": n, **row}
        for n, row in enumerate(rows, start=1)
    ]
    path = lake.table_dir(lake_dir, "ties") / f"batch={batch}" / "001-ties.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(full, schema), path)
    return path


def _hop1(graph: dict[str, Any]) -> set[str]:
    return {n["id"] for n in graph["nodes"] if n["kind"] == "person" and n["hop"] == 1}


def test_a_new_ties_file_is_seen_by_the_next_request(workspace: Any) -> None:
    person = _person_with_loan(workspace)
    client = workspace.client("analyst")
    stranger = "e" * 32
    before = client.get(f"/applicants/{person}/graph.json").json()
    assert short(stranger) not in _hop1(before)
    path = _write_ties(
        workspace.settings.lake_dir,
        "test-new-tie",
        [{"src": person, "dst": stranger, "kind": "friend", "source": "wechat"}],
    )
    try:
        after = client.get(f"/applicants/{person}/graph.json").json()
        assert _hop1(after) == _hop1(before) | {short(stranger)}
    finally:
        path.unlink()
        path.parent.rmdir()
    again = client.get(f"/applicants/{person}/graph.json").json()
    assert _hop1(again) == _hop1(before)


def test_revocation_and_erasure_take_effect_on_the_next_request(workspace: Any) -> None:
    """A contact reached by one tie only, declared by the applicant from one source: revoking
    that source's consent drops the contact; erasing another contact drops them too."""
    lake_dir = workspace.settings.lake_dir
    ties = f"read_parquet('{lake.parquet_glob(lake_dir, 'ties')}', union_by_name = true)"
    with workspace.engine.connect() as conn:
        consented = set(
            conn.execute(
                text(
                    "SELECT person_id || '|' || source FROM consents "
                    "WHERE purpose = :p AND revoked_at IS NULL"
                ),
                {"p": CREDIT_ASSESSMENT},
            ).scalars()
        )
    single = duckdb.sql(
        f"""
        WITH t AS (SELECT * FROM {ties} WHERE ended_at IS NULL),
        pair AS (
            SELECT least(src, dst) AS x, greatest(src, dst) AS y, count(*) AS n FROM t GROUP BY 1, 2
        )
        SELECT t.src, t.dst, t.source FROM t JOIN pair
          ON pair.x = least(t.src, t.dst) AND pair.y = greatest(t.src, t.dst)
        WHERE pair.n = 1 AND t.src <> t.dst ORDER BY t.src, t.dst
        """
    ).fetchall()
    erased, _ = _db_filters(workspace)
    client = workspace.client("analyst")
    with workspace.engine.connect() as conn:
        known = set(conn.execute(text("SELECT person_id FROM persons")).scalars())
    for src, dst, source in single:
        if f"{src}|{source}" not in consented or src not in known or src in erased:
            continue
        graph = client.get(f"/applicants/{src}/graph.json").json()
        others = sorted(_hop1(graph) - {short(dst)})
        if short(dst) in _hop1(graph) and others:
            break
    else:
        pytest.skip("no single consented tie in the demo home")
    revoke_active(workspace.engine, src, source, CREDIT_ASSESSMENT)
    revoked = client.get(f"/applicants/{src}/graph.json").json()
    assert short(dst) not in _hop1(revoked)
    assert _hop1(revoked) <= _hop1(graph)

    contacts = {b for a, b, _ in single if a == src} | {a for a, b, _ in single if b == src}
    contacts |= {
        p
        for (p,) in duckdb.sql(
            f"SELECT dst FROM {ties} WHERE src = $p UNION SELECT src FROM {ties} WHERE dst = $p",
            params={"p": src},
        ).fetchall()
    }
    victim = next(p for p in sorted(_hop1(revoked)) if p != short(dst))
    full = next(p for p in contacts if short(p) == victim)
    with write_transaction(workspace.engine) as conn:
        conn.execute(
            text("INSERT INTO erasures (person_id, erased_at) VALUES (:p, :at)"),
            {"p": full, "at": datetime(2026, 1, 2)},
        )
    erased_now = client.get(f"/applicants/{src}/graph.json").json()
    assert victim not in {n["id"] for n in erased_now["nodes"]}
    assert _hop1(erased_now) == _hop1(revoked) - {victim}
