"""The decision service: the I/O edge around the pure ``decide``.

It reads a person's online features and consents, scores with the champion, decides, and stores
an immutable decision record with its audit event; referrals open a review request. Borrowers'
review requests (PIPL Art. 24) and officers' review steps are recorded the same way. The CLI, the
HTTP API and the demo only translate to and from these calls.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from creditgraph.decision.batch import ApplicationRow, BatchResult, RowError, read_applications
from creditgraph.decision.config import DecisionConfig
from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.decision.context import raw_context
from creditgraph.decision.engine import Application, Decision, decide
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.products import Catalogue
from creditgraph.decision.rules import Outcome, Policy
from creditgraph.features.catalogue import social_feature_names
from creditgraph.ids import time_ordered_id
from creditgraph.money import from_fen, to_fen
from creditgraph.scoring.models import LoadedModel
from creditgraph.scoring.registry import NO_SOCIAL, SOCIAL, RegistryError
from creditgraph.scoring.service import OnlineScorer
from creditgraph.settings import Settings
from creditgraph.store.db import write_transaction
from creditgraph.store.models import (
    Consent,
    DecisionEvent,
    DecisionRecord,
    OnlineFeatures,
    ReviewRequest,
    table_of,
)

CONSENT_PURPOSE = "credit_assessment"
SYSTEM_ACTOR = "decision-engine"
REVIEW_KINDS = ("referral", "borrower_request")
REVIEW_STATUSES = ("open", "taken", "approved", "declined")

# Called inside a write's transaction, after its business rows, with the answer it returns; an
# exception rolls the whole write back. The HTTP edge stores an idempotency key this way, so the
# key and the decision (or review step) it names commit together or not at all.
Within = Callable[[Connection, dict[str, Any]], None]


# Built once: constructing a statement costs more than running it on an indexed point read.
_FEATURES_OF = select(
    OnlineFeatures.person_id,
    OnlineFeatures.as_of,
    OnlineFeatures.snapshot_id,
    OnlineFeatures.values,
).where(OnlineFeatures.person_id.in_(bindparam("ids", expanding=True)))
_CONSENT = table_of(Consent).c
_CONSENTS_OF = select(
    _CONSENT.person_id,
    _CONSENT.source,
    _CONSENT.granted_at,
    _CONSENT.expires_at,
    _CONSENT.revoked_at,
).where(
    _CONSENT.purpose == bindparam("purpose"),
    _CONSENT.person_id.in_(bindparam("ids", expanding=True)),
)


class DecisionServiceError(ValueError):
    """A request the service cannot carry out; the message says what and why."""


class UnknownPersonError(DecisionServiceError):
    """No online features for the person: nothing to decide on."""


class NotFoundError(DecisionServiceError):
    """No decision or review request with that id."""


class NoModelError(DecisionServiceError):
    """No champion model is promoted: nothing can be scored."""


class ReviewStateError(DecisionServiceError):
    """A review step that does not fit the request's state (e.g. resolving it twice)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _new_id(prefix: str) -> str:
    return time_ordered_id(prefix, "_").lower()


@dataclass(frozen=True)
class ConsentState:
    valid: bool
    sources: int


@dataclass
class _Lookup:
    """What the service read for one person (features row and consents)."""

    features: dict[str, Any]
    as_of: date
    snapshot_id: str
    consent: ConsentState


