"""Log-in, sessions, lock-out, log-out and the language switch of the web workspace."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

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
    # the same answer as a wrong password: a lock-out does not tell that the name exists
    assert locked.status_code == 401 and "用户名或密码错误" in locked.text
    assert COOKIE not in client.cookies
    outcomes = {a["outcome"] for a in _actions(workspace, "login") if a["actor"] == "web:lock-me"}
    assert {"refused", "locked_out", "locked"} <= outcomes
    UserStore(workspace.engine).reset("lock-me", None, "tests")
    login(client, "lock-me")


def test_a_cross_site_log_in_is_refused(workspace: Workspace) -> None:
    """No log-in CSRF: another site cannot sign a victim's browser into the attacker's account."""
    client = workspace.client()
    answer = client.post(
        "/login",
        data={"name": workspace.users["officer"], "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403 and COOKIE not in client.cookies


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


def test_an_address_with_too_many_failures_waits_before_any_password_check(
    tmp_path: Path,
) -> None:
    """Failures from one address are counted across names (password spraying), with the API's
    lock-out by address; the right password from that address waits too."""
    from fastapi.testclient import TestClient

    from creditgraph.api.app import create_app
    from creditgraph.settings import Settings
    from creditgraph.web.users import UserStore

    settings = Settings(home=tmp_path / "home", auth_lockout_address_failures=3)
    app = create_app(settings)
    UserStore(app.state.ctx.engine).create("wang", "officer", PASSWORD, "tests")
    with TestClient(app) as client:
        for name in ("a1", "b2", "c3"):
            assert (
                client.post("/login", data={"name": name, "password": "z" * 14}).status_code == 401
            )
        held = client.post("/login", data={"name": "wang", "password": PASSWORD})
        assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0
        assert "此地址" in held.text
