"""Bounded requests: body size, body time and JSON depth, checked before any route runs.

A pure ASGI middleware reads the body itself, counting bytes as they stream in, so neither a
``Content-Length`` that lies nor chunked encoding gets more than ``api_max_body_bytes`` into
memory (413), a client that trickles its body is cut off after ``api_body_timeout_seconds``
(408), and a body nested deeper than ``api_max_json_depth`` is refused (400) before a
recursive parser could overflow on it. The route then reads the buffered body as usual.

``RequestGuard`` sits outside everything: it gives each request an id and turns any exception
that escaped the app into the one error shape, logging only the exception's class and the
request id, never a traceback (tracebacks carry submitted values in their frames).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditgraph.api import request_id
from creditgraph.api.errors import ApiError, error_response

log = logging.getLogger("creditgraph.api")

# A JSON string (escapes included), in the unrolled form that never backtracks.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_OPEN = frozenset(b"[{")


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether ``raw`` nests arrays/objects deeper than ``limit``, without parsing it.

    Strings are blanked first so brackets inside them do not count; the scan is linear.
    """
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group()[0] in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class _Refused(Exception):
    def __init__(self, error: ApiError) -> None:
        super().__init__(error.code)
        self.error = error


class BodyLimit:
    """Buffer each request body within a size, time and depth budget (see module doc)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, timeout_seconds: float, max_depth: int
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except _Refused as refused:
            headers = {"Connection": "close"}
            await error_response(refused.error, headers)(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        if body and self.max_depth and json_depth_exceeds(body, self.max_depth):
            error = ApiError(
                400,
                "json_too_deep",
                f"the JSON body nests deeper than {self.max_depth} levels",
            )
            await error_response(error)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect can come

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            raise _Refused(self._too_large())
        deadline = time.monotonic() + self.timeout_seconds
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), remaining)
            except TimeoutError:
                raise _Refused(
                    ApiError(
                        408,
                        "request_timeout",
                        f"the request body did not arrive within {self.timeout_seconds:g} s",
                    )
                ) from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Refused(self._too_large())
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> ApiError:
        return ApiError(
            413, "body_too_large", f"the request body is larger than {self.max_bytes} bytes"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise _Refused(
                    ApiError(400, "bad_request", "Content-Length is not a number")
                ) from None
    return None


class RequestGuard:
    """Outermost: a request id for every request, and no exception (or traceback) escapes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id.new()
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def tagged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception as exc:
            log.error("unhandled %s request_id=%s", type(exc).__name__, rid)
            if not started:
                error = ApiError(500, "internal", f"internal error; request id {rid}")
                await error_response(error)(scope, receive, tagged)
