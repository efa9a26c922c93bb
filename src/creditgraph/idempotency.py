"""The one idempotency rule every retried write follows (decisions, reviews, postings).

A client names a write with a key; the key is stored *in the same transaction as the business
row it produced*, under a unique constraint, with the SHA-256 of the canonical request. A retry
with the same key and the same request gets the first answer; the same key with a different
request is refused, and nothing is written. Storage belongs to each aggregate's repository; this
module holds the rule so the HTTP edge, the loan service and the decision service cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from creditgraph.canonical import sha256_of

MAX_KEY_LENGTH = 200


class IdempotencyKeyError(ValueError):
    """The key breaks the rule (length or characters)."""


class IdempotencyConflictError(ValueError):
    """The key was already used for a different request; nothing was written."""


class Seen(StrEnum):
    """What a stored key means for the request that arrives with it."""

    NEW = "new"
    REPLAY = "replay"
    CONFLICT = "conflict"


def check_key(value: str) -> str:
    """``value`` when it is 1 to 200 characters with no whitespace at either end.

    Any characters: a payment file's keys may be in any script. Narrower rules belong to the
    carrier (an HTTP header is printable ASCII, see :mod:`creditgraph.api.deps`).
    """
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_KEY_LENGTH
        or value != value.strip()
    ):
        raise IdempotencyKeyError(
            f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters without surrounding spaces"
        )
    return value


def request_sha256(body: Mapping[str, Any]) -> str:
    """What a key vouches for: the SHA-256 of the request's canonical JSON, so key order,
    whitespace and number spelling (Decimal strings) do not matter."""
    return sha256_of(body)


def judge(stored_sha256: str | None, sha256: str) -> Seen:
    """What to do with a request whose key was stored with ``stored_sha256`` (None: not stored)."""
    if stored_sha256 is None:
        return Seen.NEW
    return Seen.REPLAY if stored_sha256 == sha256 else Seen.CONFLICT


def judge_stored(stored_sha256: str | None, sha256: str) -> Seen:
    """What to do with a request whose key is already stored with ``stored_sha256``: the same
    request is replayed; any other is a conflict, including under a key stored without a hash
    (a posting the service made itself vouches for no client request)."""
    if stored_sha256 is not None and stored_sha256 == sha256:
        return Seen.REPLAY
    return Seen.CONFLICT
