"""Failed authentications, rate limited per (key prefix, client address) and per address.

Every refused token is written to ``auth_events`` (prefix, keyed hash of the address, time,
outcome; never a secret). ``auth_lockout_failures`` failures of one prefix from one address
within ``auth_lockout_window_seconds`` lock that pair, and ``auth_lockout_address_failures``
from one address lock the address, each for ``auth_lockout_seconds``: a 429 with Retry-After,
before any argon2 work. The state is in the database, so it holds across workers and restarts.

A lock-out also refuses the right key from that address (a guesser may not learn it was right),
so a shared address can be locked out by a neighbour: docs/security.md says how to unlock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, case, func, insert, select, update

from creditgraph.settings import Settings
from creditgraph.store.db import write_transaction
from creditgraph.store.models import AuthEvent, table_of

LOCKED_PAIR = "locked"
LOCKED_ADDRESS = "locked_address"
FAILURES = ("malformed", "unknown_key", "revoked", "bad_secret")
_PREFIX = re.compile(r"^[0-9a-f]{1,16}$")
_EVENTS = table_of(AuthEvent)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def clean_prefix(prefix: str | None) -> str | None:
    """The prefix as stored: only what a real prefix could look like (else None)."""
    return prefix if prefix is not None and _PREFIX.match(prefix) else None


@dataclass(frozen=True, slots=True)
class Policy:
    failures: int
    address_failures: int
    window: timedelta
    lockout: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            failures=settings.auth_lockout_failures,
            address_failures=settings.auth_lockout_address_failures,
            window=timedelta(seconds=settings.auth_lockout_window_seconds),
            lockout=timedelta(seconds=settings.auth_lockout_seconds),
        )


class Lockout:
    """Reads and records failed authentications for one database."""

    def __init__(self, engine: Engine, policy: Policy, address_key: bytes) -> None:
        self._engine = engine
        self._policy = policy
        self._key = hmac.new(address_key, b"creditgraph/auth-client", hashlib.sha256).digest()

    def client_id(self, address: str | None) -> str:
        """A keyed hash of the address: stable across workers, not reversible without the key."""
        raw = (address or "unknown").encode()
        return hmac.new(self._key, raw, hashlib.sha256).hexdigest()[:32]

    def retry_after(self, prefix: str | None, client: str, now: datetime | None = None) -> int:
        """Seconds until this (prefix, address) may try again; 0 when not locked."""
        now = now or _now()
        since = now - self._policy.lockout
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_EVENTS.c.at, _EVENTS.c.key_prefix, _EVENTS.c.outcome).where(
                    _EVENTS.c.client == client,
                    _EVENTS.c.at > since,
                    _EVENTS.c.outcome.in_((LOCKED_PAIR, LOCKED_ADDRESS)),
                )
            ).all()
        locks = [
            at
            for at, locked_prefix, outcome in rows
            if outcome == LOCKED_ADDRESS or (prefix is not None and locked_prefix == prefix)
        ]
        if not locks:
            return 0
        last: datetime = max(locks)
        remaining: float = (last + self._policy.lockout - now).total_seconds()
        return max(1, math.ceil(remaining))

    def failed(
        self, prefix: str | None, client: str, outcome: str, now: datetime | None = None
    ) -> None:
        """Record a failure, and the lock-outs it completes."""
        now = now or _now()
        since = now - self._policy.window
        with write_transaction(self._engine) as conn:
            conn.execute(
                insert(_EVENTS).values(at=now, key_prefix=prefix, client=client, outcome=outcome)
            )
            same_prefix = case((_EVENTS.c.key_prefix == prefix, 1), else_=0)
            total, of_prefix = conn.execute(
                select(func.count(), func.coalesce(func.sum(same_prefix), 0)).where(
                    _EVENTS.c.client == client,
                    _EVENTS.c.at > since,
                    _EVENTS.c.outcome.in_(FAILURES),
                )
            ).one()
            if prefix is not None and of_prefix >= self._policy.failures:
                conn.execute(
                    insert(_EVENTS).values(
                        at=now, key_prefix=prefix, client=client, outcome=LOCKED_PAIR
                    )
                )
            if total >= self._policy.address_failures:
                conn.execute(
                    insert(_EVENTS).values(
                        at=now, key_prefix=None, client=client, outcome=LOCKED_ADDRESS
                    )
                )


LIFTED = "lifted"


def lift(
    engine: Engine, prefix: str | None, lockout: timedelta, now: datetime | None = None
) -> int:
    """End current lock-outs early: those of ``prefix`` (every address), or all when None.

    The rows stay, marked ``lifted``, so the audit trail still shows the lock-out happened.
    """
    now = now or _now()
    outcomes = (LOCKED_PAIR,) if prefix is not None else (LOCKED_PAIR, LOCKED_ADDRESS)
    stmt = (
        update(_EVENTS)
        .where(_EVENTS.c.outcome.in_(outcomes), _EVENTS.c.at > now - lockout)
        .values(outcome=LIFTED)
    )
    if prefix is not None:
        stmt = stmt.where(_EVENTS.c.key_prefix == prefix)
    with write_transaction(engine) as conn:
        return int(conn.execute(stmt).rowcount)
