"""API keys: ``cg_<prefix>_<secret>``. The prefix finds the row; only an argon2 hash of the
secret is stored, so a leaked database does not leak working keys. The secret is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Row, bindparam, select
from sqlalchemy.orm import Session

from creditgraph.store.models import ApiKey, table_of

TOKEN_PREFIX = "cg"
_HASHER = PasswordHasher()


class Role(StrEnum):
    """What a key may do; see ``docs/api.md`` for the endpoint matrix."""

    APPLICANT_APP = "applicant-app"
    OFFICER = "officer"
    ANALYST = "analyst"
    ADMIN = "admin"
    PAYMENT_CHANNEL = "payment-channel"
    PARTNER = "partner"  # a data partner: sends monitoring events, reads nothing
    INGEST = "ingest"  # the lender's own feeds: sends monitoring events, reads nothing


class KeyStoreError(ValueError):
    """A key request the store cannot honour (unknown role, empty name)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as callers see it: never the secret, never the hash."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and its token; the token exists only here and is not recoverable later."""

    info: KeyInfo
    token: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _info(row: ApiKey | Row[Any]) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
    )


def parse_token(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create_key(engine: Engine, name: str, role: str, created_by: str) -> CreatedKey:
    """Store a new key and return its token (shown once)."""
    try:
        role_ = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise KeyStoreError(f"unknown role {role!r}; use one of {allowed}") from None
    if not name.strip():
        raise KeyStoreError("a key needs a name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        name=name.strip()[:100],
        role=role_.value,
        prefix=prefix,
        secret_hash=_HASHER.hash(secret),
        created_at=_now(),
        created_by=created_by[:100],
        revoked_at=None,
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    return CreatedKey(info=_info(row), token=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def list_keys(engine: Engine) -> list[KeyInfo]:
    with Session(engine) as session:
        return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(engine: Engine, key_id: int) -> KeyInfo | None:
    """Revoke a key (idempotent); None when no such key exists."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.get(ApiKey, key_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = _now()
        return _info(row)


_KEY_BY_PREFIX = select(table_of(ApiKey)).where(table_of(ApiKey).c.prefix == bindparam("prefix"))


class KeyVerifier:
    """Checks tokens against the store.

    argon2 costs tens of milliseconds by design, too slow for every request; a token that
    verified once is remembered in memory as a SHA-256 digest (never the token itself). The row
    is still read on every call, so a revocation takes effect on the next request.

    Every refused well-formed token costs one argon2 verification, against a dummy hash when the
    prefix is unknown or revoked, so the answer's timing does not tell which prefixes exist.
    Failed attempts are rate limited by ``creditgraph.api.lockout``.
    """

    def __init__(self, engine: Engine, cache_size: int = 10_000) -> None:
        self._engine = engine
        self._cache: dict[int, bytes] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._dummy_hash = _HASHER.hash(secrets.token_urlsafe(32))

    def verify(self, token: str) -> KeyInfo | None:
        """The key's info when the token is valid and not revoked, else None."""
        return self.check(token)[0]

    def check(
        self, token: str, before_verifying: Callable[[], None] | None = None
    ) -> tuple[KeyInfo | None, str]:
        """(info, "ok") for a valid token, else (None, why): malformed, unknown_key, revoked,
        bad_secret. The reason is for the audit trail only; clients all see the same 401.

        ``before_verifying`` runs before any token that is not this process's already-verified
        one is judged (the lock-out check): a guess never reaches argon2 while locked out, and
        the hot path of a known-good token costs no extra read.
        """
        parsed = parse_token(token)
        if parsed is None:
            if before_verifying is not None:
                before_verifying()
            return None, "malformed"
        prefix, secret = parsed
        with self._engine.connect() as conn:  # Core, not the ORM: this runs on every request
            key = conn.execute(_KEY_BY_PREFIX, {"prefix": prefix}).first()
        digest = hashlib.sha256(token.encode()).digest()
        if key is not None and key.revoked_at is None:
            cached = self._cache.get(key.id)
            if cached is not None and hmac.compare_digest(cached, digest):
                return _info(key), "ok"
        if before_verifying is not None:
            before_verifying()
        if key is None or key.revoked_at is not None:
            verify_secret(self._dummy_hash, secret)  # the same work as a wrong secret
            return None, "unknown_key" if key is None else "revoked"
        if not verify_secret(key.secret_hash, secret):
            return None, "bad_secret"
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[key.id] = digest
        return _info(key), "ok"


def verify_secret(secret_hash: str, secret: str) -> bool:
    """Constant-time check of a secret against its stored argon2 hash."""
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
