"""Consents from the lender's feed: a feed never undoes or postpones a revocation, and a fed
consent passes the same text checks as one granted through the API; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from creditgraph.audit.verify import verify
from creditgraph.ingest.service import ingest
from creditgraph.privacy import consent
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from tests import world
from tests.consent_world import CONSENTS, ingest_world, pseudonym

REVOKED_AT = datetime(2025, 3, 1, 12)


def fed_date(year: int, month: int, day: int) -> datetime:
    """A date in a feed is midnight in China (UTC+8), stored as naive UTC."""
    return datetime(year, month, day) - timedelta(hours=8)


@pytest.fixture
def world_db(tmp_path: Path, settings: Settings) -> Iterator[tuple[Engine, Settings]]:
    ingest_world(tmp_path / "world", settings)
    db = make_engine(settings.database_url)
    yield db, settings
    db.dispose()


def feed(settings: Settings, directory: Path, consents: list[list[str]]) -> None:
    """The world's files again, with these consent rows."""
    files = world.write_world(directory)
    world.write_csv(directory / "consents.csv", world.CONSENT_COLUMNS, consents)
    ingest(sorted(files), settings)


def p1_credit(db: Engine, settings: Settings) -> consent.Receipt:
    [row] = consent.show(db, pseudonym(settings, "P1"), purpose="credit_assessment")
    return row


def with_p1_credit(expires: str = "", revoked: str = "") -> list[list[str]]:
    rows = [list(r) for r in CONSENTS]
    rows[0][4], rows[0][5] = expires, revoked
    return rows


def test_a_feed_row_with_a_later_expiry_keeps_a_revocation_made_through_the_api(
    world_db: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = world_db
    consent.revoke_active(
        db, pseudonym(settings, "P1"), "wechat", "credit_assessment", at=REVOKED_AT
    )

    feed(settings, tmp_path / "again", with_p1_credit(expires="2030-12-31"))

    row = p1_credit(db, settings)
    assert row.expires_at == fed_date(2030, 12, 31)  # the feed's change is taken
    assert (row.status, row.revoked_at) == ("revoked", REVOKED_AT)  # the revocation is not
    assert not [p for p in verify(db, []).problems if p.kind == "consent"]


def test_a_feed_may_bring_a_revocation_forward_but_never_move_it_later(
    world_db: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = world_db
    consent.revoke_active(
        db, pseudonym(settings, "P1"), "wechat", "credit_assessment", at=REVOKED_AT
    )

    feed(settings, tmp_path / "later", with_p1_credit(revoked="2025-09-01"))
    assert p1_credit(db, settings).revoked_at == REVOKED_AT

    feed(settings, tmp_path / "earlier", with_p1_credit(revoked="2025-01-15"))
    assert p1_credit(db, settings).revoked_at == fed_date(2025, 1, 15)
    assert not [p for p in verify(db, []).problems if p.kind == "consent"]


def test_a_feed_still_revokes_a_consent_it_granted(
    world_db: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = world_db
    feed(settings, tmp_path / "revoked", with_p1_credit(revoked="2025-05-01"))
    row = p1_credit(db, settings)
    assert (row.status, row.revoked_at) == ("revoked", fed_date(2025, 5, 1))


# -- text checks --------------------------------------------------------------------------------


def test_fed_consents_whose_text_cannot_back_them_are_quarantined_with_the_rule(
    world_db: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = world_db
    p3 = pseudonym(settings, "P3")
    bad = [
        # a version we never showed anyone
        ["P3", "douyin", "credit_assessment", "2025-08-01", "", "", "false", "1999.1"],
        # 2022.1 was retired on 2024-01-01: no new consent may rest on it
        ["P3", "weibo", "credit_assessment", "2025-08-01", "", "", "false", "2022.1"],
        # a sensitive consent under a text that does not ask for it separately
        ["P3", "weibo", "monitoring", "2025-08-01", "", "", "true", "2025.2"],
    ]
    good = ["P3", "douyin", "monitoring", "2025-08-01", "", "", "false", "2025.2"]
    directory = tmp_path / "texts"
    files = world.write_world(directory)
    consents = world.write_csv(directory / "consents.csv", world.CONSENT_COLUMNS, [*bad, good])
    report = ingest(sorted(files), settings)

    [fed] = [f for f in report.files if f.table == "consents"]
    assert (fed.quarantined, fed.accepted) == (3, 1)
    assert fed.reasons == {
        "unknown_text_version": 1,
        "text_not_in_force": 1,
        "text_not_sensitive": 1,
    }
    assert fed.quarantine_file is not None
    lines = [json.loads(line) for line in fed.quarantine_file.read_text().splitlines()]
    assert [(q["file"], q["row"]) for q in lines] == [(str(consents), n) for n in (1, 2, 3)]
    assert [(e["field"], e["rule"]) for q in lines for e in q["errors"]] == [
        ("text_version", "unknown_text_version"),
        ("text_version", "text_not_in_force"),
        ("sensitive", "text_not_sensitive"),
    ]
    stored = consent.show(db, p3)
    assert sorted((r.source, r.purpose) for r in stored) == [
        ("douyin", "monitoring"),
        ("wechat", "monitoring"),
    ]
    assert all(r.text_sha256 for r in stored)  # nothing is stored without its text's hash
