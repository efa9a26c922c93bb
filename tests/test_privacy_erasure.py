"""Erasure: the data key destroyed, the rows deleted, loans kept under a legal hold, and nothing
that identifies the person left in the database's bytes (file and WAL), the lake or a backup."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, LargeBinary, insert, inspect, select, text, update

from creditgraph.ingest.service import ingest
from creditgraph.privacy.erasure import HOLD_BASIS, HOLD_CLASS, checkpoint, erase
from creditgraph.privacy.fieldcrypt import FieldCryptError, read_identity
from creditgraph.privacy.keys import master_key_file, open_master_key
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import (
    Base,
    JournalLine,
    LegalHold,
    Loan,
    PersonIdentity,
    PersonKey,
    table_of,
)
from tests import world
from tests.audit_records import write_all_in
from tests.identities import pseudonyms

EXTERNAL = "LENDER-ERASE-000042"
NAME = "周芷若"
PHONE = "13700001111"
ID_NUMBER = "11010519491231002X"
SECRETS = (EXTERNAL, NAME, PHONE, ID_NUMBER)


def _ingest_with_the_person(tmp_path: Path, settings: Settings) -> str:
    files = [f for f in world.write_world(tmp_path / "in") if f.name != "persons.csv"]
    columns = [*world.PERSON_COLUMNS, "id_number", "note"]
    rows = [[*r, "", ""] for r in world.PERSONS]
    rows.append(
        [
            EXTERNAL,
            "salaried",
            "tier1",
            "1988",
            "female",
            "clerk",
            "12000",
            "2025-02-01",
            NAME,
            PHONE,
            ID_NUMBER,
            f"{NAME} 的备注",
        ]
    )
    (tmp_path / "people").mkdir()
    people = world.write_csv(tmp_path / "people" / "persons.csv", columns, rows)
    ingest([people, *files], settings)
    return pseudonyms(settings.database_url)[EXTERNAL]


def _found(data: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in data]


def test_after_erasure_no_file_holds_the_persons_identifiers_not_even_an_earlier_backup(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    person = _ingest_with_the_person(tmp_path, sqlite_settings)
    database = Path(str(make_engine(sqlite_settings.database_url).url.database))
    backup = tmp_path / "backup.db"
    with sqlite3.connect(database) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)  # taken BEFORE the erasure
    engine = make_engine(sqlite_settings.database_url)
    try:
        provider = open_master_key(engine, master_key_file(sqlite_settings))
        with engine.connect() as conn:
            assert read_identity(conn, provider, person).id_number == ID_NUMBER
        report = erase(engine, person, "DSR-7")
        assert report.rows_deleted["person_keys"] == 1
        assert report.rows_deleted["person_identities"] == 1
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA secure_delete")).scalar_one() == 1
            with pytest.raises(FieldCryptError, match="no data key"):
                read_identity(conn, provider, person)
    finally:
        engine.dispose()
    files = [database, database.with_name(database.name + "-wal"), backup]
    files += sorted(sqlite_settings.lake_dir.rglob("*.parquet"))
    assert len(files) > 3
    for path in files:
        if path.exists():
            assert _found(path.read_bytes()) == [], path


def test_on_every_database_no_row_holds_the_person_after_erasure(
    tmp_path: Path, settings: Settings
) -> None:
    person = _ingest_with_the_person(tmp_path, settings)
    engine = make_engine(settings.database_url)
    try:
        erase(engine, person)
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    values = [v for v in row if not isinstance(v, bytes)]
                    assert _found(repr(values).encode()) == [], table.name
                    for blob in (v for v in row if isinstance(v, bytes)):
                        assert _found(blob) == [], table.name
            for model in (PersonKey, PersonIdentity):
                t = table_of(model)
                assert conn.execute(select(t).where(t.c.person_id == person)).first() is None
    finally:
        engine.dispose()


def test_a_borrowers_loans_and_journal_stay_under_a_legal_hold_of_five_years(
    engine: Engine,
) -> None:
    ids = write_all_in(engine, "borrower-1")
    report = erase(engine, "borrower-1", "DSR-8")
    today = datetime.now(UTC).date()
    assert report.held_until == today.replace(year=today.year + 5)
    with engine.connect() as conn:
        hold = conn.execute(select(LegalHold)).one()
        assert (hold.person_id, hold.data_class, hold.basis) == (
            "borrower-1",
            HOLD_CLASS,
            HOLD_BASIS,
        )
        assert "会计" in hold.reason and "accounting" in hold.reason
        assert hold.held_until == report.held_until and hold.released_at is None
        loan = conn.execute(select(Loan).where(Loan.id == ids.get("loan", "L1"))).one()
        assert loan.person_id == "borrower-1"
        assert conn.execute(select(JournalLine).where(JournalLine.loan_id == loan.id)).all()


def test_a_closed_loan_is_held_five_years_from_its_closing(engine: Engine) -> None:
    write_all_in(engine, "borrower-2")
    with engine.begin() as conn:
        conn.execute(update(Loan).values(state="closed", closed_on=date(2024, 2, 29)))
    assert erase(engine, "borrower-2").held_until == date(2029, 2, 28)


def test_a_person_without_loans_gets_no_hold(tmp_path: Path, settings: Settings) -> None:
    person = _ingest_with_the_person(tmp_path, settings)
    engine = make_engine(settings.database_url)
    try:
        assert erase(engine, person).held_until is None
        with engine.connect() as conn:
            assert conn.execute(select(LegalHold)).first() is None
    finally:
        engine.dispose()


def test_every_table_an_erasure_deletes_from_is_read_by_an_index_on_the_person(
    engine: Engine,
) -> None:
    """A point read per table keeps an erasure fast on a large book (no table scan)."""
    from creditgraph.privacy.erasure import MONITORING_TABLES
    from creditgraph.store.models import (
        Consent,
        DecisionRecord,
        ExternalLoan,
        LoanOutcome,
        OnlineFeatures,
        Person,
        Score,
    )

    inspector = inspect(engine)
    for model in (
        PersonKey,
        OnlineFeatures,
        ExternalLoan,
        LoanOutcome,
        Consent,
        PersonIdentity,
        Person,
        Loan,
        Score,
        DecisionRecord,
        *MONITORING_TABLES,
    ):
        name = table_of(model).name
        leading = [i["column_names"][0] for i in inspector.get_indexes(name)]
        leading += [u["column_names"][0] for u in inspector.get_unique_constraints(name)]
        leading += inspector.get_pk_constraint(name)["constrained_columns"][:1]
        assert "person_id" in leading, name


def test_the_wal_is_emptied_after_an_erasure(tmp_path: Path, sqlite_settings: Settings) -> None:
    person = _ingest_with_the_person(tmp_path, sqlite_settings)
    engine = make_engine(sqlite_settings.database_url)
    try:
        erase(engine, person)
        checkpoint(engine)
        wal = Path(str(engine.url.database) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    finally:
        engine.dispose()


def test_identity_columns_hold_binary_ciphertext_only() -> None:
    identity = table_of(PersonIdentity)
    for column in ("external_id", "name", "phone", "id_number", "note"):
        assert isinstance(identity.c[column].type, LargeBinary), column


def test_others_events_that_name_the_person_are_deleted_by_an_index_read(engine: Engine) -> None:
    from creditgraph.store.event_outbox import publish_in_transaction
    from creditgraph.store.models import EventOutbox

    def event(n: int, person: str, other: str | None) -> dict[str, object]:
        found: dict[str, object] = {
            "event_id": f"e{n}",
            "person_id": person,
            "occurred_at": "2026-11-30T00:00:00Z",
            "type": "tie_added" if other else "activity",
        }
        if other:
            found["other_person_id"] = other
        return found

    with engine.begin() as conn:
        publish_in_transaction(
            conn,
            [
                event(1, "pa", "pb"),
                event(2, "pa", None),
                event(3, "pb", None),
                event(4, "pc", "pa"),
            ],
        )
    erase(engine, "pb")
    with engine.connect() as conn:
        left = conn.execute(select(EventOutbox.event_id).order_by(EventOutbox.event_id))
        assert left.scalars().all() == ["e2", "e4"]
        if engine.dialect.name == "sqlite":
            plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN DELETE FROM event_outbox WHERE "
                    "json_extract(payload, '$.other_person_id') = 'x'"
                )
            ).all()
            assert "ix_event_outbox_other_person" in repr(plan)


def test_dead_letters_that_name_the_person_are_deleted_like_outbox_events(engine: Engine) -> None:
    """A dead letter is an event kept for a replay: one naming the person would put them back."""
    from creditgraph.store.models import EventDeadLetter

    with engine.begin() as conn:
        for n, (person, other) in enumerate([("pa", "pb"), ("pb", None), ("pc", "pa")]):
            payload = {"event_id": f"d{n}", "person_id": person, "type": "tie_added"}
            if other:
                payload["other_person_id"] = other
            conn.execute(
                insert(table_of(EventDeadLetter)).values(
                    group="monitor",
                    delivery_id=f"d{n}",
                    event_id=f"d{n}",
                    person_id=person,
                    payload=payload,
                    reason="handler failed",
                    dead_at=datetime(2026, 11, 30),
                )
            )
    report = erase(engine, "pb")
    assert report.rows_deleted["event_dead_letters"] == 2
    with engine.connect() as conn:
        left = conn.execute(select(EventDeadLetter.event_id)).scalars().all()
    assert left == ["d2"]


def test_after_a_key_rotation_a_backup_taken_before_the_erasure_is_unreadable_for_good(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    """Shredding deletes the live key; the backup still holds it wrapped under the master key in
    force. Rotating the master key re-wraps everyone else's key and destroys the old one."""
    from cryptography.exceptions import InvalidTag

    from creditgraph.privacy.keys import FileKeyProvider, MasterKeyError, read_key_file
    from creditgraph.privacy.rotation import rotate_master_key

    person = _ingest_with_the_person(tmp_path, sqlite_settings)
    engine = make_engine(sqlite_settings.database_url)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(str(engine.url.database)) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    path = master_key_file(sqlite_settings)
    old = open_master_key(engine, path)
    saved = make_engine(f"sqlite:///{backup}")
    try:
        erase(engine, person)
        with saved.connect() as conn:  # the limit: the old key still opens the backup
            assert read_identity(conn, old, person).name == NAME
        rotation = rotate_master_key(engine, path)
        assert rotation.rewrapped == len(world.PERSONS) and rotation.old_key_id == old.key_id
        new_key = read_key_file(path)
        assert new_key is not None and not next_key(path).exists()
        new = FileKeyProvider(new_key)
        assert new.key_id == rotation.new_key_id != old.key_id
        ids = pseudonyms(engine)
        with engine.connect() as conn:
            assert read_identity(conn, new, ids["P1"]).name == "李娜"
        with pytest.raises(MasterKeyError, match="not the key this database"):
            open_master_key(saved, path)
        with saved.connect() as conn:
            wrapped = conn.execute(
                select(PersonKey.wrapped).where(PersonKey.person_id == person)
            ).scalar_one()
        with pytest.raises(InvalidTag):
            new.unwrap(wrapped, person)
    finally:
        saved.dispose()
        engine.dispose()