@dataclass
class _Cache:
    social: frozenset[str] = field(default_factory=social_feature_names)


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
        self.scorer = OnlineScorer(engine)
        self._cache = _Cache()

    def warm_up(self) -> None:
        """Load the champions now, so the first decision does not pay for it."""
        for variant in (SOCIAL, NO_SOCIAL):
            try:
                self.scorer.model(variant)
            except RegistryError:
                continue

    # ---- reading the applicant -------------------------------------------------------------

    def _lookup_many(
        self, conn: Connection, person_ids: list[str], at: datetime
    ) -> dict[str, _Lookup]:
        """Features and consent state of each known person (unknown ones are left out)."""
        rows = conn.execute(_FEATURES_OF, {"ids": person_ids}).all()
        consents: dict[str, set[str]] = {}
        for r in conn.execute(_CONSENTS_OF, {"ids": person_ids, "purpose": CONSENT_PURPOSE}):
            if (
                r.granted_at <= at
                and (r.expires_at is None or r.expires_at > at)
                and (r.revoked_at is None or r.revoked_at > at)
            ):
                consents.setdefault(r.person_id, set()).add(r.source)
        out = {}
        for row in rows:
            sources = consents.get(row.person_id, set())
            out[row.person_id] = _Lookup(
                dict(row.values),
                row.as_of,
                row.snapshot_id,
                ConsentState(bool(sources), len(sources)),
            )
        return out

    def _lookup(self, conn: Connection, person_id: str, at: datetime) -> _Lookup:
        found = self._lookup_many(conn, [person_id], at).get(person_id)
        if found is None:
            raise UnknownPersonError(
                f"unknown person {person_id!r}: no online features (build features first)"
            )
        return found

    def _context(self, found: _Lookup) -> dict[str, Any]:
        """The applicant context of the decision core, scored with the champion.

        Without consent no social feature reaches a model: they are masked to missing, and the
        person is scored by the ``no_social`` champion, which learnt without them. A home that has
        none yet falls back to the social champion on the masked inputs (its missing bins).
        """
        values = found.features
        consent = found.consent.valid
        inputs = (
            values
            if consent
            else {k: (None if k in self._cache.social else v) for k, v in values.items()}
        )
        scored = self._model_for(consent).score_one(inputs)
        return raw_context(
            values, scored, self.policy, consent=consent, sources=found.consent.sources
        )

    def _model_for(self, consent: bool) -> LoadedModel:
        if not consent:
            try:
                return self.scorer.model(NO_SOCIAL)
            except RegistryError:
                pass
        try:
            return self.scorer.model(SOCIAL)
        except RegistryError as exc:
            raise NoModelError(f"cannot score: {exc}") from None

    # ---- deciding ---------------------------------------------------------------------------

    def _application(
        self,
        person_id: str,
        product_code: str,
        amount: Decimal | int | str,
        term: int,
        purpose: str | None,
        schedule_type: str | None,
        as_of: date,
    ) -> Application:
        product = self.products.get(product_code)
        if product is None:
            known = ", ".join(self.products.codes)
            raise DecisionInputError(
                "product_code", f"unknown product {product_code!r}; known: {known}"
            )
        try:
            value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        except ArithmeticError:
            raise DecisionInputError("amount", f"{amount!r} is not an amount") from None
        return Application(
            person_id=person_id,
            product_code=product_code,
            amount=value,
            term_months=term,
            purpose=purpose or product.purposes[0],
            schedule_type=schedule_type or product.schedule_types[0].value,
            as_of=as_of,
        )

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
    ) -> dict[str, Any]:
        """Decide one application now, store it (and a referral's review), return the record.

        ``within`` runs in the storing transaction after the record is written (see ``Within``).
        """
        at = self.clock()
        application = self._application(
            person_id, product_code, amount, term, purpose, schedule_type, at.date()
        )
        with self.engine.connect() as conn:
            found = self._lookup(conn, person_id, at)
        decision = decide(
            application, self._context(found), self.products, self.policy, self.config
        )
        with write_transaction(self.engine) as conn:
            stored = self._store(conn, application, decision, found, applicant_ref, at)
            if within is not None:
                within(conn, stored)
            return stored

    def _store(
        self,
        conn: Connection,
        application: Application,
        decision: Decision,
        found: _Lookup,
        applicant_ref: str | None,
        at: datetime,
    ) -> dict[str, Any]:
        (stored,) = self._store_many(conn, [(application, decision, found, applicant_ref)], at)
        return stored

    def _store_many(
        self,
        conn: Connection,
        items: list[tuple[Application, Decision, _Lookup, str | None]],
        at: datetime,
    ) -> list[dict[str, Any]]:
        """Insert decisions, their referral reviews and audit events: three statements."""
        records, reviews, events, out = [], [], [], []
        for application, decision, found, ref in items:
            record = _record_row(application, decision, found, ref, at)
            records.append(record)
            events.append(
                _event_row(record["id"], None, "decided", SYSTEM_ACTOR, at, record["outcome"])
            )
            opened = []
            if decision.outcome is Outcome.REFER:
                review = _review_row(record["id"], "referral", SYSTEM_ACTOR, None, at)
                reviews.append(review)
                events.append(
                    _event_row(
                        record["id"], review["id"], "review_opened:referral", SYSTEM_ACTOR, at
                    )
                )
                opened.append(_review_public(review))
            out.append(_public(record, opened))
        if records:
            conn.execute(insert(table_of(DecisionRecord)), records)
        if reviews:
            conn.execute(insert(table_of(ReviewRequest)), reviews)
        if events:
            conn.execute(insert(table_of(DecisionEvent)), events)
        return out

    def _event(
        self,
        conn: Connection,
        decision_id: str,
        review_id: str | None,
        event: str,
        actor: str,
        at: datetime,
        note: str | None = None,
    ) -> None:
        conn.execute(
            insert(table_of(DecisionEvent)),
            _event_row(decision_id, review_id, event, actor, at, note),
        )

    def _open(
        self,
        conn: Connection,
        decision_id: str,
        kind: str,
        requested_by: str,
        note: str | None,
        at: datetime,
    ) -> dict[str, Any]:
        row = _review_row(decision_id, kind, requested_by, note, at)
        conn.execute(insert(table_of(ReviewRequest)), row)
        self._event(conn, decision_id, row["id"], f"review_opened:{kind}", requested_by, at, note)
        return _review_public(row)

    # ---- reading decisions ------------------------------------------------------------------

    def get(self, decision_id: str) -> dict[str, Any]:
        """The stored decision with its review requests."""
        with self.engine.connect() as conn:
            d = table_of(DecisionRecord)
            row = conn.execute(select(d).where(d.c.id == decision_id)).mappings().first()
            if row is None:
                raise NotFoundError(f"no decision {decision_id!r}")
            r = table_of(ReviewRequest)
            reviews = conn.execute(
                select(r).where(r.c.decision_id == decision_id).order_by(r.c.created_at, r.c.id)
            ).mappings()
            return _public(dict(row), [_review_public(dict(x)) for x in reviews])

    def events(self, decision_id: str) -> list[dict[str, Any]]:
        """The audit trail of one decision, oldest first."""
        e = table_of(DecisionEvent)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e).where(e.c.decision_id == decision_id).order_by(e.c.id)
            ).mappings()
            return [{**dict(x), "at": x["at"].isoformat()} for x in rows]

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
        _actor(requested_by, "requested_by")
        at = self.clock()
        with write_transaction(self.engine) as conn:
            d = table_of(DecisionRecord).c
            if conn.execute(select(d.id).where(d.id == decision_id)).first() is None:
                raise NotFoundError(f"no decision {decision_id!r}")
            r = table_of(ReviewRequest).c
            pending = conn.execute(
                select(r.id).where(
                    r.decision_id == decision_id,
                    r.kind == "borrower_request",
                    r.status.in_(("open", "taken")),
                )
            ).first()
            if pending is not None:
                raise ReviewStateError(
                    f"decision {decision_id!r} already has a pending review request {pending.id!r}"
                )
            opened = self._open(conn, decision_id, "borrower_request", requested_by, note, at)
            if within is not None:
                within(conn, opened)
            return opened

    def review_queue(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Review requests in ``status`` (all when None), oldest first."""
        if status is not None and status not in REVIEW_STATUSES:
            raise DecisionServiceError(
                f"unknown review status {status!r}; one of {', '.join(REVIEW_STATUSES)}"
            )
        r = table_of(ReviewRequest)
        stmt = select(r).order_by(r.c.created_at, r.c.id)
        if status is not None:
            stmt = stmt.where(r.c.status == status)
        with self.engine.connect() as conn:
            return [_review_public(dict(x)) for x in conn.execute(stmt).mappings()]

    def _review(self, conn: Connection, request_id: str) -> dict[str, Any]:
        r = table_of(ReviewRequest)
        row = conn.execute(select(r).where(r.c.id == request_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no review request {request_id!r}")
        return dict(row)

    def take(self, request_id: str, officer: str) -> dict[str, Any]:
        """An officer takes an open request; a taken or resolved one cannot be taken again."""
        _actor(officer, "officer")
        at = self.clock()
        r = table_of(ReviewRequest)
        with write_transaction(self.engine) as conn:
            row = self._review(conn, request_id)
            if row["status"] != "open":
                raise ReviewStateError(
                    f"review request {request_id!r} is {row['status']}, not open"
                )
            changed = conn.execute(
                update(r)
                .where(r.c.id == request_id, r.c.status == "open")
                .values(status="taken", taken_by=officer, taken_at=at)
            ).rowcount
            if changed != 1:
                raise ReviewStateError(f"review request {request_id!r} was taken meanwhile")
            self._event(conn, row["decision_id"], request_id, "review_taken", officer, at)
            row.update(status="taken", taken_by=officer, taken_at=at)
            return _review_public(row)

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
        _actor(officer, "officer")
        if not note or not note.strip():
            raise DecisionServiceError("a review resolution needs a note saying why")
        at = self.clock()
        status = "approved" if approve else "declined"
        r = table_of(ReviewRequest)
        with write_transaction(self.engine) as conn:
            row = self._review(conn, request_id)
            if row["status"] in ("approved", "declined"):
                raise ReviewStateError(f"review request {request_id!r} is already {row['status']}")
            if row["status"] == "taken" and row["taken_by"] != officer:
                raise ReviewStateError(f"review request {request_id!r} is taken by another officer")
            values: dict[str, Any] = {
                "status": status,
                "resolved_by": officer,
                "resolved_at": at,
                "resolution_note": note,
            }
            if row["status"] == "open":
                values.update(taken_by=officer, taken_at=at)
                self._event(conn, row["decision_id"], request_id, "review_taken", officer, at)
            changed = conn.execute(
                update(r).where(r.c.id == request_id, r.c.status == row["status"]).values(values)
            ).rowcount
            if changed != 1:
                raise ReviewStateError(f"review request {request_id!r} changed meanwhile")
            self._event(conn, row["decision_id"], request_id, f"review_{status}", officer, at, note)
            row.update(values)
            resolved = _review_public(row)
            if within is not None:
                within(conn, resolved)
            return resolved

    # ---- batch ------------------------------------------------------------------------------

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
        label, rows, errors = read_applications(source, name)
        result = BatchResult(file=label, errors=list(errors))
        at = self.clock()
        items = [(n, resolve(r.person_id) if resolve else r.person_id, r) for n, r in rows]
        parts = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        done = 0
        for decided, numbers, problems in self._run_chunks(label, parts, at, compact, workers):
            result.decisions.extend(decided)
            result.row_numbers.extend(numbers)
            result.errors.extend(problems)
            done += len(numbers) + len(problems)
            if progress is not None:
                progress(done)
        result.errors.sort(key=lambda e: (e.row, e.field))
        return result

    def _run_chunks(
        self,
        label: str,
        parts: list[list[tuple[int, str, ApplicationRow]]],
        at: datetime,
        compact: bool,
        workers: int,
    ) -> Iterator[_ChunkResult]:
        if workers <= 1 or len(parts) < 2:
            for part in parts:
                yield self._decide_chunk(label, part, at, compact)
            return
        url = self.engine.url.render_as_string(hide_password=False)
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(url, self.products, self.policy, self.config),
        ) as pool:
            yield from pool.map(_worker_chunk, [(label, p, at, compact) for p in parts])

    def _decide_chunk(
        self,
        label: str,
        part: list[tuple[int, str, ApplicationRow]],
        at: datetime,
        compact: bool,
    ) -> _ChunkResult:
        """Decide and store one chunk in one transaction; bad rows become ``RowError``s."""
        with self.engine.connect() as read:
            found = self._lookup_many(read, sorted({p for _, p, _ in part}), at)
        ready: list[tuple[Application, Decision, _Lookup, str | None]] = []
        numbers: list[int] = []
        errors: list[RowError] = []
        for number, person_id, app_row in part:
            try:
                application = self._application(
                    person_id,
                    app_row.product_code,
                    app_row.amount,
                    app_row.term_months,
                    app_row.purpose,
                    app_row.schedule_type,
                    at.date(),
                )
                lookup = found.get(person_id)
                if lookup is None:
                    raise UnknownPersonError(
                        f"unknown person {app_row.person_id!r}: no online features"
                    )
                decision = decide(
                    application, self._context(lookup), self.products, self.policy, self.config
                )
            except UnknownPersonError as exc:
                errors.append(RowError(label, number, "person", "unknown_person", str(exc)))
                continue
            except DecisionInputError as exc:
                errors.append(RowError(label, number, exc.field, "invalid", str(exc)))
                continue
            ready.append((application, decision, lookup, app_row.applicant_ref))
            numbers.append(number)
        with write_transaction(self.engine) as conn:
            stored = self._store_many(conn, ready, at)
        return [summary(d) for d in stored] if compact else stored, numbers, errors


_ChunkResult = tuple[list[dict[str, Any]], list[int], list[RowError]]
_WORKER: dict[str, DecisionService] = {}


def _init_worker(url: str, products: Catalogue, policy: Policy, config: DecisionConfig) -> None:
    from creditgraph.store.db import make_engine

    _WORKER["service"] = DecisionService(
        make_engine(url), None, products=products, policy=policy, config=config
    )


def _worker_chunk(
    args: tuple[str, list[tuple[int, str, ApplicationRow]], datetime, bool],
) -> _ChunkResult:
    label, part, at, compact = args
    return _WORKER["service"]._decide_chunk(label, part, at, compact)


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored decision's summary: what a batch result file shows for it."""
    offer = record["offers"][0] if record["offers"] else {}
    return {
        "id": record["id"],
        "person_id": record["person_id"],
        "product_code": record["product_code"],
        "outcome": record["outcome"],
        "limit": record["limit"],
        "amount_offered": offer.get("amount", ""),
        "all_in_rate": offer.get("all_in_rate", ""),
        "reviews": record["reviews"],
    }


def _event_row(
    decision_id: str,
    review_id: str | None,
    event: str,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "review_id": review_id,
        "event": event,
        "actor": actor,
        "at": at,
        "note": note,
    }


def _review_row(
    decision_id: str, kind: str, requested_by: str, note: str | None, at: datetime
) -> dict[str, Any]:
    return {
        "id": _new_id("rv"),
        "decision_id": decision_id,
        "kind": kind,
        "status": "open",
        "requested_by": requested_by,
        "note": note,
        "created_at": at,
        "taken_by": None,
        "taken_at": None,
        "resolved_by": None,
        "resolved_at": None,
        "resolution_note": None,
    }


def _actor(value: str, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DecisionServiceError(f"{name} must name who acts")


def _record_row(
    application: Application,
    decision: Decision,
    found: _Lookup,
    applicant_ref: str | None,
    at: datetime,
) -> dict[str, Any]:
    data = decision.to_dict()
    return {
        "id": _new_id("dec"),
        "created_at": at,
        "as_of": application.as_of,
        "person_id": application.person_id,
        "applicant_ref": applicant_ref,
        "product_code": decision.product_code,
        "amount_fen": to_fen(application.amount),
        "term_months": application.term_months,
        "purpose": application.purpose,
        "schedule_type": str(application.schedule_type),
        "outcome": decision.outcome.value,
        "limit_fen": to_fen(decision.limit),
        "pd": decision.pd,
        "score": decision.score,
        "grade": decision.grade,
        "model_id": decision.model_version,
        "policy_version": decision.policy_version,
        "policy_hash": decision.policy_hash,
        "catalogue_version": decision.catalogue_version,
        "catalogue_hash": decision.catalogue_hash,
        "config_version": decision.config_version,
        "config_hash": decision.config_hash,
        "inputs_hash": decision.inputs_hash,
        "feature_snapshot_id": found.snapshot_id,
        "features_as_of": found.as_of,
        "inputs": data["features"],
        "fired_rules": data["fired_rules"],
        "reasons": data["reasons"],
        "offers": data["offers"],
        "limit_detail": data["limit_detail"],
        "social_data_used": decision.social_data_used,
    }


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _review_public(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("created_at", "taken_at", "resolved_at"):
        out[name] = _iso(out.get(name))
    return out


def _public(row: Mapping[str, Any], reviews: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored decision as JSON-ready data: money as yuan strings, times as ISO text."""
    return {
        "id": row["id"],
        "created_at": _iso(row["created_at"]),
        "as_of": _iso(row["as_of"]),
        "person_id": row["person_id"],
        "applicant_ref": row["applicant_ref"],
        "product_code": row["product_code"],
        "amount": str(from_fen(row["amount_fen"])),
        "term_months": row["term_months"],
        "purpose": row["purpose"],
        "schedule_type": row["schedule_type"],
        "outcome": row["outcome"],
        "limit": str(from_fen(row["limit_fen"])),
        "pd": row["pd"],
        "score": row["score"],
        "grade": row["grade"],
        "model_id": row["model_id"],
        "policy": {"version": row["policy_version"], "hash": row["policy_hash"]},
        "catalogue": {"version": row["catalogue_version"], "hash": row["catalogue_hash"]},
        "config": {"version": row["config_version"], "hash": row["config_hash"]},
        "inputs_hash": row["inputs_hash"],
        "feature_snapshot_id": row["feature_snapshot_id"],
        "features_as_of": _iso(row["features_as_of"]),
        "social_data_used": row["social_data_used"],
        "fired_rules": row["fired_rules"],
        "reasons": row["reasons"],
        "offers": row["offers"],
        "limit_detail": row["limit_detail"],
        "reviews": reviews,
    }
