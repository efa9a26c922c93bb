"""The consent lifecycle: versioned texts, grant, revoke, show, receipts, and bad input that
stores nothing; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from creditgraph.canonical import sha256_of
from creditgraph.privacy import consent
from creditgraph.privacy.consent import (
    ConsentError,
    ConsentNotFoundError,
    ConsentStateError,
    UnknownPersonError,
)
from creditgraph.privacy.consent_texts import consent_texts, parse_consent_texts, text_sha256
from creditgraph.privacy.erasure import erase
from creditgraph.settings import Settings
from creditgraph.simulate.vocab import CONSENT_TEXT_VERSIONS
from creditgraph.store.db import make_engine
from creditgraph.store.models import AuditRecord, Consent, PrivacyJob
from tests.conftest import REPO_ROOT
from tests.consent_world import ingest_world, pseudonym


@pytest.fixture
def world_db(tmp_path: Path, settings: Settings) -> Iterator[tuple[Engine, Settings]]:
    ingest_world(tmp_path / "world", settings)
    db = make_engine(settings.database_url)
    yield db, settings
    db.dispose()


def counts(db: Engine) -> tuple[int, int, int]:
    """Consents, audit commitments and privacy jobs: what a refused request must not change."""
    with db.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (Consent, AuditRecord, PrivacyJob)
        )


# -- texts -----------------------------------------------------------------------------------------


def test_every_version_the_simulator_emits_has_a_text_for_every_purpose() -> None:
    texts = consent_texts()
    for _, version in CONSENT_TEXT_VERSIONS:
        for purpose in ("credit_assessment", "monitoring", "sharing"):
            text = texts.get(version, purpose)
            assert text is not None, (version, purpose)
            assert text.zh and text.en
        # the simulator marks credit-assessment consents of some sources sensitive
        assert texts.get(version, "credit_assessment").sensitive  # type: ignore[union-attr]


def test_a_text_hash_is_the_sha256_of_the_canonical_zh_and_en_text() -> None:
    text = consent_texts().get("2025.2", "monitoring")
    assert text is not None
    assert text.sha256 == sha256_of({"en": text.en, "zh": text.zh})
    assert text_sha256(" " + text.zh + "\n", text.en) == text.sha256  # layout does not count
    assert text_sha256(text.zh, text.en + " changed") != text.sha256


def test_the_texts_ship_as_package_data() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["creditgraph"]
    assert "privacy/*.toml" in data


def test_a_text_configuration_missing_english_is_refused() -> None:
    broken = {
        "version": [
            {
                "id": "x",
                "valid_from": datetime(2020, 1, 1),
                "purpose": {"monitoring": {"zh": "同意"}},
            }
        ]
    }
    with pytest.raises(ValueError, match="needs a Chinese"):
        parse_consent_texts(broken)


def test_the_purge_delay_is_configuration() -> None:
    assert consent_texts().purge_after == timedelta(days=15)


# -- ingest ---------------------------------------------------------------------------------------


def test_ingested_consents_carry_their_text_hash(world_db: tuple[Engine, Settings]) -> None:
    db, _ = world_db
    with db.connect() as conn:
        rows = conn.execute(
            select(Consent.purpose, Consent.text_version, Consent.text_sha256, Consent.recorded_via)
        ).all()
    assert len(rows) == 5
    for purpose, version, sha, via in rows:
        assert sha == consent_texts().sha256(version, purpose)
        assert via == "ingest"


# -- grant, revoke, show --------------------------------------------------------------------------


def test_a_grant_returns_a_receipt_whose_commitment_the_audit_log_holds(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    person = pseudonym(settings, "P3")
    receipt = consent.grant(db, person, "wechat", "credit_assessment", sensitive=True, via="cli")
    text = consent_texts().current("credit_assessment", receipt.granted_at)
    assert text is not None and text.version == "2025.2"
    assert receipt.person_id == person
    assert (receipt.source, receipt.purpose, receipt.status) == (
        "wechat",
        "credit_assessment",
        "active",
    )
    assert receipt.text_version == "2025.2" and receipt.text_sha256 == text.sha256
    assert receipt.sensitive and receipt.recorded_via == "cli"
    with db.connect() as conn:
        stored = conn.execute(
            select(AuditRecord.commitment).where(
                AuditRecord.kind == "consent", AuditRecord.record_id == str(receipt.consent_id)
            )
        ).scalar_one()
    assert bytes(stored).hex() == receipt.audit_commitment
    assert [r.consent_id for r in consent.show(db, person, purpose="credit_assessment")] == [
        receipt.consent_id
    ]


def test_a_revocation_is_committed_and_schedules_the_purge_of_the_source(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    person = pseudonym(settings, "P1")
    [receipt] = consent.revoke_active(db, person, "wechat", "credit_assessment")
    assert receipt.status == "revoked" and receipt.revoked_at is not None
    assert receipt.purge_job_id is not None
    with db.connect() as conn:
        job = conn.execute(select(PrivacyJob.__table__)).one()
        commitments = conn.execute(
            select(func.count()).where(
                AuditRecord.kind == "consent", AuditRecord.record_id == str(receipt.consent_id)
            )
        ).scalar_one()
    assert (job.kind, job.person_id, job.source) == ("purge_source", person, "wechat")
    assert job.due_at - job.scheduled_at == timedelta(days=15)
    assert "P1" not in job.reason
    assert commitments == 2  # the grant at ingest, and the revocation


def test_revoking_monitoring_schedules_no_purge(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    [receipt] = consent.revoke_active(db, pseudonym(settings, "P1"), "wechat", "monitoring")
    assert receipt.purge_job_id is None


def test_show_lists_the_persons_consents_oldest_first(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    shown = consent.show(db, pseudonym(settings, "P2"))
    assert [(r.purpose, r.status) for r in shown] == [("credit_assessment", "revoked")]
    shown = consent.show(db, pseudonym(settings, "P4"), source="weibo")
    assert [r.status for r in shown] == ["expired"]


# -- bad input: a clear error, nothing stored ---------------------------------------------------------


def test_bad_grants_are_refused_and_store_nothing(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    p1 = pseudonym(settings, "P1")
    before = counts(db)
    now = datetime.utcnow()
    cases: list[tuple[dict[str, object], str, type[Exception]]] = [
        ({"person_id": pseudonym(settings, "P-nobody")}, "person_id", UnknownPersonError),
        ({"purpose": "marketing"}, "purpose", ConsentError),
        ({"text_version": "1999.9"}, "text_version", ConsentError),
        # retired: 2022.1 gave way to 2024.1 on 2024-01-01
        ({"text_version": "2022.1"}, "text_version", ConsentError),
        ({"expires_at": now - timedelta(days=1)}, "expires_at", ConsentError),
        ({"at": now + timedelta(days=1)}, "granted_at", ConsentError),
        ({"purpose": "monitoring", "sensitive": True}, "sensitive", ConsentError),
        ({"source": "We Chat!"}, "source", ConsentError),
    ]
    for change, field, error in cases:
        args: dict[str, object] = {
            "person_id": p1,
            "source": "douyin",
            "purpose": "credit_assessment",
            **change,
        }
        with pytest.raises(error) as caught:
            consent.grant(db, **args)  # type: ignore[arg-type]
        assert caught.value.field == field, change  # type: ignore[attr-defined]
        assert " / " in str(caught.value)  # English, then Chinese
        assert p1 not in str(caught.value)
    assert counts(db) == before


def test_an_old_text_version_is_accepted_for_a_grant_dated_while_it_was_in_force(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    receipt = consent.grant(
        db,
        pseudonym(settings, "P3"),
        "douyin",
        "sharing",
        text_version="2022.1",
        at=datetime(2023, 5, 1),
    )
    assert receipt.text_version == "2022.1"


def test_bad_revocations_are_refused_and_store_nothing(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    p1, p2, p4 = (pseudonym(settings, p) for p in ("P1", "P2", "P4"))
    before = counts(db)
    with pytest.raises(ConsentError, match="earlier than the grant") as early:
        consent.revoke_active(db, p1, "wechat", "credit_assessment", at=datetime(2024, 1, 1))
    assert early.value.field == "revoked_at"
    with pytest.raises(ConsentStateError):  # already revoked
        consent.revoke_active(db, p2, "wechat", "credit_assessment")
    with pytest.raises(ConsentStateError):  # expired on 2025-12-31
        consent.revoke_active(db, p4, "weibo", "credit_assessment")
    with pytest.raises(ConsentStateError):  # never given
        consent.revoke_active(db, p1, "douyin", "credit_assessment")
    with pytest.raises(ConsentNotFoundError):
        consent.revoke(db, 999_999)
    [row] = consent.show(db, p2)
    with pytest.raises(ConsentStateError):
        consent.revoke(db, row.consent_id)
    with pytest.raises(ConsentError, match="purpose"):
        consent.revoke_active(db, p1, "wechat", "advertising")
    assert counts(db) == before


def test_an_erased_person_is_unknown_to_consent(world_db: tuple[Engine, Settings]) -> None:
    db, settings = world_db
    p1 = pseudonym(settings, "P1")
    erase(db, p1)
    with pytest.raises(UnknownPersonError):
        consent.grant(db, p1, "wechat", "monitoring")
    with pytest.raises(UnknownPersonError):
        consent.show(db, p1)


def test_a_renewal_keeps_the_source_so_revoking_the_old_consent_purges_nothing(
    world_db: tuple[Engine, Settings],
) -> None:
    db, settings = world_db
    p1 = pseudonym(settings, "P1")
    [old] = consent.show(db, p1, purpose="credit_assessment")
    renewed = consent.grant(db, p1, "wechat", "credit_assessment")
    revoked = consent.revoke(db, old.consent_id)
    assert revoked.purge_job_id is None
    assert consent.show(db, p1, purpose="credit_assessment")[-1].consent_id == renewed.consent_id


# -- the command line -------------------------------------------------------------------------------


def test_the_cli_grants_shows_and_revokes_by_the_lenders_own_id(
    world_db: tuple[Engine, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from creditgraph.cli.main import app
    from creditgraph.settings import get_settings

    _, settings = world_db
    monkeypatch.setenv("CREDITGRAPH_HOME", str(settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    person = ["--person", "P3", "--source", "douyin", "--purpose", "credit_assessment"]
    granted = runner.invoke(app, ["consent", "grant", *person, "--sensitive", "--json"])
    assert granted.exit_code == 0, granted.output
    [receipt] = json.loads(granted.output[granted.output.index("[") :])
    assert receipt["person_id"] == pseudonym(settings, "P3")
    assert receipt["recorded_via"] == "cli" and receipt["sensitive"] is True
    assert "P3" not in granted.output.replace(receipt["person_id"], "")

    shown = runner.invoke(app, ["consent", "show", "--person", "P3", "--source", "douyin"])
    assert shown.exit_code == 0 and "active" in shown.output

    revoked = runner.invoke(app, ["consent", "revoke", *person])
    assert revoked.exit_code == 0, revoked.output
    assert "purge of this source's social rows scheduled" in revoked.output

    again = runner.invoke(app, ["consent", "revoke", *person])
    assert again.exit_code == 1
    assert again.output.count("\n") == 1 and again.output.startswith("error: no active")

    early = runner.invoke(app, ["consent", "grant", *person, "--expires", "2020-01-01"])
    assert early.exit_code == 1 and "expires_at must be after granted_at" in early.output
    bad_time = runner.invoke(app, ["consent", "grant", *person, "--at", "yesterday"])
    assert bad_time.exit_code == 1 and "--at: not an ISO 8601" in bad_time.output
    unknown = runner.invoke(app, ["consent", "show", "--person", "P-404"])
    assert unknown.exit_code == 1 and "no person with this id" in unknown.output
    get_settings.cache_clear()


def test_the_log_vouches_for_the_text_hash_of_consents_granted_and_revoked(
    world_db: tuple[Engine, Settings],
) -> None:
    from sqlalchemy import update

    from creditgraph.audit.verify import verify

    db, settings = world_db
    p3 = pseudonym(settings, "P3")
    receipt = consent.grant(db, p3, "douyin", "monitoring")
    consent.revoke(db, receipt.consent_id)
    assert not [p for p in verify(db, []).problems if p.kind == "consent"]
    with db.begin() as conn:  # the stored hash swapped for another text's
        conn.execute(
            update(Consent)
            .where(Consent.id == receipt.consent_id)
            .values(text_sha256=consent_texts().sha256("2024.1", "monitoring"))
        )
    named = [p for p in verify(db, []).problems if p.kind == "consent"]
    assert [p.record_id for p in named] == [str(receipt.consent_id)]


def test_sending_the_granted_row_again_does_not_undo_a_revocation(
    world_db: tuple[Engine, Settings], tmp_path: Path
) -> None:
    db, settings = world_db
    p1 = pseudonym(settings, "P1")
    consent.revoke_active(db, p1, "wechat", "credit_assessment")
    ingest_world(tmp_path / "again", settings)  # the lender's feed sends the same rows again
    [row] = consent.show(db, p1, purpose="credit_assessment")
    assert row.status == "revoked"
