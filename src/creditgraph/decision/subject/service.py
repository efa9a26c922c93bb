"""The subject-request service: export, correct, erase and object, each recorded with a deadline.

Every answer is one unit of work with its request row: the export and the correction run in one
write transaction with the access they record, so the request, the access and the data change
commit together or not at all. Erasure runs ``privacy.erasure.erase`` (its own transaction) and
closes the request after it; an objection opens a human review in the decision review queue in
the same transaction as its request (PIPL Art. 24).

A request may be filed first (``receive``, e.g. from a letter) and answered later by its id;
a request answered at once is received and closed in the same step. Bad input stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from creditgraph.decision import record_store
from creditgraph.decision.review import ReviewWorkflow
from creditgraph.decision.subject import correct as correction
from creditgraph.decision.subject import export as exporter
from creditgraph.decision.subject import requests as log
from creditgraph.decision.subject.lake import social_section
from creditgraph.decision.subject.requests import Deadline, SubjectError
from creditgraph.privacy.access_log import record_access
from creditgraph.privacy.erasure import erase as erase_person
from creditgraph.privacy.fieldcrypt import read_identity
from creditgraph.privacy.keys import KeyProvider, provider_for
from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.privacy.purpose import SUBJECT_EXPORT
from creditgraph.store.db import write_transaction

PURPOSE = SUBJECT_EXPORT.purpose
EXPORT_CLASSES = ("identity", *sorted(c.value for c in SUBJECT_EXPORT.data_classes))
"""What an export reads, as the export's purpose declaration names it: everything held."""


@dataclass(frozen=True)
class Actor:
    """Who acts, as the access log names them: ``user:<name>``, ``key:<id>`` or a job, with
    its kind (user, key, job)."""

    name: str
    kind: str


