"""Workspace users: argon2 password hashes, roles, account lock-out after repeated failures.

``authenticate`` answers the same "name or password is wrong" for an unknown name, a wrong
password, a disabled user and a locked account, and spends the same argon2 work on each, so
the answer reveals nothing about which names exist. ``failures`` failures in a row lock the
account for ``minutes`` (the right password is refused too while it is locked); ``users reset``
lifts a lock. Every change to a user is a recorded workspace action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, insert, or_, select, update

from creditgraph.store.db import write_transaction
from creditgraph.store.models import WebUser, table_of
from creditgraph.web import actions
from creditgraph.web.roles import WebRole

USERS = table_of(WebUser)
_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash no password matches, verified for unknown and locked names so that they cost the
    same argon2 work as a real check; made on first use, not at import (argon2 is slow on
    purpose)."""
    return _HASHER.hash("creditgraph: a password no user has")


_NAME = re.compile(r"^[A-Za-z0-9._@-]{2,90}$")
"""At most 90 characters: the audit trails name a user "web:<name>" in 100."""
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class UserError(ValueError):
    """A user request that cannot be honoured; ``zh`` is the same message in Chinese."""

    def __init__(self, en: str, zh: str, field: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.field = field


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: WebRole
    disabled: bool
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class LockPolicy:
    failures: int = 5
    minutes: int = 15


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    outcome: str
    """``ok`` or ``bad_credentials`` (which covers a locked account: see ``authenticate``)."""


def _user(row: object) -> User:
    return User(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=WebRole(row.role),  # type: ignore[attr-defined]
        disabled=row.disabled_at is not None,  # type: ignore[attr-defined]
        locked_until=row.locked_until,  # type: ignore[attr-defined]
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(
            f"a password needs at least {MIN_PASSWORD} characters",
            f"密码至少需要 {MIN_PASSWORD} 个字符",
            "password",
        )
    if len(password) > MAX_PASSWORD:
        raise UserError(
            f"a password may have at most {MAX_PASSWORD} characters",
            f"密码最多 {MAX_PASSWORD} 个字符",
            "password",
        )


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UserError(
            "a user name is 2 to 90 letters, digits or . _ @ -",
            "用户名为 2 至 90 个字母、数字或 . _ @ -",
            "name",
        )
    return name


def check_role(role: str) -> WebRole:
    try:
        return WebRole(role)
    except ValueError:
        allowed = ", ".join(r.value for r in WebRole)
        raise UserError(
            f"unknown role {role!r}; use one of {allowed}",
            f"未知角色 {role!r}；可选 {allowed}",
            "role",
        ) from None


class UserStore:
    """The workspace's users in one database."""

    def __init__(self, engine: Engine, policy: LockPolicy | None = None) -> None:
        self._engine = engine
        self._policy = policy or LockPolicy()

    def create(self, name: str, role: str, password: str, created_by: str) -> User:
        check_name(name)
        role_ = check_role(role)
        check_password(password)
        digest = _HASHER.hash(password)
        now = _now()
        with write_transaction(self._engine) as conn:
            if conn.execute(select(USERS.c.id).where(USERS.c.name == name)).first():
                raise UserError(
                    f"a user named {name!r} already exists",
                    f"用户 {name!r} 已存在",
                    "name",
                )
            conn.execute(
                insert(USERS).values(
                    name=name,
                    role=role_.value,
                    password_hash=digest,
                    created_at=now,
                    created_by=created_by,
                    password_changed_at=now,
                    failed_logins=0,
                )
            )
            actions.record(conn, created_by, None, "user.create", name, detail={"role": role_})
            row = conn.execute(select(USERS).where(USERS.c.name == name)).one()
        return _user(row)

    def get(self, user_id: int) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.id == user_id)).first()
        return None if row is None else _user(row)

    def by_name(self, name: str) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
        return None if row is None else _user(row)

    def list(self) -> list[User]:
        with self._engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(USERS).order_by(USERS.c.name))]

    def _existing(self, name: str) -> User:
        user = self.by_name(name)
        if user is None:
            raise UserError(f"no user named {name!r}", f"没有名为 {name!r} 的用户", "name")
        return user

    def disable(self, name: str, by: str) -> User:
        """Disable ``name`` and end their sessions at once."""
        from creditgraph.web.sessions import end_all_for

        user = self._existing(name)
        with write_transaction(self._engine) as conn:
            conn.execute(update(USERS).where(USERS.c.id == user.id).values(disabled_at=_now()))
            ended = end_all_for(conn, user.id)
            actions.record(conn, by, None, "user.disable", name, detail={"sessions_ended": ended})
        return self._existing(name)

    def reset(self, name: str, password: str | None, by: str) -> User:
        """Lift a lock-out and re-enable ``name``; with ``password``, set a new one (and end
        every session, so a stolen cookie dies with the old password)."""
        from creditgraph.web.sessions import end_all_for

        user = self._existing(name)
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "disabled_at": None}
        if password is not None:
            check_password(password)
            values["password_hash"] = _HASHER.hash(password)
            values["password_changed_at"] = _now()
        with write_transaction(self._engine) as conn:
            conn.execute(update(USERS).where(USERS.c.id == user.id).values(**values))
            ended = end_all_for(conn, user.id) if password is not None else 0
            actions.record(
                conn,
                by,
                None,
                "user.reset",
                name,
                detail={"password_changed": password is not None, "sessions_ended": ended},
            )
        return self._existing(name)

    def authenticate(self, name: str, password: str, now: datetime | None = None) -> LoginResult:
        """Check a log-in; records the attempt (never the password) as a workspace action.

        An unknown name, a wrong password, a disabled user and a locked account all answer
        ``bad_credentials`` after one argon2 verification each, so neither the answer nor its
        time tells which names exist. Failures are counted by an atomic increment in the
        database (``failed_logins = failed_logins + 1 ... RETURNING``), so guesses sent in
        parallel cannot all read the same count; a success is accepted only by an update whose
        condition says the account is not locked at that moment.
        """
        now = now or _now()
        with self._engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.name == name[:100])).first()
        if row is None or len(password) > MAX_PASSWORD:
            _verify(_dummy_hash(), password[:MAX_PASSWORD])
            actions.record_alone(self._engine, "web:unknown", None, "login", outcome="refused")
            return LoginResult(None, "bad_credentials")
        user = _user(row)
        actor = f"web:{user.name}"
        if row.locked_until is not None and row.locked_until > now:
            _verify(_dummy_hash(), password)
            actions.record_alone(self._engine, actor, user.role, "login", outcome="locked", at=now)
            return LoginResult(None, "bad_credentials")
        if not _verify(row.password_hash, password) or user.disabled:
            with write_transaction(self._engine) as conn:
                failures = conn.execute(
                    update(USERS)
                    .where(USERS.c.id == user.id)
                    .values(failed_logins=USERS.c.failed_logins + 1)
                    .returning(USERS.c.failed_logins)
                ).scalar_one()
                locked = failures >= self._policy.failures
                if locked:
                    conn.execute(
                        update(USERS)
                        .where(USERS.c.id == user.id)
                        .values(
                            locked_until=now + timedelta(minutes=self._policy.minutes),
                            failed_logins=0,
                        )
                    )
                actions.record(
                    conn,
                    actor,
                    user.role,
                    "login",
                    outcome="locked_out" if locked else "refused",
                    at=now,
                )
            return LoginResult(None, "bad_credentials")
        with write_transaction(self._engine) as conn:
            accepted = conn.execute(
                update(USERS)
                .where(
                    USERS.c.id == user.id,
                    USERS.c.disabled_at.is_(None),
                    or_(USERS.c.locked_until.is_(None), USERS.c.locked_until <= now),
                )
                .values(failed_logins=0, locked_until=None)
            ).rowcount
            actions.record(
                conn, actor, user.role, "login", outcome="done" if accepted else "locked", at=now
            )
        if not accepted:  # locked (or disabled) by another request while this one was checked
            return LoginResult(None, "bad_credentials")
        return LoginResult(user, "ok")


def _verify(digest: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(digest, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
