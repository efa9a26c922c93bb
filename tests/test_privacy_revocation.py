"""A revocation takes effect at once: the next feature build drops the source (its whole
history), a purge of its rows is scheduled, the monitoring intake refuses its events and the
running monitor forgets what it held from it; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from sqlalchemy import select

from creditgraph.features.service import compute_features
from creditgraph.monitoring.action_policy_file import load_action_policy
from creditgraph.monitoring.config_file import load_monitoring_config
from creditgraph.monitoring.door import Door
from creditgraph.monitoring.intake import submit_events
from creditgraph.monitoring.monitor import Monitor
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.monitoring.runner import MonitorService
from creditgraph.privacy import consent
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import PrivacyJob
from tests.consent_world import ingest_world, pseudonym
from tests.monitor_world import Events

AS_OF = date(2025, 4, 15)
OWN_ROWS = ("outgoing_90d", "devices", "active_days_90d", "interactions_90d")
"""Features built from P1's own wechat rows (interactions P1 started, P1's device, activity)."""


def _row(features: pa.Table, person: str) -> dict[str, object]:
    [row] = [r for r in features.to_pylist() if r["person_id"] == person]
    return row


def test_revoking_a_source_drops_it_from_the_next_build_and_schedules_its_purge(
    tmp_path: Path, settings: Settings
) -> None:
    ingest_world(tmp_path / "world", settings)
    p1, p4 = pseudonym(settings, "P1"), pseudonym(settings, "P4")
    first = compute_features(settings, AS_OF).features
    before = _row(first, p1)
    assert all(before[name] for name in OWN_ROWS), {n: before[n] for n in OWN_ROWS}

    db = make_engine(settings.database_url)
    try:
        [receipt] = consent.revoke_active(db, p1, "wechat", "credit_assessment")
        with db.connect() as conn:
            jobs = conn.execute(select(PrivacyJob.__table__)).all()
    finally:
        db.dispose()
    assert [(j.kind, j.person_id, j.source) for j in jobs] == [("purge_source", p1, "wechat")]
    assert receipt.purge_job_id == jobs[0].id

    second = compute_features(settings, AS_OF).features
    after = _row(second, p1)
    # the whole history from that source is gone, not only what followed the revocation
    assert all(after[name] == 0 for name in OWN_ROWS), {n: after[n] for n in OWN_ROWS}
    # nobody else's own rows changed
    assert _row(second, p4)["degree"] == _row(first, p4)["degree"]


def test_the_intake_refuses_and_the_monitor_forgets_a_revoked_source(
    tmp_path: Path, settings: Settings
) -> None:
    ingest_world(tmp_path / "world", settings)
    p1 = pseudonym(settings, "P1")
    db = make_engine(settings.database_url)
    door = Door.from_settings(settings)
    events = Events("rev")
    now = datetime.now(UTC)
    try:
        service = MonitorService(
            db, OutboxBus(db), config=load_monitoring_config(), policy=load_action_policy()
        )
        fresh = Monitor(load_monitoring_config()).snapshot(p1)
        first = [events.activity("P1", now - timedelta(hours=3), "wechat", minutes=40)]
        assert submit_events(db, door, first).accepted == 1
        service.run(until_idle=True)
        assert service.monitor.snapshot(p1) != fresh

        # accepted before the revocation, still queued when it comes
        queued = [events.activity("P1", now - timedelta(hours=2), "wechat", minutes=50)]
        assert submit_events(db, door, queued).accepted == 1
        consent.revoke_active(db, p1, "wechat", "monitoring")

        late = [events.activity("P1", datetime.now(UTC), "wechat", minutes=60)]
        result = submit_events(db, door, late)
        assert result.accepted == 0 and result.refused["consent_revoked"] == 1

        service.run(until_idle=True)
        assert service.monitor.snapshot(p1) == fresh
        # a restarted monitor rebuilds the same: the source's events are not replayed
        restarted = MonitorService(
            db, OutboxBus(db), config=load_monitoring_config(), policy=load_action_policy()
        )
        restarted.start()
        assert restarted.monitor.snapshot(p1) == fresh
    finally:
        db.dispose()
