"""Idempotency-Key on POSTs, per API key: a retry gets the first answer, not a second decision.

The key is claimed (a row with no response yet) *before* the work is done, so two concurrent
requests with the same key cannot both decide; the loser gets 409 while the first is in flight.
Only successful answers are kept: after a 4xx nothing is stored and the client may retry the
same key with a corrected body. A claim left behind by a crash expires after ``STALE_AFTER``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from creditgraph.api.errors import ApiError
from creditgraph.store.db import write_transaction
from creditgraph.store.models import IdempotencyKey

MAX_KEY_LENGTH = 200
# Printable ASCII, no space at either end (HTTP would strip it): the schema states the same rule.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
_KEY = re.compile(KEY_PATTERN)
STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: Any


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def body_sha256(payload: Any) -> str:
    """Hash of the JSON body in canonical form, so whitespace and key order do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_KEY_LENGTH or not _KEY.fullmatch(value):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            "Idempotency-Key",
        )
    return value


def claim(
    engine: Engine, api_key_id: int, key: str, method: str, path: str, sha256: str
) -> Replay | None:
    """Claim ``key`` for this request; a Replay when it was already answered for the same body.

    Raises 409 when the key was used for another request or is still being processed.
    """
    for _ in range(2):
        try:
            return _claim_once(engine, api_key_id, key, method, path, sha256)
        except IntegrityError:
            continue  # a concurrent request claimed it first: look again
    raise ApiError(409, "idempotency_in_progress", "retry shortly", "Idempotency-Key")


def _claim_once(
    engine: Engine, api_key_id: int, key: str, method: str, path: str, sha256: str
) -> Replay | None:
    with write_transaction(engine) as conn, Session(bind=conn) as session:
        row = session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.api_key_id == api_key_id,
                IdempotencyKey.idempotency_key == key,
            )
        ).first()
        if row is None:
            session.add(
                IdempotencyKey(
                    api_key_id=api_key_id,
                    idempotency_key=key,
                    request_method=method,
                    request_path=path,
                    request_sha256=sha256,
                    response_status=None,
                    response_body=None,
                    created_at=_now(),
                )
            )
            session.flush()  # a race raises IntegrityError here
            return None  # committed when the transaction block ends
        if (row.request_method, row.request_path, row.request_sha256) != (method, path, sha256):
            raise ApiError(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request; "
                "use a new key for a new request",
                "Idempotency-Key",
            )
        if row.response_status is not None:
            return Replay(row.response_status, row.response_body)
        if _now() - row.created_at > STALE_AFTER:
            row.created_at = _now()  # take over a claim abandoned by a crash
            session.flush()
            return None
        raise ApiError(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            "Idempotency-Key",
        )


def complete(engine: Engine, api_key_id: int, key: str, status: int, body: Any) -> None:
    """Store the answer for later replays."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.api_key_id == api_key_id,
                IdempotencyKey.idempotency_key == key,
            )
            .values(response_status=status, response_body=body)
        )


def release(engine: Engine, api_key_id: int, key: str) -> None:
    """Drop an unanswered claim after a failure, so the client may retry with the same key."""
    with write_transaction(engine) as conn:
        conn.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.api_key_id == api_key_id,
                IdempotencyKey.idempotency_key == key,
                IdempotencyKey.response_status.is_(None),
            )
        )
