"""Purpose enforcement: every feature family, detector and export declares what it reads and
why, and reading a person's data for a purpose without a valid consent fails loudly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from creditgraph.features.catalogue import FAMILY_DECLARATIONS, all_features
from creditgraph.features.consented import social_rows
from creditgraph.monitoring.detectors import Detector
from creditgraph.monitoring.purposes import DETECTOR_DECLARATIONS
from creditgraph.privacy import consent
from creditgraph.privacy.purpose import (
    CREDIT_ASSESSMENT,
    MONITORING,
    SUBJECT_REQUEST,
    DataClass,
    DeclarationError,
    PurposeViolation,
    declaration,
    declarations,
    declare,
    require_consent,
    valid_at,
)
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from tests.consent_world import ingest_world, pseudonym


@pytest.fixture
def world_db(tmp_path: Path, settings: Settings) -> Iterator[tuple[Engine, Settings]]:
    ingest_world(tmp_path / "world", settings)
    db = make_engine(settings.database_url)
    yield db, settings
    db.dispose()


# -- declarations ---------------------------------------------------------------------------------


def test_every_feature_family_declares_credit_assessment() -> None:
    families = {f.family for f in all_features()}
    missing = sorted(families - set(FAMILY_DECLARATIONS))
    assert not missing, f"feature families without a purpose declaration: {missing}"
    for family in families:
        found = declaration("feature_family", family)
        assert found is not None and found.purpose == CREDIT_ASSESSMENT
        assert found.data_classes and found.reads


def test_every_detector_declares_monitoring() -> None:
    missing = sorted(d.value for d in Detector if d not in DETECTOR_DECLARATIONS)
    assert not missing, f"detectors without a purpose declaration: {missing}"
    for detector in Detector:
        found = declaration("detector", detector.value)
        assert found is not None and found.purpose == MONITORING


def test_the_subject_export_is_declared_on_the_request_not_a_consent() -> None:
    found = declaration("export", "subject_export")
    assert found is not None and found.purpose == SUBJECT_REQUEST
    assert not found.needs_consent
    assert [d.name for d in declarations("export")] == ["subject_export"]


def test_sensitive_readers_are_known() -> None:
    devices = declaration("feature_family", "devices")
    assert devices is not None and devices.sensitive and devices.social
    multi = declaration("feature_family", "multi-lending")
    assert multi is not None and not multi.sensitive and not multi.social


def test_a_declaration_needs_a_known_purpose_and_cannot_change() -> None:
    with pytest.raises(DeclarationError, match="purpose must be one of"):
        declare("job", "marketing-list", "marketing", [DataClass.PROFILE], ["db:persons"])
    with pytest.raises(DeclarationError, match="declared twice"):
        declare("feature_family", "behaviour", MONITORING, [DataClass.PROFILE], ["db:persons"])


# -- the rule ------------------------------------------------------------------------------------


def test_a_consent_covers_from_its_grant_until_expiry_or_revocation() -> None:
    granted, ends = datetime(2025, 1, 1), datetime(2025, 6, 1)
    assert valid_at(granted, None, None, granted)
    assert not valid_at(granted, None, None, datetime(2024, 12, 31))
    assert not valid_at(granted, ends, None, ends)
    assert not valid_at(granted, None, ends, ends)
    assert valid_at(granted, ends, ends, datetime(2025, 5, 31))


def test_reading_without_a_valid_consent_fails_loudly(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    p1, p2, p3, p4 = (pseudonym(settings, p) for p in ("P1", "P2", "P3", "P4"))
    at = datetime(2025, 3, 1)
    with db.connect() as conn:
        require_consent(conn, [p1, p2], CREDIT_ASSESSMENT, "wechat", at)
        require_consent(conn, [p4], CREDIT_ASSESSMENT, None, at)
        require_consent(conn, [p1, p3], MONITORING, "wechat", at)
        with pytest.raises(PurposeViolation) as caught:
            require_consent(conn, [p1, p3], CREDIT_ASSESSMENT, "wechat", at)
        assert caught.value.person_id == p3 and caught.value.purpose == CREDIT_ASSESSMENT
        assert p3 in str(caught.value) and "credit_assessment" in str(caught.value)
        with pytest.raises(PurposeViolation):  # P2 revoked on 2025-06-01
            require_consent(conn, [p2], CREDIT_ASSESSMENT, "wechat", datetime(2025, 7, 1))
        with pytest.raises(PurposeViolation):  # P4's consent expired on 2025-12-31
            require_consent(conn, [p4], CREDIT_ASSESSMENT, "weibo", datetime(2026, 1, 5))
        with pytest.raises(PurposeViolation):  # P4 consented for weibo, not wechat
            require_consent(conn, [p4], CREDIT_ASSESSMENT, "wechat", at)
        with pytest.raises(PurposeViolation):  # nobody of that id holds anything
            require_consent(conn, ["no-such-person"], CREDIT_ASSESSMENT, None, at)
        with pytest.raises(DeclarationError):  # a request is not a consent purpose
            require_consent(conn, [p1], SUBJECT_REQUEST, None, at)


def test_a_scoped_social_read_needs_each_persons_consent(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    p1, p3 = pseudonym(settings, "P1"), pseudonym(settings, "P3")
    at = datetime(2025, 4, 1)
    rows = social_rows(settings.lake_dir, db, [p1], at)
    assert rows["ties"].num_rows == 2  # P1 -> P2 and P1 -> a contact outside the book
    assert rows["interactions"].num_rows == 2
    assert rows["devices"].num_rows == 1 and rows["activity_daily"].num_rows == 2
    with pytest.raises(PurposeViolation) as caught:
        social_rows(settings.lake_dir, db, [p1, p3], at)
    assert caught.value.person_id == p3
    # a revocation withdraws the whole source at once, history included
    consent.revoke_active(db, p1, "wechat", CREDIT_ASSESSMENT)
    with pytest.raises(PurposeViolation):
        social_rows(settings.lake_dir, db, [p1], datetime.utcnow())
    earlier = social_rows(settings.lake_dir, db, [p1], at)
    assert all(table.num_rows == 0 for table in earlier.values())


def test_the_monitoring_intake_applies_the_same_rule() -> None:
    from datetime import UTC, timedelta

    from creditgraph.monitoring.intake import _Grant, consent_refusal
    from creditgraph.monitoring.validate import validate_batch
    from tests.monitor_world import Events

    granted, ends = datetime(2026, 1, 10), datetime(2026, 3, 1)
    grants = {
        "open": (granted, None, None),
        "expiring": (granted, ends, None),
        "revoked": (granted, None, ends),
    }
    events = Events("rule")
    instants = [granted - timedelta(seconds=1), granted, ends - timedelta(seconds=1), ends]
    batch = [events.activity("p", at.replace(tzinfo=UTC), "wechat") for at in instants]
    checked = validate_batch(batch, datetime(2026, 6, 1, tzinfo=UTC))
    assert len(checked.events) == len(instants)
    for name, (g, x, r) in grants.items():
        for at, event in zip(instants, checked.events, strict=True):
            admitted = consent_refusal(event, [_Grant("wechat", g, x, r)]) is None
            assert admitted == valid_at(g, x, r, at), (name, at)
