"""Browser sessions: a random token in an HttpOnly, SameSite=Strict cookie, its SHA-256 in the
database with the session's CSRF token and language.

The database never holds a token a thief could replay. A session ends after
``web_session_idle_minutes`` without a request, ``web_session_hours`` after log-in, at log-out,
and when its user is disabled or given a new password. ``last_seen_at`` is written at most once
a minute so reading pages costs no write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from creditgraph.store.db import write_transaction
from creditgraph.store.models import WebSession, WebUser, table_of
from creditgraph.web.roles import WebRole

SESSIONS = table_of(WebSession)
USERS = table_of(WebUser)
COOKIE = "cg_session"
LANGS = ("zh", "en")
_TOUCH = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    token_sha256: str
    user_id: int
    user_name: str
    role: WebRole
    csrf_token: str
    lang: str

    @property
    def actor(self) -> str:
        """The user as audit records name them."""
        return f"web:{self.user_name}"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


class SessionStore:
    def __init__(self, engine: Engine, policy: SessionPolicy | None = None) -> None:
        self._engine = engine
        self._policy = policy or SessionPolicy()

    def start(self, user_id: int, lang: str, now: datetime | None = None) -> tuple[str, str]:
        """A new session for ``user_id``: (the cookie's token, the CSRF token)."""
        now = now or _now()
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with write_transaction(self._engine) as conn:
            conn.execute(
                insert(SESSIONS).values(
                    token_sha256=token_digest(token),
                    user_id=user_id,
                    csrf_token=csrf,
                    lang=lang if lang in LANGS else "zh",
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self._policy.absolute,
                )
            )
        return token, csrf

    def find(self, token: str | None, now: datetime | None = None) -> Session | None:
        """The live session of a cookie's token, or None (unknown, ended, idle, expired, or its
        user disabled)."""
        if not token or len(token) > 100:
            return None
        now = now or _now()
        digest = token_digest(token)
        with self._engine.connect() as conn:
            row = conn.execute(
                select(
                    SESSIONS.c.user_id,
                    SESSIONS.c.csrf_token,
                    SESSIONS.c.lang,
                    SESSIONS.c.last_seen_at,
                    SESSIONS.c.expires_at,
                    SESSIONS.c.ended_at,
                    USERS.c.name,
                    USERS.c.role,
                    USERS.c.disabled_at,
                )
                .join(USERS, USERS.c.id == SESSIONS.c.user_id)
                .where(SESSIONS.c.token_sha256 == digest)
            ).first()
        if row is None or row.ended_at is not None or row.disabled_at is not None:
            return None
        if row.expires_at <= now or row.last_seen_at + self._policy.idle <= now:
            return None
        if now - row.last_seen_at >= _TOUCH:
            with write_transaction(self._engine) as conn:
                conn.execute(
                    update(SESSIONS)
                    .where(SESSIONS.c.token_sha256 == digest)
                    .values(last_seen_at=now)
                )
        return Session(digest, row.user_id, row.name, WebRole(row.role), row.csrf_token, row.lang)

    def set_lang(self, session: Session, lang: str) -> None:
        if lang not in LANGS:
            return
        with write_transaction(self._engine) as conn:
            conn.execute(
                update(SESSIONS)
                .where(SESSIONS.c.token_sha256 == session.token_sha256)
                .values(lang=lang)
            )

    def end(self, session: Session, conn: Connection | None = None) -> None:
        stmt = (
            update(SESSIONS)
            .where(SESSIONS.c.token_sha256 == session.token_sha256)
            .values(ended_at=_now())
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with write_transaction(self._engine) as own:
            own.execute(stmt)


def end_all_for(conn: Connection, user_id: int) -> int:
    """End every live session of ``user_id`` on ``conn``; how many ended."""
    result = conn.execute(
        update(SESSIONS)
        .where(SESSIONS.c.user_id == user_id, SESSIONS.c.ended_at.is_(None))
        .values(ended_at=_now())
    )
    return int(result.rowcount or 0)
