"""Which (person, source) pairs the running monitor must stop using: their ``monitoring``
consent was revoked (and not given again).

The intake already refuses events dated after a revocation; this keeps the monitor itself from
using what it holds or still has queued from that source. Loaded in full when the monitor
starts, then kept current after every batch by reading the consent commitments the audit log
received since (every grant and revocation commits its consent in its own transaction), so the
check costs a range read of recent audit ids, not a scan of every consent.

"Since" cannot be "above the highest id seen": on PostgreSQL an id is taken from a sequence when
the row is inserted, not when its transaction commits, so a revocation committed late can hold
a lower id than commitments already read. Each look therefore re-reads every consent commitment
above a floor and skips the ids it already took in. The floor is the highest id seen by a look
begun at least ``lookback`` before the previous look: a row under that id invisible then was
inserted before that look began, so, if no write transaction stays open longer than
``lookback``, it had committed by the previous look, which read it. At start the floor is the
highest consent commitment created ``lookback`` ago (by the writers' clock).

SQLite has one writer at a time, so there an id is visible only after every lower id has
committed: the floor is simply the highest id seen, and a look reads only what is new. (On
PostgreSQL a look re-reads the window; after a large consent ingest that is every consent of the
last ``lookback``, once per batch, until the window passes.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from creditgraph.privacy.purpose import MONITORING, withdrawn_sources
from creditgraph.store.models import AuditRecord, Consent, table_of

_AUDIT = table_of(AuditRecord)
_CONSENTS = table_of(Consent)
_CHUNK = 500

LOOKBACK = timedelta(minutes=10)
"""The longest a write transaction may stay open between committing a consent and its commit."""


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class WithdrawnSources:
    """The withdrawn pairs, and which consent commitments they account for."""

    def __init__(
        self, lookback: timedelta = LOOKBACK, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self._lookback = lookback
        self._clock = clock
        self._floor = 0
        """Every consent commitment at or below this id has been taken in."""
        self._taken: set[int] = set()
        """Ids above the floor already taken in."""
        self._looks: deque[tuple[datetime, int]] = deque()
        """When a look first saw a higher id, and that id."""
        self._previous: datetime | None = None
        """When the previous look began."""

    def load(self, conn: Connection) -> None:
        started = self._clock()
        consent = _AUDIT.c.kind == "consent"
        self._floor = int(
            conn.execute(
                select(func.max(_AUDIT.c.id)).where(
                    consent, _AUDIT.c.created_at < started - self._lookback
                )
            ).scalar()
            or 0
        )
        # ids first, pairs second: a revocation committed between the two is read again later,
        # never lost
        self._taken = {
            int(i)
            for i in conn.execute(select(_AUDIT.c.id).where(consent, _AUDIT.c.id > self._floor))
            .scalars()
            .all()
        }
        self.pairs = set(withdrawn_sources(conn, MONITORING))
        self._looks = deque([(started, max(self._taken, default=self._floor))])
        self._previous = started
        self._settle_in_commit_order(conn)

    def _settle_in_commit_order(self, conn: Connection) -> None:
        """Where ids are visible in commit order (SQLite), everything seen is settled."""
        if conn.dialect.name != "sqlite" or not self._taken:
            return
        self._floor = max(self._floor, max(self._taken))
        self._taken = set()

    def refresh(self, conn: Connection) -> bool:
        """Take in consents granted or revoked since the last look (or committed late under a
        lower id); True when a pair was newly withdrawn (what the monitor holds from it must go)."""
        started = self._clock()
        self._raise_floor()
        rows = conn.execute(
            select(_AUDIT.c.id, _AUDIT.c.record_id).where(
                _AUDIT.c.kind == "consent", _AUDIT.c.id > self._floor
            )
        ).all()
        fresh = [r for r in rows if int(r.id) not in self._taken]
        highest = max((int(r.id) for r in rows), default=0)
        if highest > self._highest():  # a look that saw nothing higher settles no sooner
            self._looks.append((started, highest))
        self._previous = started
        self._taken.update(int(r.id) for r in fresh)
        self._settle_in_commit_order(conn)
        if not fresh:
            return False
        ids = sorted({int(r.record_id) for r in fresh if str(r.record_id).isdigit()})
        people: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            people.update(
                conn.execute(
                    select(_CONSENTS.c.person_id).where(
                        _CONSENTS.c.id.in_(ids[start : start + _CHUNK]),
                        _CONSENTS.c.purpose == MONITORING,
                    )
                ).scalars()
            )
        if not people:
            return False
        now = set(withdrawn_sources(conn, MONITORING, sorted(people)))
        before = {pair for pair in self.pairs if pair[0] in people}
        self.pairs = (self.pairs - before) | now
        return bool(now - before)

    def _highest(self) -> int:
        return self._looks[-1][1] if self._looks else self._floor

    def _raise_floor(self) -> None:
        """Move the floor up to the highest id of the latest look begun ``lookback`` before the
        previous one, and forget the ids taken in at or below it."""
        if not self._looks or self._previous is None:
            return
        settled = None
        while self._looks and self._looks[0][0] <= self._previous - self._lookback:
            settled = self._looks.popleft()
        if settled is None:
            return
        self._looks.appendleft(settled)  # it stays the floor's witness until a later one settles
        if settled[1] > self._floor:
            self._floor = settled[1]
            self._taken = {i for i in self._taken if i > self._floor}

    def excludes(self, payload: Mapping[str, Any]) -> bool:
        """Whether an event comes from a source its person withdrew."""
        if not self.pairs:
            return False
        return (payload.get("person_id"), payload.get("source")) in self.pairs
