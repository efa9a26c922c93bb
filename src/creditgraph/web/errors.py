"""Errors a workspace page answers with an HTML page (or, for htmx, a fragment), never JSON."""

from __future__ import annotations


class WebError(Exception):
    """A refused request: ``status`` and the catalogue key of the message shown."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


class LoginRequired(Exception):
    """No live session: pages redirect to the log-in page, htmx requests get 401."""
