"""A caller's step inside a decision write's own transaction.

``Within`` is called after a write's business rows (record, events, review) are written, with
the answer the write returns; an exception from it rolls the whole transaction back and
propagates. The HTTP edge stores an idempotency key this way, so the key and the decision or
review step it names commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

Within = Callable[[Connection, dict[str, Any]], None]


def finish(conn: Connection, answer: dict[str, Any], within: Within | None) -> dict[str, Any]:
    """Run ``within`` (if any) on the write's connection and hand ``answer`` back."""
    if within is not None:
        within(conn, answer)
    return answer
