"""The workspace's users, sessions and action records on both databases (SQLite and
PostgreSQL): hashes only, lock-out and its lifting, sessions ending for every reason, each
action committed to the audit log in its own transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from creditgraph.store.models import AuditRecord, WebSession, WorkspaceAction, table_of
from creditgraph.web.sessions import SessionPolicy, SessionStore, token_digest
from creditgraph.web.users import LockPolicy, UserStore

PASSWORD = "twelve chars or more"


def test_lock_out_after_the_policy_s_failures_and_reset_lifts_it(engine: Engine) -> None:
    users = UserStore(engine, LockPolicy(failures=3, minutes=10))
    users.create("ops", "analyst", PASSWORD, "tests")
    now = datetime(2026, 12, 7, 9)
    for _ in range(3):
        assert users.authenticate("ops", "wrong password!", now=now).outcome == "bad_credentials"
    locked = users.authenticate("ops", PASSWORD, now=now + timedelta(minutes=1))
    assert locked.outcome == "bad_credentials" and locked.user is None
    assert users.authenticate("ops", PASSWORD, now=now + timedelta(minutes=11)).outcome == "ok"
    for _ in range(3):
        users.authenticate("ops", "wrong password!", now=now + timedelta(minutes=12))
    users.reset("ops", None, "tests")
    assert users.authenticate("ops", PASSWORD).outcome == "ok"
    records = table_of(AuditRecord)
    actions = table_of(WorkspaceAction)
    with engine.connect() as conn:
        outcomes = conn.execute(select(actions.c.outcome)).scalars().all()
        committed = (
            conn.execute(select(records.c.record_id).where(records.c.kind == "workspace_action"))
            .scalars()
            .all()
        )
    assert {"refused", "locked_out", "locked", "done"} <= set(outcomes)
    assert len(committed) == len(outcomes)


def test_a_session_ends_idle_expired_logged_out_or_with_a_new_password(engine: Engine) -> None:
    users = UserStore(engine)
    user = users.create("li", "officer", PASSWORD, "tests")
    sessions = SessionStore(engine, SessionPolicy(timedelta(minutes=5), timedelta(hours=1)))
    start = datetime(2026, 12, 7, 9)
    token, csrf = sessions.start(user.id, "en", now=start)
    found = sessions.find(token, now=start + timedelta(minutes=4))
    assert found is not None and found.csrf_token == csrf and found.lang == "en"
    # a request within the idle window keeps it alive; the absolute limit still ends it
    assert sessions.find(token, now=start + timedelta(minutes=8)) is not None
    assert sessions.find(token, now=start + timedelta(minutes=14)) is None
    assert sessions.find(token, now=start + timedelta(hours=1, minutes=1)) is None
    token2, _ = sessions.start(user.id, "zh")
    assert sessions.find(token2) is not None
    users.reset("li", "a brand new password", "tests")
    assert sessions.find(token2) is None
    token3, _ = sessions.start(user.id, "zh")
    live = sessions.find(token3)
    assert live is not None
    sessions.end(live)
    assert sessions.find(token3) is None
    with engine.connect() as conn:
        stored = set(conn.execute(select(table_of(WebSession).c.token_sha256)).scalars())
    assert {token_digest(t) for t in (token, token2, token3)} == stored
    assert not {token, token2, token3} & stored
    assert sessions.find("x" * 500) is None and sessions.find(None) is None


def test_parallel_guesses_cannot_outrun_the_lock_out(engine: Engine) -> None:
    """Guesses sent at once each count: the account locks at the policy's limit, and the right
    password sent after them (while locked) is refused."""
    from concurrent.futures import ThreadPoolExecutor

    users = UserStore(engine, LockPolicy(failures=5, minutes=10))
    users.create("zhao", "officer", PASSWORD, "tests")
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: users.authenticate("zhao", "wrong guess!!"), range(24)))
    assert all(o.outcome == "bad_credentials" for o in outcomes)
    assert users.authenticate("zhao", PASSWORD).outcome == "bad_credentials"
    actions = table_of(WorkspaceAction)
    with engine.connect() as conn:
        locked_out = conn.execute(
            select(actions.c.id).where(actions.c.outcome == "locked_out")
        ).all()
    assert len(locked_out) >= 1
