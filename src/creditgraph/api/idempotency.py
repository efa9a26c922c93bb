"""Idempotency-Key on decision and review POSTs: the HTTP side of :mod:`creditgraph.idempotency`.

The key and its answer are written by the service's own write transaction, after the business
rows (the service's ``within`` hook), so they commit together or not at all: a failed request
leaves the key unused, and nothing is ever "in progress". A stored key is read first: the same
request gets the first answer again (``Idempotent-Replayed: true``), another request a 409. Two
requests racing with one key both do the work, but only one commits: the other's insert of the
key breaks the unique constraint, which rolls its work back, and it answers with the winner's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import call, check_header_key
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse, to_json
from creditgraph.api.keys import KeyInfo
from creditgraph.api.service import Within
from creditgraph.idempotency import IdempotencyKeyError, Seen, judge, request_sha256
from creditgraph.store import idempotency_keys
from creditgraph.store.idempotency_keys import StoredAnswer

CREATED = 201
REPLAYED = {"Idempotent-Replayed": "true"}


def checked(header: str) -> str:
    """The header's key, or a 400 naming the header."""
    try:
        return check_header_key(header)
    except IdempotencyKeyError as exc:
        raise ApiError(400, "invalid_idempotency_key", str(exc), "Idempotency-Key") from None


def once(
    ctx: ApiContext,
    key: KeyInfo,
    header: str | None,
    request: Request,
    payload: Any,
    work: Callable[[Within | None], dict[str, Any]],
) -> JsonResponse:
    """Do a POST once per Idempotency-Key (blocking: run it in a worker thread).

    ``work(within)`` makes the service call, passing ``within`` on to the service's write
    transaction (None when the request has no key).
    """
    if header is None:
        return JsonResponse(call(lambda: work(None)), status_code=CREATED)
    idem_key = checked(header)
    method, path, sha256 = request.method, request.url.path, request_sha256(payload)
    stored = idempotency_keys.find(ctx.engine, key.id, idem_key)
    if stored is not None:
        return _answer(stored, method, path, sha256)

    def keep(conn: Connection, answer: dict[str, Any]) -> None:
        body = to_json(answer)
        idempotency_keys.record(conn, key.id, idem_key, method, path, sha256, CREATED, body)

    def act() -> dict[str, Any] | StoredAnswer:
        try:
            return work(keep)
        except IntegrityError:
            raced = idempotency_keys.find(ctx.engine, key.id, idem_key)
            if raced is None:
                raise  # another constraint: a fault, not a race
            return raced

    result = call(act)
    if isinstance(result, StoredAnswer):
        return _answer(result, method, path, sha256)
    return JsonResponse(result, status_code=CREATED)


def _answer(stored: StoredAnswer, method: str, path: str, sha256: str) -> JsonResponse:
    """The first answer again, or 409 when the key was used for another request."""
    same_route = (stored.method, stored.path) == (method, path)
    if same_route and judge(stored.request_sha256, sha256) is Seen.REPLAY:
        return JsonResponse(stored.body, status_code=stored.status, headers=REPLAYED)
    raise ApiError(
        409,
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request; "
        "use a new key for a new request",
        "Idempotency-Key",
    )
