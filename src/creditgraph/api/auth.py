"""API-key authentication: who is calling (the roles each route admits are in ``deps``).

A key comes as ``Authorization: Bearer cg_...`` or ``X-API-Key: cg_...``. Missing, malformed,
unknown and revoked keys all get the same 401, so the answer reveals nothing about the key;
repeated failures lock the prefix and address out (429).
"""

from __future__ import annotations

from fastapi import Request

from creditgraph.api.context import ApiContext
from creditgraph.api.errors import ApiError
from creditgraph.api.keys import KeyInfo, parse_token
from creditgraph.api.lockout import clean_prefix


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""
    return request.headers.get("x-api-key")


def authenticate(request: Request, ctx: ApiContext) -> KeyInfo:
    """The calling key. Synchronous: argon2 and the key read run in a worker thread.

    A (prefix, address) pair or an address locked out by failed attempts gets 429 before any
    argon2 work; each refused token is recorded (see ``creditgraph.api.lockout``). A token this
    process has already verified is no guess: it skips the lock-out read, which keeps that read
    off the path of every good request.
    """
    token = _token(request)
    if token is None:
        raise ApiError(401, "missing_api_key", "send an API key as 'Authorization: Bearer cg_...'")
    parsed = parse_token(token)
    prefix = clean_prefix(parsed[0]) if parsed else None
    client = ctx.lockout.client_id(request.client.host if request.client else None)

    def refuse_if_locked() -> None:
        wait = ctx.lockout.retry_after(prefix, client)
        if wait:
            raise ApiError(
                429,
                "locked_out",
                f"too many failed authentications from this address; retry after {wait} s",
                headers={"Retry-After": str(wait)},
            )

    key, outcome = ctx.verifier.check(token, before_verifying=refuse_if_locked)
    if key is None:
        ctx.lockout.failed(prefix, client, outcome)
        raise ApiError(401, "invalid_api_key", "the API key is not valid or has been revoked")
    request.state.key_id = key.id
    return key
