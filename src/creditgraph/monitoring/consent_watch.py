"""Which (person, source) pairs the running monitor must stop using: their ``monitoring``
consent was revoked (and not given again).

The intake already refuses events dated after a revocation; this keeps the monitor itself from
using what it holds or still has queued from that source. Loaded in full when the monitor
starts, then kept current after every batch by reading only the consent commitments the audit
log received since (every grant and revocation commits its consent in its own transaction), so
the check costs an index range read, not a scan of every consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, select

from creditgraph.privacy.purpose import MONITORING, withdrawn_sources
from creditgraph.store.models import AuditRecord, Consent, table_of

_AUDIT = table_of(AuditRecord)
_CONSENTS = table_of(Consent)


class WithdrawnSources:
    """The withdrawn pairs, and the last consent commitment they account for."""

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self._seen = 0

    def load(self, conn: Connection) -> None:
        self._seen = int(conn.execute(select(func.max(_AUDIT.c.id))).scalar() or 0)
        self.pairs = set(withdrawn_sources(conn, MONITORING))

    def refresh(self, conn: Connection) -> bool:
        """Take in consents granted or revoked since the last look; True when a pair was newly
        withdrawn (what the monitor holds from it must go)."""
        rows = conn.execute(
            select(_AUDIT.c.id, _AUDIT.c.record_id).where(
                _AUDIT.c.id > self._seen, _AUDIT.c.kind == "consent"
            )
        ).all()
        if not rows:
            return False
        self._seen = max(self._seen, max(int(r.id) for r in rows))
        ids = sorted({int(r.record_id) for r in rows if str(r.record_id).isdigit()})
        people: set[str] = set()
        for start in range(0, len(ids), 500):
            people.update(
                conn.execute(
                    select(_CONSENTS.c.person_id).where(
                        _CONSENTS.c.id.in_(ids[start : start + 500]),
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

    def excludes(self, payload: Mapping[str, Any]) -> bool:
        """Whether an event comes from a source its person withdrew."""
        if not self.pairs:
            return False
        return (payload.get("person_id"), payload.get("source")) in self.pairs
