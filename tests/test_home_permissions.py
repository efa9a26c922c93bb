"""The home and everything in it that holds personal data are private to the account running it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from tests import world

CLI = Path(sys.executable).parent / "creditgraph"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def shell_umask() -> Iterator[None]:
    """The umask of a typical shell (022), as a library caller or a test runner would have it."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITGRAPH_HOME": str(home)}
    env.pop("CREDITGRAPH_DB_URL", None)
    return subprocess.run(
        [str(CLI), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
        check=False,
    )


def test_the_database_and_its_wal_and_shared_memory_files_are_created_private(
    tmp_path: Path, shell_umask: None
) -> None:
    db = tmp_path / "fresh" / "creditgraph.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
            conn.execute(text("INSERT INTO t VALUES ('李娜')"))
        with engine.connect() as conn:  # held open: the WAL and shared-memory files exist now
            conn.execute(text("SELECT * FROM t")).all()
            wal = db.with_name(db.name + "-wal")
            shm = db.with_name(db.name + "-shm")
            assert wal.exists() and shm.exists()
            assert {p.name: _mode(p) for p in (db, wal, shm)} == {
                "creditgraph.db": 0o600,
                "creditgraph.db-wal": 0o600,
                "creditgraph.db-shm": 0o600,
            }
        assert _mode(db.parent) == 0o700
    finally:
        engine.dispose()


def test_everything_an_ingest_writes_under_the_home_is_private(
    tmp_path: Path, sqlite_settings: Settings, shell_umask: None
) -> None:
    files = world.write_world(tmp_path / "in")
    ingest(files, sqlite_settings)
    home = sqlite_settings.home_dir
    written = list(home.rglob("*"))
    assert any(p.suffix == ".parquet" for p in written)
    assert any(p.suffix == ".jsonl" for p in written)
    loose = {
        str(p.relative_to(home)): oct(_mode(p))
        for p in [home, *written]
        if _mode(p) != (0o700 if p.is_dir() else 0o600)
    }
    assert loose == {}


def test_a_cli_run_from_a_shell_creates_the_home_private(tmp_path: Path) -> None:
    files = [str(p) for p in world.write_world(tmp_path / "in")]
    home = tmp_path / "home"
    result = _run(home, "ingest", *files)
    assert result.returncode == 0, result.stderr
    for path in [home, *home.rglob("*")]:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_a_home_left_open_by_an_older_version_is_made_private_with_a_warning(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    assert _run(home, "db", "upgrade").returncode == 0
    db = home / "creditgraph.db"
    os.chmod(home, 0o755)
    os.chmod(db, 0o644)

    result = _run(home, "db", "current")

    assert result.returncode == 0, result.stderr
    assert f"warning: {home} was open to group or others (mode 755), now 700" in result.stderr
    assert f"warning: {db} was open to group or others (mode 644), now 600" in result.stderr
    assert _mode(home) == 0o700 and _mode(db) == 0o600
    again = _run(home, "db", "current")
    assert again.returncode == 0 and "warning" not in again.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_an_open_home_owned_by_someone_else_is_refused_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    os.chown(home, 65534, 65534)

    result = _run(home, "db", "current")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {home} is open to group or others (mode 755) and belongs to another user "
        f"(uid 65534): it holds personal data; make it private (chmod 700 {home}) or choose "
        "another CREDITGRAPH_HOME"
    ]
    assert "Traceback" not in result.stderr + result.stdout


def test_commands_that_do_not_use_the_home_do_not_create_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run(home, "contract", "docs")
    assert result.returncode == 0
    assert not home.exists()
