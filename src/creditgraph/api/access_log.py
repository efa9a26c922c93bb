"""An access log without personal data: method, route template, status, time, key and request id.

Paths are logged as their route template (``/v1/decisions/{decision_id}``) and query strings and
bodies never, so no identifier a client sent ends up in a log file.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("creditgraph.api.access")


class AccessLog:
    """Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware`` on the hot path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route: Any = scope.get("route")
            state: Any = scope.get("state") or {}
            log.info(
                "%s %s %d %.1fms key=%s request_id=%s",
                scope.get("method", "-"),
                getattr(route, "path", "-") if route is not None else "-",
                status,
                (time.perf_counter() - start) * 1000,
                state.get("key_id", "-") if isinstance(state, dict) else "-",
                state.get("request_id", "-") if isinstance(state, dict) else "-",
            )
