"""A real ``creditgraph ingest`` killed with SIGKILL at named points, then run again.

The re-run must end with exactly what one clean run stores (lake rows, database rows, the
quarantine), count as duplicates only rows the killed run committed, leave no staged or orphan
part behind, and mark the killed batch failed. A batch whose process is alive is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Connection, select, update

from creditgraph.ingest import recovery
from creditgraph.ingest.service import BatchReport, ingest
from creditgraph.privacy.fieldcrypt import read_identity
from creditgraph.privacy.keys import KeyProvider, master_key_file, open_master_key
from creditgraph.privacy.pseudonym import load_or_create_key
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine, migrated_engine
from creditgraph.store.models import (
    Consent,
    ExternalLoan,
    IngestBatch,
    IngestFile,
    LoanOutcome,
    Person,
    PersonIdentity,
    table_of,
)
from tests import world

CLI = Path(sys.executable).parent / "creditgraph"
DB_MODELS = (Person, PersonIdentity, Consent, ExternalLoan, LoanOutcome)
BATCH_COLUMNS = {"id", "batch_id", "created_at", "updated_at"}  # differ between any two runs
LAKE_TABLES = ("ties", "interactions", "devices", "activity_daily")


# --- running and killing a real process -------------------------------------------------------


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CREDITGRAPH_HOME": str(settings.home),
        "CREDITGRAPH_DB_URL": settings.database_url,
        "CREDITGRAPH_PSEUDONYM_KEY_FILE": str(settings.key_file),
    }
    env.update(extra)
    return env


def kill_at(point: str, files: list[Path], settings: Settings) -> subprocess.Popen[bytes]:
    """Start ``creditgraph ingest``, wait until it pauses at ``point``, and leave it running."""
    marker = settings.home.parent / f"paused-{point.replace('#', '-')}-{time.monotonic_ns()}"
    env = _env(
        settings,
        CREDITGRAPH_TEST_PAUSE_AT=point,
        CREDITGRAPH_TEST_PAUSE_MARKER=str(marker),
    )
    process = subprocess.Popen(
        [str(CLI), "ingest", *map(str, files)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"ingest ended ({process.returncode}) before {point}: {stderr}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"ingest never reached {point}")
        time.sleep(0.02)
    assert int(marker.read_text()) == process.pid
    return process


def sigkill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    if process.stderr:
        process.stderr.close()


# --- what a home holds --------------------------------------------------------------------------


def lake_state(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table in LAKE_TABLES:
        rows = []
        for part in (settings.lake_dir / table).glob("batch=*/*.parquet"):
            rows += [tuple(sorted(r.items())) for r in pq.read_table(part).to_pylist()]
        out[table] = sorted(rows, key=repr)
    return out


def db_state(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row, without what names its batch (ids, batch ids, batch times); personal
    fields decrypted (their ciphertexts differ in every home: random keys and nonces)."""
    engine = make_engine(settings.database_url)
    try:
        provider = open_master_key(engine, master_key_file(settings))
        with engine.connect() as conn:
            batch_times = set(conn.execute(select(IngestBatch.started_at)).scalars())
            out = {}
            for model in DB_MODELS:
                table = table_of(model)
                rows = []
                for stored in conn.execute(select(table)).mappings():
                    row = _decrypted(conn, provider, dict(stored))
                    rows.append(
                        tuple(
                            (k, "<batch time>" if v in batch_times else v)
                            for k, v in sorted(row.items())
                            if k not in BATCH_COLUMNS
                            # a person's row hash is keyed by their data key: each home's own
                            and not (table.name == "persons" and k == "row_hash")
                        )
                    )
                out[table.name] = sorted(rows, key=repr)
            return out
    finally:
        engine.dispose()


