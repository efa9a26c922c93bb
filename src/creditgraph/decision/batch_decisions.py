"""Deciding a file of applications: chunks of one transaction each, optionally in processes.

A row the engine cannot decide (unknown person or product, amount or term outside the product)
becomes a ``RowError`` and the rest of its chunk goes on. The pure core is CPU-bound, so
``workers`` > 1 decides chunks in that many spawned processes, each with its own engine.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from creditgraph.decision.applicant_scorer import ApplicantScorer
from creditgraph.decision.batch import ApplicationRow, BatchResult, RowError, read_applications
from creditgraph.decision.config import DecisionConfig
from creditgraph.decision.controls import active_controls, apply_control
from creditgraph.decision.engine import decide
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.intake import application_of
from creditgraph.decision.lookup import read_applicants
from creditgraph.decision.products import Catalogue
from creditgraph.decision.record_store import store_decisions
from creditgraph.decision.records import Decided, summary
from creditgraph.decision.rules import Policy
from creditgraph.decision.service_errors import UnknownPersonError
from creditgraph.store.db import write_transaction

# A chunk's numbered rows, each with the pseudonym its person column resolved to.
Part = list[tuple[int, str, ApplicationRow]]
ChunkResult = tuple[list[dict[str, Any]], list[int], list[RowError]]


@dataclass
class BatchDecider:
    """Everything one process needs to decide and store chunks of applications."""

    engine: Engine
    products: Catalogue
    policy: Policy
    config: DecisionConfig
    applicants: ApplicantScorer

    def run(
        self,
        source: Path | Iterable[Mapping[str, Any]],
        at: datetime,
        *,
        name: str | None,
        chunk: int,
        resolve: Callable[[str], str] | None,
        compact: bool,
        workers: int,
        progress: Callable[[int], None] | None,
    ) -> BatchResult:
        """Decide every good row of ``source``; report the bad ones, sorted by row and field."""
        label, rows, errors = read_applications(source, name)
        result = BatchResult(file=label, errors=list(errors))
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
        self, label: str, parts: list[Part], at: datetime, compact: bool, workers: int
    ) -> Iterator[ChunkResult]:
        if workers <= 1 or len(parts) < 2:
            for part in parts:
                yield self.decide_chunk(label, part, at, compact)
            return
        url = self.engine.url.render_as_string(hide_password=False)
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(url, self.products, self.policy, self.config),
        ) as pool:
            yield from pool.map(_worker_chunk, [(label, p, at, compact) for p in parts])

    def decide_chunk(self, label: str, part: Part, at: datetime, compact: bool) -> ChunkResult:
        """Decide and store one chunk in one transaction; bad rows become ``RowError``s."""
        with self.engine.connect() as read:
            found = read_applicants(read, sorted({p for _, p, _ in part}), at)
            controls = active_controls(read, (x.person_id for x in found.values()))
        ready: list[Decided] = []
        numbers: list[int] = []
        errors: list[RowError] = []
        for number, person_id, app_row in part:
            try:
                application = application_of(
                    self.products,
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
                context = self.applicants.context(lookup, self.policy)
                decision = apply_control(
                    decide(application, context, self.products, self.policy, self.config),
                    controls.get(lookup.person_id),
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
            stored = store_decisions(conn, ready, at)
        return [summary(d) for d in stored] if compact else stored, numbers, errors


_WORKER: dict[str, BatchDecider] = {}


def _init_worker(url: str, products: Catalogue, policy: Policy, config: DecisionConfig) -> None:
    from creditgraph.store.db import make_engine

    engine = make_engine(url)
    _WORKER["decider"] = BatchDecider(engine, products, policy, config, ApplicantScorer(engine))


def _worker_chunk(args: tuple[str, Part, datetime, bool]) -> ChunkResult:
    label, part, at, compact = args
    return _WORKER["decider"].decide_chunk(label, part, at, compact)
