"""Scheduled purges (``privacy_jobs``): what a revocation or an erasure left for the lake to do.

A revocation of a source's credit-assessment consent and an erasure take effect at once for
every read (the consent gate and the tombstone filter), but the lake's Parquet files still hold
the rows until they are rewritten. Each such obligation is written down here as a job with a
due date, so it cannot be forgotten: ``lake compact`` and ``retention run`` do the due jobs and
mark them done with what they removed.

Kinds:

- ``purge_source``: the person's rows from one source (their consent for it was revoked);
- ``purge_person``: every lake row that names the person (they were erased).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from creditgraph.store.models import PrivacyJob, table_of

PURGE_SOURCE = "purge_source"
PURGE_PERSON = "purge_person"
KINDS = (PURGE_SOURCE, PURGE_PERSON)
PURGE_WITHIN = timedelta(days=15)
"""How long a purge may wait: no longer than the 15 working days GB/T 35273-2020 (8.7) allows
for answering a subject's request."""
REASON_LENGTH = 300


class JobError(ValueError):
    """A job that cannot be scheduled as asked (unknown kind, missing field)."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    person_id: str | None
    source: str | None
    scheduled_at: datetime
    due_at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def schedule(
    conn: Connection,
    kind: str,
    person_id: str,
    reason: str,
    *,
    source: str | None = None,
    now: datetime | None = None,
    due_at: datetime | None = None,
) -> int:
    """Schedule a purge in the caller's transaction; an open job for the same thing is reused.

    Returns the job's id. ``reason`` is free text for the officer and must not hold personal
    data (a request reference, "consent revoked", "erased").
    """
    if kind not in KINDS:
        raise JobError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if not person_id:
        raise JobError("person_id: required")
    if kind == PURGE_SOURCE and not source:
        raise JobError("source: required for a purge_source job")
    if not reason or len(reason) > REASON_LENGTH:
        raise JobError(f"reason: required, at most {REASON_LENGTH} characters")
    jobs = table_of(PrivacyJob)
    same = select(jobs.c.id).where(
        jobs.c.kind == kind,
        jobs.c.person_id == person_id,
        jobs.c.done_at.is_(None),
        jobs.c.source.is_(None) if source is None else jobs.c.source == source,
    )
    existing = conn.execute(same).scalar()
    if existing is not None:
        return int(existing)
    at = now or utcnow()
    result = conn.execute(
        insert(jobs).values(
            kind=kind,
            person_id=person_id,
            source=source,
            reason=reason,
            scheduled_at=at,
            due_at=due_at or at + PURGE_WITHIN,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def schedule_person_purge(
    conn: Connection, person_id: str, reason: str, *, now: datetime | None = None
) -> int:
    """Schedule the removal of every lake row naming an erased person (called by erasure)."""
    return schedule(conn, PURGE_PERSON, person_id, reason, now=now)


def schedule_source_purge(
    conn: Connection, person_id: str, source: str, reason: str, *, now: datetime | None = None
) -> int:
    """Schedule the removal of a person's rows from a source whose consent they revoked."""
    return schedule(conn, PURGE_SOURCE, person_id, reason, source=source, now=now)


def open_jobs(conn: Connection, kinds: Iterable[str] = KINDS) -> list[Job]:
    """Every job not done yet, due or not (compaction does them all: earlier is better)."""
    jobs = table_of(PrivacyJob)
    rows = conn.execute(
        select(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.person_id,
            jobs.c.source,
            jobs.c.scheduled_at,
            jobs.c.due_at,
        )
        .where(jobs.c.done_at.is_(None), jobs.c.kind.in_(list(kinds)))
        .order_by(jobs.c.id)
    ).all()
    return [Job(int(r.id), r.kind, r.person_id, r.source, r.scheduled_at, r.due_at) for r in rows]


def mark_done(
    conn: Connection, job_ids: Iterable[int], report: dict[str, Any], now: datetime | None = None
) -> int:
    """Mark jobs done with the report of the run that satisfied them; returns how many."""
    ids = list(job_ids)
    if not ids:
        return 0
    jobs = table_of(PrivacyJob)
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(ids), jobs.c.done_at.is_(None))
        .values(done_at=now or utcnow(), report=report)
    )
    return int(result.rowcount or 0)
