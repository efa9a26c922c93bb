"""What the API needs from the decision service; the real one lives in ``creditgraph.decision``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from creditgraph.settings import Settings

Within = Callable[[Connection, dict[str, Any]], None]
"""Called inside the service's write transaction with the answer it is about to return, after
the business rows are written; an exception from it rolls the whole write back. The HTTP edge
stores an Idempotency-Key's answer this way."""


class DecisionServicePort(Protocol):
    """The service methods the HTTP layer calls (tests pass a fake with the same methods)."""

    def decide_for(
        self,
        person_id: str,
        product_code: str,
        amount: Decimal,
        term: int,
        purpose: str,
        schedule_type: str | None = None,
        applicant_ref: str | None = None,
        *,
        within: Within | None = None,
        pseudonym_of: Callable[[str], str] | None = None,
    ) -> dict[str, Any]: ...

    def get(self, decision_id: str) -> dict[str, Any]: ...

    def request_review(
        self,
        decision_id: str,
        requested_by: str,
        note: str | None = None,
        *,
        within: Within | None = None,
    ) -> dict[str, Any]: ...

    def review_queue(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Review requests in ``status``, all of them when None."""
        ...

    def take(self, request_id: str, officer: str) -> dict[str, Any]: ...

    def resolve(
        self,
        request_id: str,
        officer: str,
        approve: bool,
        note: str | None = None,
        *,
        within: Within | None = None,
    ) -> dict[str, Any]: ...


ServiceFactory = Callable[[Engine, Settings], DecisionServicePort]


def default_service_factory(engine: Engine, settings: Settings) -> DecisionServicePort:
    """The decision service of ``creditgraph.decision.service``, imported only when first used."""
    from creditgraph.decision.service import DecisionService  # type: ignore[import-not-found,unused-ignore]

    service: DecisionServicePort = DecisionService(engine, settings)
    return service
