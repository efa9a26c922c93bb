"""The decision service: the I/O edge around the pure ``decide``, one facade over its parts.

It reads a person's online features and consents (``lookup``), scores with the champion
(``applicant_scorer``), decides, and stores an immutable decision record with its audit event
(``records``, ``record_store``); referrals open a review request. Borrowers' review requests
(PIPL Art. 24) and officers' review steps are recorded the same way (``review``); files of
applications are decided in chunks (``batch_decisions``). The CLI, the HTTP API and the demo
only translate to and from these calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from creditgraph.decision import record_store
from creditgraph.decision.applicant import ConsentState
from creditgraph.decision.applicant_scorer import ApplicantScorer
from creditgraph.decision.batch import BatchResult
from creditgraph.decision.batch_decisions import BatchDecider
from creditgraph.decision.config import DecisionConfig
from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.decision.controls import active_control, apply_control
from creditgraph.decision.engine import decide
from creditgraph.decision.intake import application_of
from creditgraph.decision.lookup import (
    CONSENT_PURPOSE,
    read_applicant,
    read_submitted,
)
from creditgraph.decision.products import Catalogue
from creditgraph.decision.records import SYSTEM_ACTOR, public, review_public, summary
from creditgraph.decision.review import REVIEW_KINDS, REVIEW_STATUSES, ReviewWorkflow
from creditgraph.decision.rules import Policy
from creditgraph.decision.service_errors import (
    DecisionServiceError,
    NoModelError,
    NotFoundError,
    ReviewStateError,
    UnknownPersonError,
)
from creditgraph.decision.within import Within, finish
from creditgraph.settings import Settings
from creditgraph.store.db import write_transaction

__all__ = [
    "CONSENT_PURPOSE",
    "REVIEW_KINDS",
    "REVIEW_STATUSES",
    "SYSTEM_ACTOR",
    "ConsentState",
    "DecisionService",
    "DecisionServiceError",
    "NoModelError",
    "NotFoundError",
    "ReviewStateError",
    "UnknownPersonError",
    "Within",
    "summary",
]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class DecisionService:
    """Decide, store, explain and review; one instance per process (it caches the champion)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        products: Catalogue | None = None,
        policy: Policy | None = None,
        config: DecisionConfig | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.products = products or load_catalogue()
        self.policy = policy or load_policy()
        self.config = config or load_config()
        self.clock = clock
        self.applicants = ApplicantScorer(engine)
        self.scorer = self.applicants.scorer
        self._reviews = ReviewWorkflow(engine, lambda: self.clock())

    def warm_up(self) -> None:
        """Load the champions now, so the first decision does not pay for it."""
        self.applicants.warm_up()

    # ---- deciding ---------------------------------------------------------------------------

    def decide_for(
        self,
        person_id: str,
        product_code: str,
        amount: Decimal | int | str,
        term: int,
        purpose: str | None = None,
        schedule_type: str | None = None,
        applicant_ref: str | None = None,
        *,
        within: Within | None = None,
        pseudonym_of: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """Decide one application now, store it (and a referral's review), return the record.

        ``within`` runs in the storing transaction after the record is written (see ``Within``).
        With ``pseudonym_of``, ``person_id`` is the id a client submitted — a pseudonym or the
        lender's own id — resolved in the same read as the features (``lookup.read_submitted``);
        ``pseudonym_of`` gives the platform's pseudonym of an id with no stored identity.
        """
        at = self.clock()
        application = application_of(
            self.products, person_id, product_code, amount, term, purpose, schedule_type, at.date()
        )
        with self.engine.connect() as conn:
            if pseudonym_of is None:
                found = read_applicant(conn, person_id, at)
            else:
                found = read_submitted(conn, person_id, pseudonym_of, at)
            control = active_control(conn, found.person_id)
        if found.person_id != application.person_id:
            application = dataclasses.replace(application, person_id=found.person_id)
        context = self.applicants.context(found, self.policy)
        decision = apply_control(
            decide(application, context, self.products, self.policy, self.config), control
        )
        with write_transaction(self.engine) as conn:
            (stored,) = record_store.store_decisions(
                conn, [(application, decision, found, applicant_ref)], at
            )
            return finish(conn, stored, within)

    def decide_batch(
        self,
        source: Path | Iterable[Mapping[str, Any]],
        *,
        name: str | None = None,
        chunk: int = 1000,
        resolve: Callable[[str], str] | None = None,
        compact: bool = False,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
    ) -> BatchResult:
        """Decide every good row of a CSV/Parquet file (or of given rows); report the bad ones.

        Rows are stored in transactions of ``chunk`` decisions; a row the engine cannot decide
        (unknown person or product, amount or term outside the product) becomes a ``RowError``.
        ``resolve`` maps a file's person column to a pseudonym (e.g. from the lender's own id);
        ``compact`` keeps only each decision's summary (large batches); ``workers`` > 1 decides
        chunks in that many processes (the pure core is CPU-bound).
        """
        decider = BatchDecider(
            self.engine, self.products, self.policy, self.config, self.applicants
        )
        return decider.run(
            source,
            self.clock(),
            name=name,
            chunk=chunk,
            resolve=resolve,
            compact=compact,
            workers=workers,
            progress=progress,
        )

    # ---- reading decisions ------------------------------------------------------------------

    def get(self, decision_id: str) -> dict[str, Any]:
        """The stored decision with its review requests."""
        with self.engine.connect() as conn:
            row = record_store.read_record(conn, decision_id)
            if row is None:
                raise NotFoundError(f"no decision {decision_id!r}")
            reviews = record_store.read_reviews_of(conn, decision_id)
            return public(row, [review_public(x) for x in reviews])

    def events(self, decision_id: str) -> list[dict[str, Any]]:
        """The audit trail of one decision, oldest first."""
        with self.engine.connect() as conn:
            rows = record_store.read_events_of(conn, decision_id)
        return [{**x, "at": x["at"].isoformat()} for x in rows]

    # ---- human review -----------------------------------------------------------------------

    def request_review(
        self,
        decision_id: str,
        requested_by: str,
        note: str | None = None,
        *,
        within: Within | None = None,
    ) -> dict[str, Any]:
        """A borrower's request for a person to review an automated decision (PIPL Art. 24).

        ``within`` runs in the same transaction after the request is written (see ``Within``).
        """
        return self._reviews.request(decision_id, requested_by, note, within=within)

    def review_queue(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Review requests in ``status`` (all when None), oldest first."""
        return self._reviews.queue(status)

    def take(self, request_id: str, officer: str) -> dict[str, Any]:
        """An officer takes an open request; a taken or resolved one cannot be taken again."""
        return self._reviews.take(request_id, officer)

    def resolve(
        self,
        request_id: str,
        officer: str,
        approve: bool,
        note: str | None = None,
        *,
        within: Within | None = None,
    ) -> dict[str, Any]:
        """Approve or decline after review, with a note. An open request is taken implicitly.

        The decision record itself never changes: the review's outcome lives in the request.
        ``within`` runs in the same transaction after the review is written (see ``Within``).
        """
        return self._reviews.resolve(request_id, officer, approve, note, within=within)
