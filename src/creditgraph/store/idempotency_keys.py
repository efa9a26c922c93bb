"""The ``idempotency_keys`` table: the answers an API key's Idempotency-Keys stand for.

A row is written in the same transaction as the business rows it answers for (a decision, a
review request), with the answer already in it, so a key is either unused or answered: there is
no row for work still in progress. The unique constraint on (api key, idempotency key) settles
a race: the second writer's transaction fails and rolls its work back with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, insert, select

from creditgraph.store.models import IdempotencyKey, table_of

_KEYS = table_of(IdempotencyKey)
_FIND = select(
    _KEYS.c.request_method,
    _KEYS.c.request_path,
    _KEYS.c.request_sha256,
    _KEYS.c.response_status,
    _KEYS.c.response_body,
).where(
    and_(
        _KEYS.c.api_key_id == bindparam("api_key_id"),
        _KEYS.c.idempotency_key == bindparam("key"),
    )
)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What a key was first used for, and the answer given."""

    method: str
    path: str
    request_sha256: str
    status: int
    body: Any


def find(engine: Engine, api_key_id: int, key: str) -> StoredAnswer | None:
    """The answer stored under ``key`` for this API key, or None when the key is unused.

    A row without an answer (left by the claim-first scheme this one replaced) counts as unused.
    """
    with engine.connect() as conn:
        row = conn.execute(_FIND, {"api_key_id": api_key_id, "key": key}).first()
    if row is None or row.response_status is None:
        return None
    return StoredAnswer(
        row.request_method,
        row.request_path,
        row.request_sha256,
        int(row.response_status),
        row.response_body,
    )


def record(
    conn: Connection,
    api_key_id: int,
    key: str,
    method: str,
    path: str,
    request_sha256: str,
    status: int,
    body: Any,
) -> None:
    """Store ``key``'s answer inside the caller's transaction; a key already stored raises
    :class:`sqlalchemy.exc.IntegrityError` (on PostgreSQL after the first writer commits).

    A row without an answer, left behind by the claim-first scheme this one replaced, gives
    way: it never stood for a finished request.
    """
    conn.execute(
        delete(_KEYS).where(
            _KEYS.c.api_key_id == api_key_id,
            _KEYS.c.idempotency_key == key,
            _KEYS.c.response_status.is_(None),
        )
    )
    conn.execute(
        insert(_KEYS),
        {
            "api_key_id": api_key_id,
            "idempotency_key": key,
            "request_method": method,
            "request_path": path,
            "request_sha256": request_sha256,
            "response_status": status,
            "response_body": body,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
        },
    )
