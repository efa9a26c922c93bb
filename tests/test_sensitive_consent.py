"""Sensitive personal information (money moved between people, device links) is read only under
a separate consent to it: the purpose rule, and a scoped social read; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from creditgraph.features.catalogue import FAMILY_DECLARATIONS
from creditgraph.features.consented import SCOPED_READ, SCOPED_SENSITIVE_READ, social_rows
from creditgraph.ingest.service import ingest
from creditgraph.privacy.purpose import (
    CREDIT_ASSESSMENT,
    DataClass,
    PurposeViolation,
    require_consent,
    require_declared,
    sensitive_sources,
)
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from tests import world
from tests.consent_world import CONSENTS, pseudonym

AT = datetime(2025, 5, 1)
# P2's separate consent to sensitive information ends on 2025-04-15, when an ordinary one
# begins: the red packet and the device link P2 gave before stay in the lake, but are read
# only while a separate consent holds
P2_CONSENTS = [
    ["P2", "wechat", "credit_assessment", "2024-06-01", "2025-04-15", "", "true", "2024.1"],
    ["P2", "wechat", "credit_assessment", "2025-04-15", "", "", "false", "2024.1"],
]
CONSENTS_NOW = [r for r in CONSENTS if r[0] != "P2"] + P2_CONSENTS


@pytest.fixture
def world_db(tmp_path: Path, settings: Settings) -> Iterator[tuple[Engine, Settings]]:
    files = world.write_world(tmp_path / "world")
    world.write_csv(tmp_path / "world" / "consents.csv", world.CONSENT_COLUMNS, CONSENTS_NOW)
    ingest(sorted(files), settings)
    db = make_engine(settings.database_url)
    yield db, settings
    db.dispose()


def test_the_sensitive_classes_are_money_devices_and_income() -> None:
    assert {c for c in DataClass if c.sensitive} == {
        DataClass.TRANSFERS,
        DataClass.DEVICES,
        DataClass.INCOME,
    }
    assert FAMILY_DECLARATIONS["devices"].sensitive
    assert not SCOPED_READ.sensitive and SCOPED_SENSITIVE_READ.sensitive


def test_only_a_separate_consent_backs_a_sensitive_read(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    p1, p2 = pseudonym(settings, "P1"), pseudonym(settings, "P2")  # P2 holds an ordinary one at AT
    with db.connect() as conn:
        require_consent(conn, [p1, p2], CREDIT_ASSESSMENT, "wechat", AT)
        require_consent(conn, [p1], CREDIT_ASSESSMENT, "wechat", AT, sensitive=True)
        require_declared(conn, FAMILY_DECLARATIONS["devices"], [p1], None, AT)
        with pytest.raises(PurposeViolation) as caught:
            require_consent(conn, [p1, p2], CREDIT_ASSESSMENT, "wechat", AT, sensitive=True)
        assert caught.value.person_id == p2 and caught.value.sensitive
        assert "separate (sensitive) credit_assessment consent" in str(caught.value)
        assert "单独的敏感个人信息" in str(caught.value)
        with pytest.raises(PurposeViolation):
            require_declared(conn, FAMILY_DECLARATIONS["devices"], [p2], None, AT)
        require_declared(conn, FAMILY_DECLARATIONS["circle"], [p2], None, AT)  # not sensitive
        assert sensitive_sources(conn, CREDIT_ASSESSMENT, [p1, p2], AT) == [(p1, "wechat")]


def test_a_scoped_read_keeps_sensitive_rows_only_under_a_separate_consent(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    p1, p2 = pseudonym(settings, "P1"), pseudonym(settings, "P2")
    before = social_rows(settings.lake_dir, db, [p2], datetime(2025, 4, 1))
    assert before["interactions"]["kind"].to_pylist() == ["red_packet"]
    assert before["devices"].num_rows == 1

    mine = social_rows(settings.lake_dir, db, [p1], AT)  # P1 gave the separate consent
    assert sorted(mine["interactions"]["kind"].to_pylist()) == ["message", "transfer"]
    assert mine["devices"].num_rows == 1

    theirs = social_rows(settings.lake_dir, db, [p2], AT)  # P2's has ended
    assert theirs["interactions"].num_rows == 0  # P2's only row by then is a red packet
    assert theirs["devices"].num_rows == 0
    assert theirs["ties"].num_rows == 1  # the ordinary rows are still read
    later = social_rows(settings.lake_dir, db, [p2], datetime(2025, 9, 1))
    assert later["interactions"]["kind"].to_pylist() == ["call"]


def test_the_gate_collects_money_and_devices_only_under_a_separate_consent(
    world_db: tuple[Engine, Settings], tmp_path: Path
) -> None:
    _, settings = world_db
    folder = tmp_path / "later"
    folder.mkdir()
    interactions = world.write_csv(
        folder / "interactions.csv",
        world.INTERACTION_COLUMNS,
        [
            ["P2", "P1", "transfer", "2025-06-01 09:00", "1", "50.00"],  # ordinary consent
            ["P2", "P1", "message", "2025-06-01 09:00", "3", ""],
            ["P1", "P2", "transfer", "2025-06-01 09:00", "1", "20.00"],  # P1's is separate
        ],
    )
    devices = world.write_csv(
        folder / "devices.csv",
        world.DEVICE_COLUMNS,
        [["P2", "DEV-C", "2025-06-01", "2025-06-02", "wechat"]],
    )
    report = ingest([interactions, devices], settings)

    fed = {f.table: f for f in report.files}
    assert (fed["interactions"].accepted, fed["interactions"].quarantined) == (2, 1)
    assert (fed["devices"].accepted, fed["devices"].quarantined) == (0, 1)
    assert fed["interactions"].reasons == {"no_consent": 1}
    quarantined = fed["interactions"].quarantine_file
    assert quarantined is not None
    [line] = [json.loads(x) for x in quarantined.read_text().splitlines()]
    assert line["row"] == 1 and line["errors"][0]["rule"] == "no_consent"
    assert "separate consent to sensitive personal information" in line["errors"][0]["message"]
