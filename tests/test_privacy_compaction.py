"""Lake compaction: erased and revoked rows leave the Parquet files, nothing else changes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, insert, select, update

from creditgraph.features.service import build_and_store, compute_features
from creditgraph.ingest.service import ingest
from creditgraph.privacy import jobs
from creditgraph.privacy.compaction import compact
from creditgraph.privacy.erasure import erase
from creditgraph.settings import Settings
from creditgraph.store import lake
from creditgraph.store.db import make_engine
from creditgraph.store.models import IngestBatch, Person, PrivacyJob, table_of
from tests import lake_world
from tests import world as world_files

CLI = Path(sys.executable).parent / "creditgraph"
NOW = datetime(2026, 1, 2)


def _rows(lake_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every lake row, part by part in order, row groups in order."""
    return {
        t: [r for p in lake.parts(lake_dir, t) for r in pq.read_table(p).to_pylist()]
        for t in lake_world.PARTS
    }


def _file_hashes(lake_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake_dir.rglob("*.parquet"))
    }


@pytest.fixture
def world(tmp_path: Path, engine: Engine) -> Path:
    lake_dir = tmp_path / "lake"
    lake_world.write_lake(lake_dir)
    with engine.begin() as conn:
        lake_world.write_database(conn)
    return lake_dir


def test_compaction_removes_exactly_the_erased_and_revoked_rows_and_keeps_the_rest(
    world: Path, engine: Engine
) -> None:
    before = _rows(world)
    report = compact(engine, world, now=NOW)
    after = _rows(world)
    for table, rows in before.items():
        expected = [r for r in rows if r["row_key"] not in lake_world.REMOVED]
        assert after[table] == expected, table  # same values, same order, same row keys
    removed = {t: r.rows_removed for t, r in report.tables.items()}
    assert removed == {
        "ties": 2,
        "interactions": 2,
        "devices": 1,
        "activity_daily": 0,
        "feature_snapshots": 0,
    }
    erased = sum(r.rows_erased for r in report.tables.values())
    assert erased == sum(1 for why in lake_world.REMOVED.values() if why == "erased")
    assert report.tables["ties"].parts_rewritten == 2
    assert report.tables["activity_daily"].parts_rewritten == 0
    assert report.erased_people == 1 and report.revoked_pairs == 1  # A gave wechat again


def test_erased_rows_are_what_the_tombstone_filter_hid(world: Path, engine: Engine) -> None:
    """With only the erasure to apply, the lake after equals the filtered read before."""
    with engine.begin() as conn:  # no revocations: every consent still held
        conn.execute(update(table_of(lake_world.Consent)).values(revoked_at=None))
    person_columns = ("src", "dst", "person_id")
    before = _rows(world)
    compact(engine, world, now=NOW)
    for table, rows in before.items():
        filtered = [r for r in rows if lake_world.B not in {r.get(c) for c in person_columns}]
        assert _rows(world)[table] == filtered, table


def test_the_erased_pseudonym_is_in_no_parquet_files_bytes(world: Path, engine: Engine) -> None:
    """Nowhere: not in the files' bytes (footers and statistics are stored uncompressed) nor
    in their decoded values (the pages are zstd-compressed, so the bytes alone prove little)."""
    needle = lake_world.B.encode()
    assert any(needle in p.read_bytes() for p in world.rglob("*.parquet"))
    compact(engine, world, now=NOW)
    assert not any(needle in p.read_bytes() for p in world.rglob("*") if p.is_file())
    for path in world.rglob("*.parquet"):
        assert lake_world.B not in str(pq.read_table(path).to_pylist()), path


def test_a_second_run_rewrites_nothing(world: Path, engine: Engine) -> None:
    compact(engine, world, now=NOW)
    hashes = _file_hashes(world)
    again = compact(engine, world, now=NOW)
    assert again.rows_removed == 0
    assert all(t.parts_rewritten == 0 for t in again.tables.values())
    assert _file_hashes(world) == hashes


def test_a_dry_run_changes_nothing(world: Path, engine: Engine) -> None:
    with engine.begin() as conn:
        job = jobs.schedule_person_purge(conn, lake_world.B, "erased: DSR-1", now=NOW)
    hashes = _file_hashes(world)
    report = compact(engine, world, dry_run=True, now=NOW)
    assert report.rows_removed == len(lake_world.REMOVED)
    assert _file_hashes(world) == hashes
    with engine.connect() as conn:
        assert [j.id for j in jobs.open_jobs(conn)] == [job]


def test_open_purge_jobs_are_done_with_the_report(world: Path, engine: Engine) -> None:
    with engine.begin() as conn:
        person = jobs.schedule_person_purge(conn, lake_world.B, "erased: DSR-1", now=NOW)
        # A's revocation of wechat, given again since: the job is done, A's rows are read again
        source = jobs.schedule_source_purge(conn, lake_world.A, "wechat", "revoked", now=NOW)
    report = compact(engine, world, now=NOW)
    assert report.jobs_done == [person, source]
    assert any(r["src"] == lake_world.A and r["source"] == "wechat" for r in _rows(world)["ties"])
    with engine.connect() as conn:
        done = conn.execute(select(PrivacyJob.done_at, PrivacyJob.report)).all()
        assert not jobs.open_jobs(conn)
    assert all(at == NOW and stored["rows_removed"] == report.rows_removed for at, stored in done)
    assert lake_world.B not in str(done)  # the stored report holds counts, never a pseudonym


