"""A short random id per request, so a log line and a client's report can be matched.

It is ours, never the client's (a client-chosen id could carry personal data into the logs).
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar

_CURRENT: ContextVar[str] = ContextVar("creditgraph_request_id", default="-")


def new() -> str:
    """A fresh id, made current for the task (and the worker threads it hands work to)."""
    value = secrets.token_hex(8)
    _CURRENT.set(value)
    return value


def current() -> str:
    """The id of the request being served, or ``-`` outside a request."""
    return _CURRENT.get()
