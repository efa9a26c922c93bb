"""What every route shares: the context, the caller's key and role, the Idempotency-Key header,
the JSON body, service calls in a worker thread with their errors mapped, and what a key may see.

Route modules only declare routes; anything two of them need lives here, so a rule (who sees a
loan, which errors a client may read) is stated once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from creditgraph import idempotency
from creditgraph.api import request_id
from creditgraph.api.auth import authenticate
from creditgraph.api.context import ApiContext
from creditgraph.api.errors import ApiError, CeilingError, from_service
from creditgraph.api.keys import KeyInfo, Role
from creditgraph.api.schemas.common import parse

if TYPE_CHECKING:
    from creditgraph.servicing.intents import IntentService

log = logging.getLogger("creditgraph.api")
T = TypeVar("T")
BodyT = TypeVar("BodyT", bound=BaseModel)

BORROWER_SIDE = (Role.APPLICANT_APP, Role.OFFICER, Role.ADMIN)
LENDER_SIDE = (Role.OFFICER, Role.ADMIN)
MONEY_IN = (Role.PAYMENT_CHANNEL,)
"""Who posts repayments and prepayments: money is what a payment channel received."""
READERS = (Role.APPLICANT_APP, Role.OFFICER, Role.ANALYST, Role.ADMIN)


async def get_context(request: Request) -> ApiContext:
    """Async on purpose: a plain attribute read should not cost a trip through the threadpool."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


def caller(request: Request, ctx: ApiContext = Depends(get_context)) -> KeyInfo:
    """The calling key; a sync dependency, so argon2 runs off the event loop."""
    return authenticate(request, ctx)


def require(*roles: Role) -> Callable[..., Awaitable[KeyInfo]]:
    """A dependency that admits only keys with one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(r.value for r in roles)

    async def check(key: KeyInfo = Depends(caller)) -> KeyInfo:
        # async: a set lookup needs no worker thread (authentication itself runs in one)
        if key.role not in allowed:
            raise ApiError(403, "forbidden", f"this endpoint needs a key with role {names}")
        return key

    return check


# An HTTP header carries printable ASCII, and a proxy may strip a space at either end: the header's
# own rule, narrower than the idempotency rule a key must also keep (1 to 200 characters).
HEADER_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
_HEADER_KEY = re.compile(HEADER_KEY_PATTERN)


def check_header_key(value: str) -> str:
    """``value`` when it is 1 to 200 printable ASCII characters with no space at either end."""
    if len(value) > idempotency.MAX_KEY_LENGTH or not _HEADER_KEY.fullmatch(value):
        raise idempotency.IdempotencyKeyError(
            f"idempotency key must be 1 to {idempotency.MAX_KEY_LENGTH} printable ASCII "
            "characters without surrounding spaces"
        )
    return idempotency.check_key(value)


IDEMPOTENCY_KEY: Any = Header(
    default=None,
    alias="Idempotency-Key",
    min_length=1,
    max_length=idempotency.MAX_KEY_LENGTH,
    pattern=HEADER_KEY_PATTERN,
    description="Retry-safe key, per API key: a retry with the same key and body replays the "
    "first successful answer (with `Idempotent-Replayed: true`); the same key with another "
    "body is a 409; a failed request does not use the key up. 1 to 200 printable ASCII "
    "characters, no leading or trailing space.",
)


async def json_body(request: Request, empty: Any = None) -> Any:
    """The request's JSON; an empty body is ``empty`` when given, else a 400."""
    raw = await request.body()
    if not raw.strip():
        if empty is not None:
            return empty
        raise ApiError(400, "malformed_json", "the request needs a JSON object body")
    try:
        # orjson, not json: it refuses what JSON cannot carry (lone surrogates, NaN, invalid
        # UTF-8) instead of handing the service text that later fails to encode.
        return orjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None


async def body_of(request: Request, model: type[BodyT], empty_ok: bool = False) -> BodyT:
    """The body validated as ``model``; with ``empty_ok`` an empty body counts as ``{}``."""
    parsed: BodyT = parse(model, await json_body(request, {} if empty_ok else None))
    return parsed


def call(action: Callable[[], T]) -> T:
    """Run a service call; its known errors become client errors, the rest a bare 500."""
    try:
        return action()
    except ApiError:
        raise
    except Exception as exc:
        error = from_service(exc)
        if error is None:
            log.error("service failure: %s request_id=%s", type(exc).__name__, request_id.current())
            raise ApiError(500, "internal", "internal error; the request failed") from None
        raise error from None


def call_money(action: Callable[[], T]) -> T:
    """:func:`call` for a service call that takes money: an overpayment names the ceiling."""
    from creditgraph.servicing.ceiling import OverpaymentError

    def guarded() -> T:
        try:
            return action()
        except OverpaymentError as exc:
            raise CeilingError(str(exc), exc.ceiling) from None

    return call(guarded)


async def in_worker(action: Callable[[], T]) -> T:
    """:func:`call` in a worker thread: service calls block on the database."""
    return await run_in_threadpool(call, action)


def owns(key: KeyInfo, record: dict[str, object]) -> bool:
    """Whether ``key`` may see ``record`` (a decision or a loan): an applicant app sees only
    what it submitted."""
    if key.role is not Role.APPLICANT_APP:
        return True
    return str(record.get("applicant_ref")) == str(key.id)


def own_ref(key: KeyInfo) -> str | None:
    """The applicant reference a key is limited to (None: it sees every record)."""
    return str(key.id) if key.role is Role.APPLICANT_APP else None


def visible_decision(ctx: ApiContext, key: KeyInfo, decision_id: str) -> dict[str, Any]:
    """The decision, or 404 when it does not exist or another applicant app made it."""
    decision: dict[str, Any] = call(lambda: ctx.service().get(decision_id))
    if not owns(key, decision):
        # 404, not 403: an applicant app cannot learn which ids exist.
        raise ApiError(404, "not_found", "no such decision (or not visible to this key)")
    return decision


def visible_loan(ctx: ApiContext, key: KeyInfo, loan_id: str) -> dict[str, Any]:
    """The loan, or 404 when it does not exist or belongs to another applicant app."""
    loan: dict[str, Any] = call(lambda: ctx.loans().show(loan_id))
    if not owns(key, loan):
        raise ApiError(404, "not_found", "no such loan")
    return loan


def intents(ctx: ApiContext) -> IntentService:
    """Repayment intents over the context's loan service."""
    from creditgraph.servicing.intents import IntentService

    return IntentService(ctx.loans())


def actor(key: KeyInfo) -> str:
    """The key as a loan's or decision's audit trail records who acted."""
    return f"api-key:{key.id}"


def officer(key: KeyInfo) -> str:
    """The reviewer as the audit trail records them: the key's name and id."""
    return f"{key.name} (key {key.id})"