def test_compaction_refuses_while_an_ingest_writes_the_lake(world: Path, engine: Engine) -> None:
    hashes = _file_hashes(world)
    # what an ingest holds
    with lake.lake_lock(world, exclusive=False), pytest.raises(lake.LakeBusy, match="try again"):
        compact(engine, world, now=NOW)
    with engine.begin() as conn:  # an ingest of another host, beating within its lease
        conn.execute(
            insert(table_of(IngestBatch)).values(
                id="remote",
                started_at=NOW,
                heartbeat_at=NOW,
                status="running",
                content_sha256="0" * 64,
                contract_version="1",
                counts={},
                owner_host="another-host",
                owner_pid=1,
            )
        )
    with pytest.raises(lake.LakeBusy, match="another-host"):
        compact(engine, world, now=NOW)
    assert _file_hashes(world) == hashes
    assert compact(engine, world, now=NOW.replace(hour=1)).rows_removed  # lease over


def _compact_killed_at(point: str, home: Path, db_url: str) -> None:
    marker = home.parent / f"paused-{point.replace('#', '-')}"
    env = {
        **os.environ,
        "CREDITGRAPH_HOME": str(home),
        "CREDITGRAPH_DB_URL": db_url,
        "CREDITGRAPH_TEST_PAUSE_AT": point,
        "CREDITGRAPH_TEST_PAUSE_MARKER": str(marker),
    }
    process = subprocess.Popen(
        [str(CLI), "lake", "compact"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"compaction ended ({process.returncode}) before {point}: {stderr}")
        assert time.monotonic() < deadline, f"compaction never reached {point}"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    if process.stderr:
        process.stderr.close()
    marker.unlink()


@pytest.mark.parametrize("point", ["rewrite_staged", "rewrite_replaced#2"])
def test_a_kill_mid_compaction_leaves_every_part_old_or_new(
    point: str, tmp_path: Path, db_url: str, engine: Engine
) -> None:
    home = tmp_path / "home"
    lake_world.write_lake(home / "lake")
    with engine.begin() as conn:
        lake_world.write_database(conn)
    before = _rows(home / "lake")
    parts = {p: pq.read_table(p).to_pylist() for t in before for p in lake.parts(home / "lake", t)}
    _compact_killed_at(point, home, db_url)
    rewritten = 0
    for path, rows in parts.items():
        now_rows = pq.read_table(path).to_pylist()  # every part readable, whole
        new = [r for r in rows if r["row_key"] not in lake_world.REMOVED]
        assert now_rows in (rows, new), path
        rewritten += now_rows != rows
    assert rewritten == (0 if point == "rewrite_staged" else 2)
    if point == "rewrite_staged":
        assert len(list((home / "lake").rglob(f"*{lake.REWRITING}"))) == 1
    compact(engine, home / "lake", now=NOW)
    after = _rows(home / "lake")
    assert after == {
        t: [r for r in rows if r["row_key"] not in lake_world.REMOVED] for t, rows in before.items()
    }
    assert not list((home / "lake").rglob(f"*{lake.REWRITING}"))


def test_features_built_before_and_after_compaction_are_identical(
    tmp_path: Path, settings: Settings
) -> None:
    """A real ingest, an erasure and a revocation in force: compaction removes exactly what
    the build already left out."""
    ingest(world_files.write_world(tmp_path / "in"), settings)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            p4 = conn.execute(
                select(Person.person_id).where(Person.occupation == "farmer")
            ).scalar_one()
        stored = build_and_store(settings, date(2025, 4, 1), online=False).snapshot
        assert stored is not None
        snapshot = stored.path
        assert p4 in pq.read_table(snapshot)["person_id"].to_pylist()
        erase(engine, p4, "DSR-1")
        days = (date(2025, 4, 1), date(2026, 2, 1))
        before = [compute_features(settings, d).features.sort_by("person_id") for d in days]
        report = compact(engine, settings.lake_dir, timezone=settings.timezone)
        assert report.rows_removed > 0
        assert sum(t.rows_revoked for t in report.tables.values()) > 0  # P2 withdrew wechat
        after = [compute_features(settings, d).features.sort_by("person_id") for d in days]
        for b, a in zip(before, after, strict=True):
            assert a.equals(b)
        files = [*settings.lake_dir.rglob("*.parquet"), snapshot]  # the offline snapshot too
        assert not any(p4.encode() in p.read_bytes() for p in files)  # footers, statistics
        assert not any(p4 in str(pq.read_table(p).to_pylist()) for p in files)  # the values
        assert report.tables["feature_snapshots"].rows_erased == 1
    finally:
        engine.dispose()
