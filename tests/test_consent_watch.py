"""The monitor's view of withdrawn sources catches every revocation, including one committed
after commitments that hold higher audit ids (PostgreSQL takes ids at insert, not at commit)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from creditgraph.audit import outbox as audit_log
from creditgraph.monitoring.consent_watch import WithdrawnSources
from creditgraph.privacy import consent
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import AuditRecord, Consent, table_of
from tests.consent_world import ingest_world, pseudonym

CONSENTS = table_of(Consent)
AUDIT = table_of(AuditRecord)


@pytest.fixture
def world_db(tmp_path: Path, settings: Settings) -> Iterator[tuple[Engine, Settings]]:
    ingest_world(tmp_path / "world", settings)
    db = make_engine(settings.database_url)
    yield db, settings
    db.dispose()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 9)

    def __call__(self) -> datetime:
        return self.now


def monitoring_consent(db: Engine, person_id: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(CONSENTS.c.id).where(
                    CONSENTS.c.person_id == person_id, CONSENTS.c.purpose == "monitoring"
                )
            ).scalar_one()
        )


def look(db: Engine, watch: WithdrawnSources, first: bool = False) -> bool:
    with db.connect() as conn:
        if first:
            watch.load(conn)
            return False
        return watch.refresh(conn)


def test_a_revocation_seen_in_order_is_taken_in(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    p1 = pseudonym(settings, "P1")
    watch = WithdrawnSources()
    look(db, watch, first=True)
    assert not look(db, watch)
    consent.revoke_active(db, p1, "wechat", "monitoring")
    assert look(db, watch)
    assert watch.excludes({"person_id": p1, "source": "wechat"})
    consent.grant(db, p1, "wechat", "monitoring")  # given again: the source is back
    assert not look(db, watch)
    assert not watch.excludes({"person_id": p1, "source": "wechat"})


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_revocation_committed_after_a_higher_audit_id_is_not_skipped(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    p1, p3 = pseudonym(settings, "P1"), pseudonym(settings, "P3")
    revoked = monitoring_consent(db, p1)
    clock = Clock()
    watch = WithdrawnSources(lookback=timedelta(minutes=10), clock=clock)
    look(db, watch, first=True)

    with db.begin() as late:  # one connection revokes and takes its audit id first...
        late.execute(
            update(CONSENTS)
            .where(CONSENTS.c.id == revoked)
            .values(revoked_at=datetime(2025, 12, 1))
        )
        audit_log.record_many(late, "consent", [str(revoked)])
        # ...another commits a grant under a higher id, and the monitor looks
        receipt = consent.grant(db, p3, "douyin", "monitoring")
        clock.now += timedelta(seconds=5)
        assert not look(db, watch)
    # the revocation commits now, under the lower id
    with db.connect() as conn:
        late_id, grant_id = (
            conn.execute(
                select(func.max(AUDIT.c.id)).where(
                    AUDIT.c.kind == "consent", AUDIT.c.record_id == str(record)
                )
            ).scalar_one()
            for record in (revoked, receipt.consent_id)
        )
    assert late_id < grant_id
    clock.now += timedelta(seconds=5)
    assert look(db, watch)
    assert watch.excludes({"person_id": p1, "source": "wechat"})


def test_commitments_older_than_the_lookback_are_not_read_again(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    p1, p3 = pseudonym(settings, "P1"), pseudonym(settings, "P3")
    clock = Clock()
    watch = WithdrawnSources(lookback=timedelta(minutes=10), clock=clock)
    look(db, watch, first=True)
    consent.grant(db, p3, "douyin", "monitoring")
    floor = watch._floor
    for _ in range(3):  # looks spread over more than twice the look-back
        clock.now += timedelta(minutes=11)
        consent.grant(db, p3, "douyin", "monitoring", at=None)
        look(db, watch)
    assert watch._floor > floor  # the settled range is no longer read
    assert all(i > watch._floor for i in watch._taken)
    consent.revoke_active(db, p1, "wechat", "monitoring")
    clock.now += timedelta(minutes=1)
    assert look(db, watch)


def test_a_quiet_book_stops_reading_settled_commitments(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    clock = Clock()
    watch = WithdrawnSources(lookback=timedelta(minutes=10), clock=clock)
    look(db, watch, first=True)  # the world's consents were committed a moment ago
    if db.dialect.name == "sqlite":  # ids are visible in commit order: all settled at once
        assert watch._floor > 0 and watch._taken == set()
        highest = watch._floor
    else:  # re-read until the look-back has passed
        assert watch._floor == 0 and watch._taken
        highest = max(watch._taken)
    for _ in range(3):  # no consent changes for over twice the look-back
        clock.now += timedelta(minutes=6)
        assert not look(db, watch)
    assert (watch._floor, watch._taken) == (highest, set())  # nothing is read again
    consent.revoke_active(db, pseudonym(settings, "P1"), "wechat", "monitoring")
    assert look(db, watch)
