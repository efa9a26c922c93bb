"""What every workspace page shares: the engine, settings, users, sessions, templates, and the
services pages read from, built on first use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from jinja2 import Environment
from sqlalchemy import Engine

from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.settings import Settings
from creditgraph.web.sessions import SessionPolicy, SessionStore
from creditgraph.web.templating import environment
from creditgraph.web.users import LockPolicy, UserStore

if TYPE_CHECKING:
    from creditgraph.servicing.loans import LoanService

log = logging.getLogger("creditgraph.web")


class AddressGuard(Protocol):
    """Failed authentications by client address (the API's lock-out, handed in by the app):
    one record of failures per address for API keys and workspace log-ins alike."""

    def client_id(self, address: str | None) -> str: ...

    def retry_after(self, prefix: str | None, client: str) -> int: ...

    def failed(self, prefix: str | None, client: str, outcome: str) -> None: ...


@dataclass
class WebContext:
    engine: Engine
    settings: Settings
    pseudonyms: Pseudonymiser
    users: UserStore
    sessions: SessionStore
    templates: Environment
    guard: AddressGuard | None = None
    loan_service: Callable[[], LoanService] | None = None
    _loans: LoanService | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        engine: Engine,
        settings: Settings,
        pseudonyms: Pseudonymiser,
        guard: AddressGuard | None = None,
        loan_service: Callable[[], LoanService] | None = None,
    ) -> WebContext:
        return cls(
            guard=guard,
            loan_service=loan_service,
            engine=engine,
            settings=settings,
            pseudonyms=pseudonyms,
            users=UserStore(
                engine, LockPolicy(settings.web_lockout_failures, settings.web_lockout_minutes)
            ),
            sessions=SessionStore(
                engine,
                SessionPolicy(
                    idle=timedelta(minutes=settings.web_session_idle_minutes),
                    absolute=timedelta(hours=settings.web_session_hours),
                ),
            ),
            templates=environment(),
        )

    def loans(self) -> LoanService:
        """The loan service: the app's own (one per process, shared with the API) when it handed
        one in, else built here on first use."""
        if self._loans is None:
            with self._lock:
                if self._loans is None:
                    if self.loan_service is not None:
                        self._loans = self.loan_service()
                    else:
                        from creditgraph.servicing.loans import LoanService

                        self._loans = LoanService(self.engine)
        return self._loans

    def warm_up(self) -> None:
        """Build the credit graph's tie index in the background, so the first applicant page
        does not pay for it (about 0.5 s at 20,000 people); a failure is the page's to report."""

        def build() -> None:
            from creditgraph.web.data.tie_index import index_for

            try:
                index_for(self.settings.lake_dir)
            except Exception as exc:  # the first request builds it again and answers properly
                log.warning("tie index warm-up failed: %s", type(exc).__name__)

        threading.Thread(target=build, name="tie-index-warm-up", daemon=True).start()

    def person_pseudonym(self, external_id: str) -> str:
        """The pseudonym of a lender's own person id, as ingest made it at the door."""
        from creditgraph.contracts.schema import Namespace

        return self.pseudonyms.one(Namespace.PERSON, external_id)
