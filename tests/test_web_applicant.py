"""The applicant page: the ego graph's shape and folding, statuses from known loans, and a
profile decrypted only for roles that may see it, logged when it is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import text

from creditgraph.privacy.fieldcrypt import read_identity
from creditgraph.privacy.keys import master_key_file, open_master_key
from creditgraph.web.data.graph import SHORT, fold, short


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
    refused = client.get(f"/applicants/{person}?reveal=1")
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
    assert f"/applicants/{person}?reveal=1" in plain.text
    assert _log_rows(workspace, person) == before

    shown = client.get(f"/applicants/{person}?reveal=1")
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

    fragment = client.get(f"/applicants/{person}?reveal=1", headers={"HX-Request": "true"})
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
    by_id = client.get("/applicants", params={"q": identity.external_id}, follow_redirects=False)
    assert by_id.status_code == 303 and by_id.headers["location"] == f"/applicants/{person}"
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
