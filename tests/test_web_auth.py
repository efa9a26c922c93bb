"""Log-in, sessions, lock-out, log-out and the language switch of the web workspace."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from creditgraph.store.models import WebSession, WorkspaceAction, table_of
from creditgraph.web.sessions import COOKIE
from tests.web_world import PASSWORD, Workspace, csrf_of, login


def _actions(ws: Workspace, action: str) -> list[dict[str, object]]:
    table = table_of(WorkspaceAction)
    with ws.engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(select(table).where(table.c.action == action)).mappings()
        ]


def test_a_page_without_a_session_goes_to_the_log_in_page(workspace: Workspace) -> None:
    answer = workspace.client().get("/portfolio?product=P1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fportfolio%3Fproduct%3DP1"
    htmx = workspace.client().get("/portfolio", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"


def test_log_in_sets_a_strict_http_only_cookie_and_records_the_action(
    workspace: Workspace,
) -> None:
    client = workspace.client()
    answer = client.post(
        "/login",
        data={"name": workspace.users["officer"], "password": PASSWORD, "next": "/reviews"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/reviews"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = client.cookies[COOKIE]
    sessions = table_of(WebSession)
    with workspace.engine.connect() as conn:
        stored = conn.execute(select(sessions.c.token_sha256)).scalars().all()
    assert token not in stored  # only its SHA-256
    logins = [a for a in _actions(workspace, "login") if a["outcome"] == "done"]
    assert any(a["actor"] == f"web:{workspace.users['officer']}" for a in logins)


def test_an_open_redirect_is_not_followed(workspace: Workspace) -> None:
    answer = workspace.client().post(
        "/login",
        data={"name": workspace.users["analyst"], "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/portfolio"


def test_a_wrong_password_and_an_unknown_name_read_the_same(workspace: Workspace) -> None:
    client = workspace.client()
    wrong = client.post("/login", data={"name": workspace.users["auditor"], "password": "x" * 14})
    unknown = client.post("/login", data={"name": "nobody-here", "password": "x" * 14})
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.text and "用户名或密码错误" in unknown.text
    assert COOKIE not in client.cookies


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    workspace: Workspace,
) -> None:
    from creditgraph.web.users import UserStore

    UserStore(workspace.engine).create("lock-me", "analyst", PASSWORD, "tests")
    client = workspace.client()
    for _ in range(workspace.settings.web_lockout_failures):
        assert (
            client.post("/login", data={"name": "lock-me", "password": "y" * 14}).status_code == 401
        )
    locked = client.post("/login", data={"name": "lock-me", "password": PASSWORD})
    assert locked.status_code == 429 and "锁定" in locked.text
    assert any(a["outcome"] == "locked_out" for a in _actions(workspace, "login"))
    UserStore(workspace.engine).reset("lock-me", None, "tests")
    login(client, "lock-me")


def test_log_out_ends_the_session_on_the_server(workspace: Workspace) -> None:
    client = workspace.client("analyst")
    token = client.cookies[COOKIE]
    csrf = csrf_of(client)
    answer = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    replay = workspace.client()
    replay.cookies.set(COOKIE, token)
    assert replay.get("/portfolio", follow_redirects=False).status_code == 303


def test_a_disabled_user_loses_their_open_session(workspace: Workspace) -> None:
    from creditgraph.web.users import UserStore

    UserStore(workspace.engine).create("leaver", "officer", PASSWORD, "tests")
    client = workspace.client()
    login(client, "leaver")
    assert client.get("/portfolio", follow_redirects=False).status_code == 200
    UserStore(workspace.engine).disable("leaver", "tests")
    assert client.get("/portfolio", follow_redirects=False).status_code == 303
    answer = client.post("/login", data={"name": "leaver", "password": PASSWORD})
    assert answer.status_code == 401


def test_an_idle_session_ends(workspace: Workspace) -> None:
    client = workspace.client("auditor")
    token = client.cookies[COOKIE]
    store = workspace.app.state.web.sessions
    later = datetime.now() + timedelta(minutes=workspace.settings.web_session_idle_minutes + 1)
    assert store.find(token) is not None
    assert store.find(token, now=later) is None


def test_the_language_is_kept_in_the_session(workspace: Workspace) -> None:
    client = workspace.client("analyst")
    assert 'lang="zh-CN"' in client.get("/portfolio").text
    csrf = csrf_of(client)
    client.post("/lang", data={"csrf_token": csrf, "lang": "en", "next": "/portfolio"})
    page = client.get("/portfolio").text
    assert 'lang="en"' in page and "Log out" in page


def test_a_write_without_the_token_or_from_another_origin_is_refused(
    workspace: Workspace,
) -> None:
    client = workspace.client("officer")
    csrf = csrf_of(client)
    missing = client.post("/logout", follow_redirects=False)
    assert missing.status_code == 403
    wrong = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403
    cross = client.post(
        "/logout",
        data={"csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    site = client.post(
        "/logout",
        data={"csrf_token": csrf},
        headers={"Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert site.status_code == 403
    # the session survived every refused write
    assert client.get("/portfolio", follow_redirects=False).status_code == 200


def test_pages_carry_a_content_security_policy(workspace: Workspace) -> None:
    answer = workspace.client("admin").get("/portfolio")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
