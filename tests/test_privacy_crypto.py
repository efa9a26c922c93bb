"""Encrypted personal fields: the master key, the data key per person, the sealed fields, the
contract's id number and note, and the refusal of a lost or wrong master key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from creditgraph.contracts.schema import id_number_valid
from creditgraph.features.inputs import INCOME_READER, declared_incomes
from creditgraph.ingest.service import ingest
from creditgraph.privacy.fieldcrypt import (
    FieldCryptError,
    ensure_keys,
    forget,
    read_identity,
    seal,
    unseal,
)
from creditgraph.privacy.keys import (
    FileKeyProvider,
    MasterKeyError,
    check_master_key,
    master_key_file,
    open_master_key,
)
from creditgraph.settings import Settings
from creditgraph.store.db import head_revision, make_engine, upgrade
from creditgraph.store.models import DataAccess, MasterKey, Person, PersonIdentity, PersonKey
from tests import world
from tests.identities import pseudonyms

ID_NUMBER = "11010519491231002X"  # GB 11643's own example: valid check character
NOTE = "客户说明：经营早餐店 / runs a breakfast shop"


def _persons(directory: Path, rows: list[list[str]]) -> Path:
    columns = [*world.PERSON_COLUMNS, "id_number", "note"]
    directory.mkdir(parents=True, exist_ok=True)
    return world.write_csv(directory / "persons.csv", columns, rows)


def _person(pid: str, id_number: str = "", note: str = "") -> list[str]:
    return [
        pid,
        "salaried",
        "tier1",
        "1988",
        "female",
        "clerk",
        "12000.25",
        "2025-02-01",
        "周芷若",
        "13700001111",
        id_number,
        note,
    ]


def test_a_wrapped_data_key_opens_only_for_its_own_person() -> None:
    provider = FileKeyProvider(b"k" * 32)
    wrapped = provider.wrap(b"d" * 32, "person-a")
    assert provider.unwrap(wrapped, "person-a") == b"d" * 32
    with pytest.raises(InvalidTag):
        provider.unwrap(wrapped, "person-b")
    with pytest.raises(InvalidTag):
        FileKeyProvider(b"x" * 32).unwrap(wrapped, "person-a")


def test_a_sealed_field_opens_only_as_its_own_person_and_field() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(256))
    blob = seal(aead, "pa", "name", "李娜")
    assert blob is not None and "李娜".encode() not in blob
    assert seal(aead, "pa", "name", "李娜") != blob  # a fresh nonce every time
    assert unseal(aead, "pa", "name", blob) == "李娜"
    for person, field in (("pb", "name"), ("pa", "phone")):
        with pytest.raises(FieldCryptError, match="does not open"):
            unseal(aead, person, field, blob)
    assert seal(aead, "pa", "note", None) is None


def test_ingest_stores_only_ciphertext_and_read_identity_decrypts_every_field(
    tmp_path: Path, settings: Settings
) -> None:
    files = world.write_world(tmp_path / "in")
    files = [f for f in files if f.name != "persons.csv"]
    rows = [[*r, "", ""] for r in world.PERSONS] + [_person("P9", ID_NUMBER, NOTE)]
    ingest([_persons(tmp_path / "people", rows), *files], settings)
    engine = make_engine(settings.database_url)
    try:
        person = pseudonyms(engine)["P9"]
        with engine.connect() as conn:
            found = read_identity(conn, open_master_key(engine, master_key_file(settings)), person)
            stored = conn.execute(
                select(PersonIdentity).where(PersonIdentity.person_id == person)
            ).one()
            keys = conn.execute(select(func.count()).select_from(PersonKey)).scalar_one()
        assert (found.external_id, found.name, found.phone) == ("P9", "周芷若", "13700001111")
        assert (found.id_number, found.note) == (ID_NUMBER, NOTE)
        assert found.declared_monthly_income_fen == 1_200_025
        assert keys == 5
        for value, blob in (
            ("P9", stored.external_id),
            ("周芷若", stored.name),
            ("13700001111", stored.phone),
            (ID_NUMBER, stored.id_number),
            (NOTE, stored.note),
        ):
            assert value.encode() not in blob
    finally:
        engine.dispose()


def test_an_id_number_with_a_wrong_check_character_is_quarantined_and_a_long_note_nulled(
    tmp_path: Path, settings: Settings
) -> None:
    wrong = ID_NUMBER[:-1] + "1"
    assert id_number_valid(ID_NUMBER) and not id_number_valid(wrong)
    rows = [_person("P1", wrong), _person("P2", "", "x" * 501)]
    report = ingest([_persons(tmp_path / "people", rows)], settings)
    assert report.reasons().get("id_number_checksum") == 1
    engine = make_engine(settings.database_url)
    try:
        ids = pseudonyms(engine)
        assert set(ids) == {"P2"}
        with engine.connect() as conn:
            provider = open_master_key(engine, master_key_file(settings))
            assert read_identity(conn, provider, ids["P2"]).note is None
    finally:
        engine.dispose()
    quarantined = "\n".join(p.read_text() for p in settings.quarantine_dir.rglob("*.jsonl"))
    assert wrong not in quarantined  # personal fields are redacted in the quarantine


def test_a_feature_build_decrypts_incomes_once_and_logs_one_bulk_read(
    tmp_path: Path, settings: Settings
) -> None:
    ingest(world.write_world(tmp_path / "in"), settings)
    engine = make_engine(settings.database_url)
    try:
        ids = pseudonyms(engine)
        incomes = declared_incomes(engine).to_pylist()
        by_person = {r["person_id"]: r["declared_monthly_income_fen"] for r in incomes}
        assert by_person[ids["P1"]] == 800050 and by_person[ids["P4"]] == 300010
        with engine.connect() as conn:
            logged = conn.execute(select(DataAccess)).all()
        assert [
            (r.actor, r.actor_kind, r.person_id, r.purpose, r.data_classes) for r in logged
        ] == [(INCOME_READER, "job", None, "credit_assessment", "declared_income")]
    finally:
        engine.dispose()


def test_the_first_run_makes_a_private_master_key_and_the_next_runs_reuse_it(
    tmp_path: Path, engine: Engine
) -> None:
    path = tmp_path / "secrets" / "master.key"
    provider = open_master_key(engine, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert open_master_key(engine, path).key_id == provider.key_id
    with engine.connect() as conn:
        assert conn.execute(select(MasterKey.key_id)).scalars().all() == [provider.key_id]


def _with_encrypted_data(engine: Engine, path: Path) -> None:
    provider = open_master_key(engine, path)
    with engine.begin() as conn:
        ensure_keys(conn, provider, ["someone"])
    forget("someone")


def test_a_lost_master_key_is_refused_and_never_replaced(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "keys" / "master.key"
    _with_encrypted_data(engine, path)
    path.unlink()
    with pytest.raises(MasterKeyError, match="missing") as refused:
        open_master_key(engine, path)
    assert "\n" not in str(refused.value)
    assert not path.exists()  # no new key over the encrypted data


def test_a_wrong_master_key_is_refused(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "keys" / "master.key"
    _with_encrypted_data(engine, path)
    path.write_text("ab" * 32 + "\n")
    with pytest.raises(MasterKeyError, match="not the key this database was encrypted with"):
        open_master_key(engine, path)


def test_a_master_key_open_to_others_is_refused(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "keys" / "master.key"
    open_master_key(engine, path)
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match="must not be readable by others"):
        open_master_key(engine, path)


def test_the_cli_refuses_to_start_with_a_wrong_master_key_in_one_line(
    tmp_path: Path, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.cli.main import app

    ingest(world.write_world(tmp_path / "in"), sqlite_settings)
    monkeypatch.setenv("CREDITGRAPH_HOME", str(sqlite_settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", sqlite_settings.database_url)
    key = master_key_file(sqlite_settings)
    check_master_key(sqlite_settings)  # the right key passes
    key.write_text("cd" * 32 + "\n")
    result = CliRunner().invoke(app, ["features", "get", "P1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "master key" in lines[0], result.output
    key.unlink()
    result = CliRunner().invoke(app, ["features", "get", "P1"])
    assert result.exit_code == 2 and "missing" in result.output
    assert not key.exists()


def test_migration_0019_refuses_a_database_holding_people_in_plaintext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine, "0018")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO ingest_batches (id, started_at, status, content_sha256, "
                    "contract_version, counts) VALUES ('b', '2026-01-01', 'done', 'x', '1', '{}')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO persons (person_id, segment, region_tier, birth_year, occupation, "
                    "declared_monthly_income_fen, registered_at, row_hash, batch_id, created_at, "
                    "updated_at) VALUES ('p', 's', 't', 1990, 'o', 1, '2026-01-01', 'h', 'b', "
                    "'2026-01-01', '2026-01-01')"
                )
            )
        with pytest.raises(Exception, match="holds 1 persons in plaintext"):
            upgrade(engine)
    finally:
        engine.dispose()
    raw = sqlite3.connect(tmp_path / "old.db")
    assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == ("0018",)
    raw.close()
    from creditgraph.cli.main import app

    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", url)
    people = _persons(tmp_path / "people", [_person("P1")])
    result = CliRunner().invoke(app, ["ingest", str(people)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "1 persons in plaintext" in lines[0], result.output
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert upgrade(fresh) == head_revision()
        with fresh.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Person)).scalar_one() == 0
    finally:
        fresh.dispose()


def test_the_cli_checks_and_rotates_the_master_key(
    tmp_path: Path, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.cli.main import app

    ingest(world.write_world(tmp_path / "in"), sqlite_settings)
    monkeypatch.setenv("CREDITGRAPH_HOME", str(sqlite_settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", sqlite_settings.database_url)
    before = master_key_file(sqlite_settings).read_text()
    result = CliRunner().invoke(app, ["master-key", "check"])
    assert result.exit_code == 0 and "master key OK" in result.output, result.output
    result = CliRunner().invoke(app, ["master-key", "rotate"])
    assert result.exit_code == 0 and "4 data keys re-wrapped" in result.output, result.output
    assert master_key_file(sqlite_settings).read_text() != before
    assert CliRunner().invoke(app, ["master-key", "check"]).exit_code == 0


def test_a_persons_row_hash_is_keyed_so_an_income_cannot_be_found_by_trying_values(
    tmp_path: Path, settings: Settings
) -> None:
    from creditgraph.ingest.database import row_hash

    rows = [_person("P1", ID_NUMBER, NOTE)]
    first = ingest([_persons(tmp_path / "a", rows)], settings)
    again = ingest([_persons(tmp_path / "b", rows)], settings)
    rows[0][6] = "12000.26"  # one fen more
    changed = ingest([_persons(tmp_path / "c", rows)], settings)
    assert (first.files[0].accepted, again.files[0].duplicates) == (1, 1)
    assert changed.files[0].updated == 1
    engine = make_engine(settings.database_url)
    try:
        person = pseudonyms(engine)["P1"]
        with engine.connect() as conn:
            stored = conn.execute(select(Person).where(Person.person_id == person)).one()
            provider = open_master_key(engine, master_key_file(settings))
            assert read_identity(conn, provider, person).declared_monthly_income_fen == 1_200_026
        public = {
            c: getattr(stored, c)
            for c in ("person_id", "segment", "region_tier", "birth_year", "gender")
        }
        for fen in (1_200_025, 1_200_026):
            guess = {**public, "declared_monthly_income_fen": fen, "id_number": ID_NUMBER}
            assert row_hash(guess) != stored.row_hash
    finally:
        engine.dispose()


def test_a_row_hash_is_keyed_by_a_subkey_of_the_data_key_never_the_data_key_itself(
    tmp_path: Path, engine: Engine
) -> None:
    """The data key seals the fields; the row hash's BLAKE2b key is derived from it (keyed BLAKE2b
    over its own label and personalisation), so one key is never used for two algorithms."""
    import hashlib

    from creditgraph.privacy.fieldcrypt import DIGEST_DOMAIN, digest

    provider = open_master_key(engine, tmp_path / "keys" / "master.key")
    with engine.begin() as conn:
        ensure_keys(conn, provider, ["someone"])
        wrapped = conn.execute(
            select(PersonKey.wrapped).where(PersonKey.person_id == "someone")
        ).scalar_one()
    data_key = provider.unwrap(wrapped, "someone")
    subkey = hashlib.blake2b(
        b"creditgraph/row-hash", digest_size=32, key=data_key, person=b"cg/row-hash-key"
    ).digest()
    personal = f"1200025|{ID_NUMBER}|{NOTE}"

    def blake(key: bytes) -> str:
        mac = hashlib.blake2b(personal.encode(), digest_size=16, key=key, person=DIGEST_DOMAIN)
        return mac.hexdigest()

    assert digest(provider.key_id, "someone", personal) == blake(subkey) != blake(data_key)
    forget("someone")  # after a shred the key is gone from the process: no digest is made
    with pytest.raises(FieldCryptError, match="not loaded"):
        digest(provider.key_id, "someone", personal)


def test_a_new_master_key_file_is_synced_with_its_folder_before_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation commits data wrapped under the new key right after writing it: the file's bytes
    and its name in the folder must be on disk first, or a power cut loses every key."""
    import os
    import stat

    from creditgraph.privacy.keys import create_key_file, read_key_file

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "keys" / "master.key.next"
    key = create_key_file(path)
    assert synced == ["file", "folder"]
    assert read_key_file(path) == key and path.stat().st_mode & 0o777 == 0o600