def _decrypted(conn: Connection, provider: KeyProvider, row: dict[str, Any]) -> dict[str, Any]:
    encrypted = {"declared_monthly_income_enc", "external_id", "name", "phone", "id_number", "note"}
    if not encrypted & row.keys():
        return row
    fields = read_identity(conn, provider, row["person_id"])
    return {
        k: getattr(fields, "declared_monthly_income_fen" if k.endswith("_enc") else k)
        if k in encrypted
        else v
        for k, v in row.items()
    }


def quarantine_state(settings: Settings, batch_id: str) -> list[str]:
    folder = settings.quarantine_dir / batch_id
    return sorted(
        line for f in folder.glob("*.jsonl") for line in f.read_text().splitlines() if line
    )


def batches(settings: Settings) -> dict[str, str]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(IngestBatch.id, IngestBatch.status)).all())
    finally:
        engine.dispose()


def committed(settings: Settings, batch_id: str) -> Counter[str]:
    """Rows each table accepted in the files a batch committed."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(IngestFile.table_name, IngestFile.accepted).where(
                    IngestFile.batch_id == batch_id
                )
            ).all()
    finally:
        engine.dispose()
    return Counter({t: int(n) for t, n in rows})


def recorded_parts(settings: Settings) -> set[tuple[str, str]]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return {
                (b, p)
                for b, p in conn.execute(select(IngestFile.batch_id, IngestFile.part))
                if p is not None
            }
    finally:
        engine.dispose()


def staged_files(settings: Settings) -> list[Path]:
    return sorted(settings.home_dir.rglob("*.part"))


def assert_no_debris(settings: Settings) -> None:
    assert staged_files(settings) == []
    recorded = recorded_parts(settings)
    for part in settings.lake_dir.glob("*/batch=*/*.parquet"):
        assert (part.parent.name.removeprefix("batch="), part.stem) in recorded, part
    for entry in settings.quarantine_dir.glob("*/*.jsonl"):
        assert (entry.parent.name, entry.stem) in recorded, entry


# --- the clean run every crash is compared with -------------------------------------------------


class Clean:
    def __init__(self, settings: Settings, report: BatchReport) -> None:
        self.lake = lake_state(settings)
        self.db = db_state(settings)
        self.quarantine = quarantine_state(settings, report.batch_id)
        self.accepted = Counter({t: c["accepted"] for t, c in report.by_table().items()})


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    return world.write_world(tmp_path / "in")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """One pseudonym key for the clean and the crashed home, so their pseudonyms agree."""
    path = tmp_path / "keys" / "pseudonym.key"
    load_or_create_key(path)
    return path


@pytest.fixture
def clean(tmp_path: Path, inputs: list[Path], key_file: Path) -> Clean:
    """The world ingested once, uninterrupted, into a home of its own."""
    home = tmp_path / "clean"
    settings = Settings(
        home=home, db_url=f"sqlite:///{home / 'creditgraph.db'}", pseudonym_key_file=key_file
    )
    return Clean(settings, ingest(inputs, settings))


@pytest.fixture
def crashed(tmp_path: Path, key_file: Path) -> Settings:
    """The home of the runs that are killed and run again."""
    home = tmp_path / "home"
    return Settings(
        home=home, db_url=f"sqlite:///{home / 'creditgraph.db'}", pseudonym_key_file=key_file
    )


# persons (database table, file 1), ties (lake table, file 3), external_loans (database, file 7)
POINTS = [
    "batch_started",
    "file_staged#1",
    "file_recorded#1",
    "file_staged#3",
    "file_recorded#3",
    "file_published#3",
    "file_staged#7",
    "batch_finishing",
]


def _check_rerun(settings: Settings, clean: Clean, killed: str, rerun: BatchReport) -> None:
    assert rerun.recovery.failed == [killed]
    assert batches(settings) == {killed: "failed", rerun.batch_id: "done"}
    assert_no_debris(settings)
    assert lake_state(settings) == clean.lake
    assert db_state(settings) == clean.db
    assert quarantine_state(settings, rerun.batch_id) == clean.quarantine
    before = committed(settings, killed)
    for table, counts in rerun.by_table().items():
        # a row counts as a duplicate only if the killed run committed it
        assert counts["duplicates"] == before[table], table
        assert counts["accepted"] + before[table] == clean.accepted[table], table


@pytest.mark.parametrize("point", POINTS)
def test_a_batch_killed_at_any_point_is_finished_by_the_next_run_exactly_as_one_clean_run(
    crashed: Settings, inputs: list[Path], clean: Clean, point: str
) -> None:
    settings = crashed
    sigkill(kill_at(point, inputs, settings))
    (killed,) = batches(settings)
    assert batches(settings) == {killed: "running"}

    rerun = ingest(inputs, settings)

    _check_rerun(settings, clean, killed, rerun)


@pytest.mark.postgres
def test_a_batch_killed_on_postgresql_is_finished_by_the_next_run(
    tmp_path: Path, postgres_url: str, inputs: list[Path], clean: Clean, key_file: Path
) -> None:
    settings = Settings(home=tmp_path / "home", db_url=postgres_url, pseudonym_key_file=key_file)
    for point in ("file_staged#1", "file_recorded#3"):
        sigkill(kill_at(point, inputs, settings))
        (killed,) = (b for b, s in batches(settings).items() if s == "running")
        rerun = ingest(inputs, settings)
        assert rerun.recovery.failed == [killed]
        assert_no_debris(settings)
        assert lake_state(settings) == clean.lake
        assert db_state(settings) == clean.db


def test_what_a_kill_leaves_is_what_recovery_expects(crashed: Settings, inputs: list[Path]) -> None:
    """The states the crash test relies on are real: staged parts, a record without its part."""
    settings = crashed
    sigkill(kill_at("file_staged#3", inputs, settings))
    (killed,) = batches(settings)
    assert sorted(p.name for p in staged_files(settings)) == [
        "002-ties.jsonl.part",
        "002-ties.parquet.part",
    ]
    assert recorded_parts(settings) == {(killed, "000-persons"), (killed, "001-consents")}

    sigkill(kill_at("file_recorded#3", inputs, settings))
    second = next(b for b, s in batches(settings).items() if s == "running")
    assert (second, "002-ties") in recorded_parts(settings)
    assert not (settings.lake_dir / "ties" / f"batch={second}" / "002-ties.parquet").exists()
    assert (settings.lake_dir / "ties" / f"batch={second}" / "002-ties.parquet.part").exists()


def test_the_next_run_from_the_command_line_says_what_it_recovered(
    crashed: Settings, inputs: list[Path], clean: Clean
) -> None:
    settings = crashed
    sigkill(kill_at("file_recorded#3", inputs, settings))
    (killed,) = batches(settings)

    result = subprocess.run(
        [str(CLI), "ingest", *map(str, inputs)],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert f"recovered: batch {killed} was abandoned by its process, now failed" in result.stdout
    assert "recovered: 2 staged files published (committed)" in result.stdout
    assert_no_debris(settings)
    assert lake_state(settings) == clean.lake
    assert db_state(settings) == clean.db


def test_a_part_published_without_its_record_by_an_older_version_is_removed(
    crashed: Settings, inputs: list[Path], clean: Clean
) -> None:
    """Older versions renamed a part before its record committed: a kill left rows in the lake
    that no record owned, and the re-run counted them all as duplicates."""
    settings = crashed
    sigkill(kill_at("file_staged#3", inputs, settings))
    (killed,) = batches(settings)
    for staged in staged_files(settings):
        staged.rename(staged.with_suffix(""))  # published, as the older order left it
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:  # and recorded with no owner, as older versions recorded it
        conn.execute(
            update(table_of(IngestBatch))
            .where(table_of(IngestBatch).c.id == killed)
            .values(
                owner_host=None,
                owner_pid=None,
                owner_started=None,
                heartbeat_at=None,
                started_at=datetime.utcnow() - _lease(settings) - timedelta(minutes=1),
            )
        )
    engine.dispose()

    rerun = ingest(inputs, settings)

    _check_rerun(settings, clean, killed, rerun)
    assert rerun.by_table()["ties"]["duplicates"] == 0


def test_a_batch_whose_process_is_alive_is_left_alone(
    crashed: Settings, inputs: list[Path], clean: Clean
) -> None:
    settings = crashed
    paused = kill_at("file_staged#3", inputs, settings)  # alive, with a staged ties part
    try:
        (live,) = batches(settings)
        staged = staged_files(settings)
        assert staged

        other = ingest(inputs, settings)

        assert not other.recovery
        assert batches(settings) == {live: "running", other.batch_id: "done"}
        assert staged_files(settings) == staged
    finally:
        sigkill(paused)
    last = ingest(inputs, settings)
    assert last.recovery.failed == [live]
    assert_no_debris(settings)
    assert lake_state(settings) == clean.lake
    assert db_state(settings) == clean.db


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.ingest_lease_seconds)


def _running_batch(settings: Settings, batch_id: str, **owner: Any) -> None:
    with migrated_engine(settings.database_url) as engine, engine.begin() as conn:
        conn.execute(
            table_of(IngestBatch)
            .insert()
            .values(
                id=batch_id,
                started_at=datetime.utcnow(),
                status="running",
                content_sha256="0" * 64,
                contract_version="1",
                counts={},
                **owner,
            )
        )
    part = settings.lake_dir / "ties" / f"batch={batch_id}" / "000-ties.parquet.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"staged")


def test_a_batch_from_another_host_is_abandoned_only_when_its_heartbeat_is_older_than_the_lease(
    settings: Settings,
) -> None:
    now = datetime.utcnow()
    _running_batch(
        settings,
        "fresh",
        owner_host="elsewhere",
        owner_pid=1,
        heartbeat_at=now - timedelta(minutes=1),
    )
    _running_batch(
        settings,
        "stale",
        owner_host="elsewhere",
        owner_pid=1,
        heartbeat_at=now - _lease(settings) - timedelta(minutes=1),
    )
    with migrated_engine(settings.database_url) as engine:
        found = recovery.recover(engine, settings)
    assert found.failed == ["stale"]
    assert batches(settings) == {"fresh": "running", "stale": "failed"}
    assert staged_files(settings) == [
        settings.lake_dir / "ties" / "batch=fresh" / "000-ties.parquet.part"
    ]


def test_a_recycled_process_id_does_not_keep_a_batch_alive(settings: Settings) -> None:
    me = recovery.Owner.this_process()
    _running_batch(settings, "mine", owner_host=me.host, owner_pid=me.pid, owner_started=me.started)
    _running_batch(settings, "recycled", owner_host=me.host, owner_pid=me.pid, owner_started="1")
    with migrated_engine(settings.database_url) as engine:
        assert recovery.recover(engine, settings).failed == ["recycled"]
    assert batches(settings) == {"mine": "running", "recycled": "failed"}


@pytest.mark.postgres
def test_a_running_batch_keeps_its_heartbeat_fresh_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = Settings(home=tmp_path / "home", db_url=postgres_url)
    _running_batch(settings, "beating", heartbeat_at=datetime.utcnow() - timedelta(hours=1))
    with migrated_engine(settings.database_url) as engine:
        with recovery.Heartbeat(engine, "beating", every=timedelta(seconds=0.05)):
            time.sleep(0.5)
        with engine.connect() as conn:
            beat = conn.execute(
                select(IngestBatch.heartbeat_at).where(IngestBatch.id == "beating")
            ).scalar_one()
    assert beat is not None and datetime.utcnow() - beat < timedelta(seconds=5)


def test_the_crash_points_tested_are_every_named_pause_point() -> None:
    from creditgraph.store.pause_points import POINTS as NAMED

    assert {p.split("#")[0] for p in POINTS} == set(NAMED)