def next_key(path: Path) -> Path:
    from creditgraph.privacy.keys import next_key_file

    return next_key_file(path)


def test_a_rotation_cut_short_after_its_commit_is_finished_at_the_next_open(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.privacy import rotation

    path = tmp_path / "keys" / "master.key"
    old = open_master_key(engine, path)

    def crash(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(rotation.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        rotation.rotate_master_key(engine, path)
    monkeypatch.undo()
    assert next_key(path).exists()
    reopened = open_master_key(engine, path)
    assert reopened.key_id != old.key_id and not next_key(path).exists()


# --- rotation beside other processes -------------------------------------------------------------


_OPEN_KEY = """
import sys
from pathlib import Path
from creditgraph.privacy.keys import open_master_key
from creditgraph.store.db import make_engine
engine = make_engine(sys.argv[1])
print(open_master_key(engine, Path(sys.argv[2])).key_id)
engine.dispose()
"""


def test_a_process_opening_the_key_during_a_rotation_keeps_the_new_key(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (a feature build, the API starting) opens the key while a rotation is
    wrapping under the new one: it gets the old key, which is still the database's, and leaves
    ``master.key.next`` alone, so the rotation's commit and rename end under the new key."""
    import subprocess
    import sys

    from creditgraph.privacy import rotation
    from creditgraph.privacy.fieldcrypt import ensure_keys
    from creditgraph.privacy.keys import FileKeyProvider, read_key_file

    path = tmp_path / "keys" / "master.key"
    old = open_master_key(engine, path)
    with engine.begin() as conn:
        ensure_keys(conn, old, ["a" * 32, "b" * 32])
    url = engine.url.render_as_string(hide_password=False)
    opened: list[str] = []
    real_wrap = FileKeyProvider.wrap

    def wrap(self: FileKeyProvider, data_key: bytes, person_id: str) -> bytes:
        if self.key_id != old.key_id and not opened:
            done = subprocess.run(
                [sys.executable, "-c", _OPEN_KEY, url, str(path)],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            opened.append(done.stdout.strip())
            assert next_key(path).exists()
        return real_wrap(self, data_key, person_id)

    monkeypatch.setattr(FileKeyProvider, "wrap", wrap)
    done = rotation.rotate_master_key(engine, path)
    monkeypatch.undo()
    assert opened == [old.key_id]  # the other process opened the key in force, the old one
    key = read_key_file(path)
    assert key is not None and FileKeyProvider(key).key_id == done.new_key_id
    assert not next_key(path).exists()
    fresh = make_engine(url)
    try:
        assert open_master_key(fresh, path).key_id == done.new_key_id
    finally:
        fresh.dispose()


def test_a_data_key_written_while_a_rotation_waits_is_rewrapped_not_lost(
    tmp_path: Path, engine: Engine
) -> None:
    """A writer that does not take the key file's lock stores a data key under the old master
    key in an open transaction; the rotation (its own engine, another thread) waits for it and
    re-wraps that key too, since it replaces the master key's row before reading the keys."""
    import threading

    from creditgraph.privacy.fieldcrypt import ensure_keys, forget, key_of
    from creditgraph.privacy.rotation import rotate_master_key

    path = tmp_path / "keys" / "master.key"
    old = open_master_key(engine, path)
    with engine.begin() as conn:
        ensure_keys(conn, old, ["early"])
    stored = threading.Event()
    release = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with engine.begin() as conn:
                ensure_keys(conn, old, ["late"])
                stored.set()
                release.wait(30)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
            stored.set()

    other = make_engine(engine.url.render_as_string(hide_password=False))
    results: list[object] = []
    thread = threading.Thread(target=writer)
    thread.start()
    assert stored.wait(30) and not failures
    rotor = threading.Thread(target=lambda: results.append(rotate_master_key(other, path)))
    rotor.start()
    rotor.join(0.5)
    assert rotor.is_alive()  # waiting for the writer's transaction
    release.set()
    thread.join(30)
    rotor.join(60)
    other.dispose()
    assert not failures and len(results) == 1
    new = open_master_key(engine, path)
    assert new.key_id != old.key_id
    for person in ("early", "late"):
        forget(person)
        with engine.connect() as conn:
            key_of(conn, new, person)  # opens under the new master key


def test_keys_made_under_a_rotated_master_key_are_refused_and_nothing_is_stored(
    tmp_path: Path, engine: Engine
) -> None:
    from creditgraph.privacy.fieldcrypt import ensure_keys
    from creditgraph.privacy.keys import MasterKeyError
    from creditgraph.privacy.rotation import rotate_master_key

    path = tmp_path / "keys" / "master.key"
    stale = open_master_key(engine, path)  # opened at a writer's start
    with engine.begin() as conn:
        ensure_keys(conn, stale, ["first"])
    rotate_master_key(engine, path)
    with (
        pytest.raises(MasterKeyError, match="rotated after this run opened it"),
        engine.begin() as conn,
    ):
        ensure_keys(conn, stale, ["second"])
    with engine.connect() as conn:
        people = conn.execute(select(PersonKey.person_id)).scalars().all()
    assert people == ["first"]


def test_a_rotation_is_refused_while_an_ingest_holds_the_key(
    tmp_path: Path, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest (a real process, paused after recording its batch) shares the key file's lock:
    a rotation is refused in one line until it has ended, then runs."""
    from typer.testing import CliRunner

    from creditgraph.cli.main import app
    from creditgraph.privacy.keys import MasterKeyBusy
    from creditgraph.privacy.rotation import rotate_master_key
    from tests.test_ingest_crash import kill_at, sigkill

    ingest(world.write_world(tmp_path / "in"), sqlite_settings)
    path = master_key_file(sqlite_settings)
    before = path.read_text()
    paused = kill_at("batch_started", world.write_world(tmp_path / "again"), sqlite_settings)
    engine = make_engine(sqlite_settings.database_url)
    try:
        with pytest.raises(MasterKeyBusy, match="rotation or an ingest is running"):
            rotate_master_key(engine, path)
        monkeypatch.setenv("CREDITGRAPH_HOME", str(sqlite_settings.home))
        monkeypatch.setenv("CREDITGRAPH_DB_URL", sqlite_settings.database_url)
        result = CliRunner().invoke(app, ["master-key", "rotate"])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and "ingest" in result.output
        assert path.read_text() == before and not next_key(path).exists()
        sigkill(paused)
        assert rotate_master_key(engine, path).rewrapped == len(world.PERSONS)
    finally:
        if paused.poll() is None:
            sigkill(paused)
        engine.dispose()


def test_the_cli_starts_after_a_rotation_cut_short_after_its_commit(
    tmp_path: Path, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up check finds the database under ``master.key.next`` and finishes the move,
    as opening the key does, instead of refusing every command."""
    from typer.testing import CliRunner

    from creditgraph.cli.main import app
    from creditgraph.privacy import rotation
    from creditgraph.privacy.keys import FileKeyProvider, read_key_file

    ingest(world.write_world(tmp_path / "in"), sqlite_settings)
    path = master_key_file(sqlite_settings)
    engine = make_engine(sqlite_settings.database_url)

    def crash(*_: object) -> None:
        raise OSError("power cut")

    try:
        monkeypatch.setattr(rotation.os, "replace", crash)
        with pytest.raises(OSError, match="power cut"):
            rotation.rotate_master_key(engine, path)
        monkeypatch.undo()
    finally:
        engine.dispose()
    pending = read_key_file(next_key(path))
    assert pending is not None
    monkeypatch.setenv("CREDITGRAPH_HOME", str(sqlite_settings.home))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", sqlite_settings.database_url)
    result = CliRunner().invoke(app, ["features", "get", "P1"])
    assert result.exit_code == 1 and "features build" in result.output, result.output  # started
    assert read_key_file(path) == pending and not next_key(path).exists()
    result = CliRunner().invoke(app, ["master-key", "check"])
    assert result.exit_code == 0, result.output
    assert FileKeyProvider(pending).key_id in result.output
