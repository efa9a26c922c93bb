"""What every request handler shares: the engine, the key verifier and the decision service."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from creditgraph.api.errors import ApiError
from creditgraph.api.keys import KeyVerifier
from creditgraph.api.lockout import Lockout
from creditgraph.api.service import DecisionServicePort, ServiceFactory
from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.settings import Settings

if TYPE_CHECKING:
    from creditgraph.servicing.loans import LoanService

log = logging.getLogger("creditgraph.api")


@dataclass
class ApiContext:
    engine: Engine
    settings: Settings
    verifier: KeyVerifier
    service_factory: ServiceFactory
    lockout: Lockout
    pseudonyms: Pseudonymiser
    _service: DecisionServicePort | None = None
    _loans: LoanService | None = None
    _event_bus: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service(self) -> DecisionServicePort:
        """The decision service, built on first use so ``/v1/health`` works without it."""
        if self._service is None:
            with self._lock:
                if self._service is None:
                    try:
                        self._service = self.service_factory(self.engine, self.settings)
                    except ImportError as exc:
                        log.error("decision service unavailable: %s", type(exc).__name__)
                        raise ApiError(
                            503, "service_unavailable", "the decision service is not available"
                        ) from None
        return self._service

    def loans(self) -> LoanService:
        """The loan service, built on first use."""
        if self._loans is None:
            with self._lock:
                if self._loans is None:
                    from creditgraph.servicing.loans import LoanService

                    self._loans = LoanService(self.engine)
        return self._loans

    def event_bus(self) -> Any:
        """The Redis Streams bus when one is configured, else None: events then go to the
        embedded outbox inside the transaction that checked them."""
        if not self.settings.event_bus_url:
            return None
        if self._event_bus is None:
            with self._lock:
                if self._event_bus is None:
                    from creditgraph.monitoring.bus_factory import bus_for

                    self._event_bus = bus_for(self.settings, self.engine)
        return self._event_bus

    def person_pseudonym(self, external_id: str) -> str:
        """The platform's pseudonym of a lender's person id that has no stored identity."""
        from creditgraph.contracts.schema import Namespace

        return self.pseudonyms.one(Namespace.PERSON, external_id)

    def warm_up(self) -> None:
        """Load the decision service and its models before the first request, if they exist.

        A home without a champion still serves (health, keys, reads); decisions then answer 503.
        """
        try:
            service = self.service()
        except ApiError:
            return
        warm = getattr(service, "warm_up", None)
        if callable(warm):
            warm()
