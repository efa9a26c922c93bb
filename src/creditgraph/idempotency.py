"""The one idempotency rule every retried write follows (decisions, reviews, postings).

A client names a write with a key; the key is stored *in the same transaction as the business
row it produced*, under a unique constraint, with the SHA-256 of the canonical request. A retry
with the same key and the same request gets the first answer; the same key with a different
request is refused, and nothing is written. Storage belongs to each aggregate's repository; this
module holds the rule so the HTTP edge, the loan service and the decision service cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from creditgraph.canonical import sha256_of

MAX_KEY_LENGTH = 200
# Printable ASCII, no space at either end (HTTP would strip it): the API schema states the same rule.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
_KEY = re.compile(KEY_PATTERN)


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
    """``value`` when it is 1 to 200 printable ASCII characters with no space at either end."""
    if not isinstance(value, str) or len(value) > MAX_KEY_LENGTH or not _KEY.fullmatch(value):
        raise IdempotencyKeyError(
            f"idempotency key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "without surrounding spaces"
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
