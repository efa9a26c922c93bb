"""Authorization of the workspace, derived from the one capability table (``web.roles``).

Every page and every form, for every role and for a visitor who is not logged in: the right
status, and no form in a page that the role could not submit. Each route must declare exactly
one capability (the log-in routes excepted), so a new page without one fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from creditgraph.store.models import Alert, Erasure, Loan, ModelVersion, ReviewRequest, table_of
from creditgraph.web.roles import MATRIX, Can, WebRole
from tests.web_world import ROLES, Workspace, csrf_of

OPEN = {"/", "/login", "/lang"}
"""Routes anyone may reach (``/logout`` needs only a session)."""
SESSION_ONLY = {"/logout"}
QUERIES = {"/portfolio/loans": "?bucket=M0", "/portfolio/loans.csv": "?bucket=M0"}
"""Pages that need a query to show anything (a bucket's loans need the bucket)."""


def _capability(route: APIRoute) -> Can | None:
    found = [
        dep.call.capability  # type: ignore[attr-defined]
        for dep in route.dependant.dependencies
        if hasattr(dep.call, "capability")
    ]
    assert len(found) <= 1, route.path
    return found[0] if found else None


def _web_routes(workspace: Workspace) -> list[APIRoute]:
    """Every route of the workspace's page modules (mounted on the app without a prefix)."""
    from creditgraph.web.pages import ROUTERS

    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 20
    return routes


def _ids(workspace: Workspace) -> dict[str, str]:
    with workspace.engine.connect() as conn:
        loans, erased = table_of(Loan), table_of(Erasure)
        loan = conn.execute(
            select(loans.c.id, loans.c.person_id).where(
                loans.c.person_id.not_in(select(erased.c.person_id))
            )
        ).first()
        alert = conn.execute(select(table_of(Alert).c.id)).scalar()
        model = conn.execute(select(table_of(ModelVersion).c.id)).scalar()
        review = conn.execute(select(table_of(ReviewRequest).c.id)).scalar()
    assert loan is not None and alert and model and review
    return {
        "loan_id": loan.id,
        "person_id": loan.person_id,
        "alert_id": alert,
        "model_id": model,
        "request_id": review,
        "review_id": review,
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in ids, f"no sample id for {{{name}}} in {path}"
        return ids[name]

    return re.sub(r"\{([^}]+)\}", value, path) + QUERIES.get(path, "")


def test_every_page_and_form_declares_one_capability(workspace: Workspace) -> None:
    undeclared = [
        r.path
        for r in _web_routes(workspace)
        if _capability(r) is None and r.path not in OPEN | SESSION_ONLY
    ]
    assert undeclared == []


def _expected(role: str | None, route: APIRoute) -> set[int]:
    capability = _capability(route)
    if role is None:
        return {303, 401}
    if capability is not None and WebRole(role) not in MATRIX[capability]:
        return {403}
    return set()


@pytest.mark.parametrize("role", [*ROLES, None])
def test_pages_answer_each_role_as_the_matrix_says(workspace: Workspace, role: str | None) -> None:
    ids = _ids(workspace)
    client = workspace.client(role)
    checked = 0
    for route in _web_routes(workspace):
        if "GET" not in route.methods or route.path in OPEN:
            continue
        path = _fill(route.path, ids)
        answer = client.get(path, follow_redirects=False)
        expected = _expected(role, route)
        if expected:
            assert answer.status_code in expected, (role, path, answer.status_code)
            if answer.status_code == 303:
                assert answer.headers["location"].startswith("/login")
            if answer.status_code == 403:
                assert "<table" not in answer.text
                assert not any(v in answer.text for v in ids.values() if v not in path), path
        else:
            assert answer.status_code == 200, (role, path, answer.status_code)
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("role", [*ROLES, None])
def test_writes_answer_each_role_as_the_matrix_says(workspace: Workspace, role: str | None) -> None:
    """A role without the capability is refused with a valid CSRF token: 403, nothing done."""
    ids = _ids(workspace)
    client = workspace.client(role)
    csrf = csrf_of(client, "/loans") if role else ""
    for route in _web_routes(workspace):
        if "POST" not in route.methods or route.path in OPEN | SESSION_ONLY:
            continue
        path = _fill(route.path, ids)
        expected = _expected(role, route)
        if not expected:
            continue
        answer = client.post(path, data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code in expected, (role, path, answer.status_code)


def _post_forms(html: str) -> list[str]:
    return re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html) + re.findall(
        r'<form[^>]*action="([^"]+)"[^>]*method="post"', html
    )


def _route_for(action: str, routes: list[APIRoute]) -> APIRoute | None:
    path = action.split("?")[0]
    for route in routes:
        if "POST" in route.methods and route.path_regex.match(path):
            return route
    return None


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_a_form_its_reader_may_not_submit(workspace: Workspace, role: str) -> None:
    ids = _ids(workspace)
    routes = _web_routes(workspace)
    client = workspace.client(role)
    for route in routes:
        if "GET" not in route.methods or route.path in OPEN or _expected(role, route):
            continue
        path = _fill(route.path, ids)
        answer = client.get(path)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        for action in _post_forms(answer.text):
            target = _route_for(action, routes)
            assert target is not None, (path, action)
            assert not _expected(role, target), (role, path, action)


def test_personal_values_reach_only_roles_that_may_see_them(workspace: Workspace) -> None:
    """The profile's reveal: the decrypted name and phone appear for an officer and an admin,
    and an analyst or an auditor is refused (403) with none of them in what they receive, even
    with a valid CSRF token; merely opening the page decrypts nothing for anyone."""
    from creditgraph.privacy.fieldcrypt import read_identity
    from creditgraph.privacy.keys import master_key_file, open_master_key

    ids = _ids(workspace)
    provider: Any = open_master_key(workspace.engine, master_key_file(workspace.settings))
    with workspace.engine.connect() as conn:
        identity = read_identity(conn, provider, ids["person_id"])
    secrets = [v for v in (identity.name, identity.phone) if v]
    assert secrets, "the sample person has no stored name or phone"
    page = f"/applicants/{ids['person_id']}"
    reveal = f"{page}/profile"
    for role in ROLES:
        client = workspace.client(role)
        opened = client.get(page).text
        assert all(value not in opened for value in secrets), role
        answer = client.post(reveal, data={"csrf_token": csrf_of(client, page)})
        if role in ("analyst", "auditor"):
            assert answer.status_code == 403, role
            assert all(value not in answer.text for value in secrets), role
        else:
            assert answer.status_code == 200, role
            assert all(value in answer.text for value in secrets), role


def test_only_roles_that_see_profiles_may_search_by_the_lenders_own_id(
    workspace: Workspace,
) -> None:
    from creditgraph.privacy.fieldcrypt import read_identity
    from creditgraph.privacy.keys import master_key_file, open_master_key

    ids = _ids(workspace)
    provider: Any = open_master_key(workspace.engine, master_key_file(workspace.settings))
    with workspace.engine.connect() as conn:
        external = read_identity(conn, provider, ids["person_id"]).external_id
    for role in ("analyst", "auditor"):
        answer = workspace.client(role).get("/applicants", params={"q": external})
        assert answer.status_code == 404, role
    found = workspace.client("officer").get(
        "/applicants", params={"q": external}, follow_redirects=False
    )
    assert found.status_code == 303 and found.headers["location"].endswith(ids["person_id"])
