"""API-key authentication and per-endpoint roles.

A key comes as ``Authorization: Bearer cg_...`` or ``X-API-Key: cg_...``. Missing, malformed,
unknown and revoked keys all get the same 401, so the answer reveals nothing about the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from creditgraph.api.context import ApiContext, get_context
from creditgraph.api.errors import ApiError
from creditgraph.api.keys import KeyInfo, Role


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""
    return request.headers.get("x-api-key")


def authenticate(request: Request, ctx: ApiContext = Depends(get_context)) -> KeyInfo:
    """The calling key; a sync dependency, so argon2 runs off the event loop."""
    token = _token(request)
    if token is None:
        raise ApiError(401, "missing_api_key", "send an API key as 'Authorization: Bearer cg_...'")
    key = ctx.verifier.verify(token) if token else None
    if key is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid or has been revoked")
    request.state.key_id = key.id
    return key


def require(*roles: Role) -> Callable[..., Awaitable[KeyInfo]]:
    """A dependency that admits only keys with one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(r.value for r in roles)

    async def check(key: KeyInfo = Depends(authenticate)) -> KeyInfo:
        # async: a set lookup needs no worker thread (authenticate itself runs in one)
        if key.role not in allowed:
            raise ApiError(403, "forbidden", f"this endpoint needs a key with role {names}")
        return key

    return check


def owns(key: KeyInfo, decision: dict[str, object]) -> bool:
    """Whether ``key`` may see ``decision``: an applicant app sees only what it submitted."""
    if key.role is not Role.APPLICANT_APP:
        return True
    return str(decision.get("applicant_ref")) == str(key.id)