class SubjectService:
    """Answers a person's requests about their data; ``person_id`` is always the pseudonym."""

    def __init__(
        self,
        engine: Engine,
        pseudonyms: Pseudonymiser,
        *,
        provider: KeyProvider | None = None,
        deadline: Deadline | None = None,
        clock: Callable[[], datetime] = log.now,
        lake_dir: Path | None = None,
        quarantine_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.lake_dir = lake_dir
        self.quarantine_dir = quarantine_dir  # where an erasure forgets quarantined records
        self.pseudonyms = pseudonyms
        self._provider = provider
        self.deadline = deadline or Deadline()
        self.clock = clock

    def provider(self) -> KeyProvider:
        if self._provider is None:
            self._provider = provider_for(self.engine)
        return self._provider

    # -- the request log --------------------------------------------------------------------

    def receive(
        self, person_id: str, kind: str, actor: Actor, detail: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """File a request to answer later; it is due ``deadline`` days from now."""
        with write_transaction(self.engine) as conn:
            log.check_kind(kind)
            log.held_person(conn, person_id)
            row = log.open_request(
                conn, person_id, kind, actor.name, self.deadline, self.clock(), detail
            )
        return log.public(row, self.clock())

    def start(self, request_id: str, actor: Actor) -> dict[str, Any]:
        """Mark a received request in progress (someone is working on it); still open, and
        still overdue after its due time."""
        with write_transaction(self.engine) as conn:
            row = log.read_request(conn, request_id)
            if row["status"] != "received":
                raise SubjectError(
                    f"request {request_id} is {row['status']}, not received / 该请求不是待处理状态",
                    "request_id",
                )
            row = log.move_request(conn, row, "in_progress", {"started_by": actor.name})
        return log.public(row, self.clock())

    def reject(self, request_id: str, reason: str, actor: Actor) -> dict[str, Any]:
        """Refuse an open request with the reason the person is told (PIPL Art. 50)."""
        if not reason or not reason.strip() or len(reason) > 300:
            raise SubjectError("a refusal needs its reason (1-300 characters)", "reason")
        with write_transaction(self.engine) as conn:
            row = log.read_request(conn, request_id)
            row = log.pending_request(conn, request_id, row["person_id"], row["kind"])
            row = log.close_request(
                conn, row, "rejected", self.clock(), {"reason": reason, "by": actor.name}
            )
        return log.public(row, self.clock())

    def requests(
        self, overdue: bool = False, status: str | None = None, person_id: str | None = None
    ) -> list[dict[str, Any]]:
        at = self.clock()
        with self.engine.connect() as conn:
            rows = log.list_requests(conn, at, overdue, status, person_id)
        return [log.public(r, at) for r in rows]

    def _request(
        self,
        conn: Connection,
        person_id: str,
        kind: str,
        actor: Actor,
        request_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if request_id is not None:
            return log.pending_request(conn, request_id, person_id, kind)
        return log.open_request(
            conn, person_id, kind, actor.name, self.deadline, self.clock(), detail
        )

    # -- answers ----------------------------------------------------------------------------

    def export(self, person_id: str, actor: Actor, request_id: str | None = None) -> dict[str, Any]:
        """Everything held about the person; the export itself is in its own access log.

        An erased person's export is refused (``ErasedSubjectError``); a filed request for it is
        closed as rejected with that reason, so the person's request still gets its answer.
        """
        # the lake first, outside the write transaction: a scan must not hold SQLite's lock
        social = None if self.lake_dir is None else social_section(self.lake_dir, person_id)
        with write_transaction(self.engine) as conn:
            erased = log.erased_at(conn, person_id)
            if erased is not None:
                if request_id is not None:
                    row = log.pending_request(conn, request_id, person_id, "export")
                    log.close_request(conn, row, "rejected", self.clock(), {"reason": "erased"})
            else:
                log.held_person(conn, person_id)
                row = self._request(conn, person_id, "export", actor, request_id)
                at = self.clock()
                record_access(
                    conn, actor.name, actor.kind, person_id, PURPOSE, EXPORT_CLASSES, "export", at
                )
                log.close_request(conn, row, "done", at, {})
                document = exporter.assemble(conn, person_id, self._identity, row["id"], at, social)
                log.close_request(conn, row, "done", at, {"sections": exporter.counts(document)})
        if erased is not None:
            with self.engine.connect() as conn:
                raise log.ErasedSubjectError(erased, log.held_until(conn, person_id))
        return document

    def _identity(self, conn: Connection, person_id: str) -> Mapping[str, Any]:
        return asdict(read_identity(conn, self.provider(), person_id))

    def correct(
        self,
        person_id: str,
        values: Mapping[str, str | None],
        actor: Actor,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Correct personal fields; the request records the field names, never the values."""
        corrected = correction.validate(values)
        fields = sorted(corrected)
        with write_transaction(self.engine) as conn:
            log.held_person(conn, person_id)
            row = self._request(conn, person_id, "correct", actor, request_id, {"fields": fields})
            at = self.clock()
            correction.apply(conn, self.provider(), self.pseudonyms, person_id, corrected, at)
            record_access(conn, actor.name, actor.kind, person_id, PURPOSE, fields, "correct", at)
            row = log.close_request(
                conn, row, "done", at, {"fields_changed": len(fields)}, {"fields": fields}
            )
        return log.public(row, self.clock())

    def erase(
        self,
        person_id: str,
        actor: Actor,
        request_id: str | None = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """Erase the person (``privacy.erasure.erase``) and close the request with its report;
        ``reference`` is the request's own (a ticket number), kept in its detail."""
        if reference is not None and not 1 <= len(reference.strip()) <= 100:
            raise SubjectError("reference must be 1-100 characters", "reference")
        detail = None if reference is None else {"reference": reference.strip()}
        with write_transaction(self.engine) as conn:
            if log.erased_at(conn, person_id) is None:
                log.held_person(conn, person_id)
            row = self._request(conn, person_id, "erase", actor, request_id, detail)
        report = erase_person(self.engine, person_id, row["id"], self.quarantine_dir)
        with write_transaction(self.engine) as conn:
            at = self.clock()
            record_access(conn, actor.name, actor.kind, person_id, PURPOSE, ["all"], "erase", at)
            result = {
                "already_erased": report.already_erased,
                "rows_deleted": {k: v for k, v in sorted(report.rows_deleted.items()) if v},
            }
            row = log.close_request(conn, row, "done", at, result)
        return log.public(row, self.clock())

    def object(
        self,
        person_id: str,
        decision_id: str,
        actor: Actor,
        note: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Object to an automated decision about the person: a human review is opened."""
        if note is not None and len(note) > 1000:
            raise SubjectError("note must be at most 1000 characters / 说明不得超过1000字", "note")
        with self.engine.connect() as conn:
            log.held_person(conn, person_id)
            decision = record_store.read_record(conn, decision_id)
        if decision is None or decision["person_id"] != person_id:
            raise SubjectError("no such decision about this person / 此人无此决策", "decision_id")
        answer: dict[str, Any] = {}

        def record(conn: Connection, review: dict[str, Any]) -> None:
            row = self._request(
                conn, person_id, "object", actor, request_id, {"decision_id": decision_id}
            )
            answer.update(
                log.close_request(
                    conn,
                    row,
                    "done",
                    self.clock(),
                    {"review_id": review["id"]},
                    {"decision_id": decision_id},
                )
            )

        reviews = ReviewWorkflow(self.engine, self.clock)
        reviews.request(decision_id, actor.name, note, kind="objection", within=record)
        return log.public(answer, self.clock())
