"""The ingest and db commands as a person runs them: exit codes, one-line errors, summaries."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.settings import get_settings
from creditgraph.store.db import head_revision
from tests import world


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def test_ingest_prints_counts_and_is_idempotent(tmp_path: Path, home: Path) -> None:
    files = [str(p) for p in world.write_world(tmp_path / "in")]
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", *files, "--batch-name", "first"])
    assert first.exit_code == 0, first.output
    assert "persons" in first.output and "no_consent" in first.output
    second = runner.invoke(app, ["ingest", str(tmp_path / "in")])
    assert second.exit_code == 0, second.output
    lines = [ln for ln in second.output.splitlines() if "interactions" in ln and "│" in ln]
    cells = [c.strip() for c in lines[-1].split("│") if c.strip()]
    assert cells == ["interactions", "4", "0", "0", "3", "1"]


def test_missing_column_exits_2_with_one_line(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "ties.csv"
    bad.write_text("src,dst\nP1,P2\n")
    result = CliRunner().invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 2
    assert "missing required column(s) kind, source, created_at" in result.output
    assert "Traceback" not in result.output
    assert not home.exists()


def test_unknown_table_option_exits_2(tmp_path: Path, home: Path) -> None:
    path = world.write_csv(tmp_path / "x.csv", world.TIE_COLUMNS, world.TIES)
    result = CliRunner().invoke(app, ["ingest", str(path), "--table", "friends"])
    assert result.exit_code == 2
    assert "unknown table 'friends'" in result.output


def test_db_upgrade_and_current(home: Path) -> None:
    runner = CliRunner()
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    head = head_revision()
    assert head and head in up.output
    current = runner.invoke(app, ["db", "current"])
    assert f"current {head}" in current.output and f"head {head}" in current.output


def _persons_file(tmp_path: Path, bad_segments: int, bad_genders: int = 0) -> Path:
    """Ten people: the first ``bad_segments`` with an invalid segment (refused), the next
    ``bad_genders`` with an invalid gender (nulled, stored)."""
    rows = []
    for i in range(10):
        segment = "alien" if i < bad_segments else "salaried"
        gender = "M" if bad_segments <= i < bad_segments + bad_genders else ""
        rows.append([f"Q{i}", segment, "tier1", "1990", gender, "x", "10", "2025-01-01", "", ""])
    return world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, rows)


def test_a_file_whose_every_row_is_quarantined_exits_3_in_one_line(
    tmp_path: Path, home: Path
) -> None:
    path = _persons_file(tmp_path, bad_segments=10)
    result = CliRunner().invoke(app, ["ingest", str(path)])
    assert result.exit_code == 3, result.output
    (line,) = [ln for ln in result.output.splitlines() if "exit 3" in ln]
    assert line.startswith("warning: ") and "persons.csv 10 of 10 rows (100%)" in line


def test_the_quarantined_share_limit_is_configurable_and_good_rows_are_still_stored(
    tmp_path: Path, home: Path
) -> None:
    path = _persons_file(tmp_path, bad_segments=2)
    runner = CliRunner()
    strict = runner.invoke(app, ["ingest", str(path), "--max-quarantined-share", "0.1"])
    assert strict.exit_code == 3, strict.output
    assert "persons.csv 2 of 10 rows (20%)" in strict.output
    assert "persons" in strict.output and "8" in strict.output
    lenient = runner.invoke(app, ["ingest", str(path), "--max-quarantined-share", "0.2"])
    assert lenient.exit_code == 0, lenient.output  # 20% is not more than 20%
    cells = [c.strip() for c in _row(lenient.output, "persons").split("│") if c.strip()]
    assert cells == ["persons", "10", "0", "0", "8", "2"]  # the 8 were stored by the first run


def test_nulled_optional_fields_do_not_count_towards_the_quarantined_share(
    tmp_path: Path, home: Path
) -> None:
    path = _persons_file(tmp_path, bad_segments=0, bad_genders=10)
    result = CliRunner().invoke(app, ["ingest", str(path), "--max-quarantined-share", "0"])
    assert result.exit_code == 0, result.output
    assert (
        "nulled fields (row stored, invalid optional value set to null) 10: gender:allowed 10"
        in (result.output)
    )


def test_a_share_outside_0_to_1_or_an_unknown_reported_at_default_exits_2_in_one_line(
    tmp_path: Path, home: Path
) -> None:
    path = _persons_file(tmp_path, bad_segments=0)
    runner = CliRunner()
    share = runner.invoke(app, ["ingest", str(path), "--max-quarantined-share", "1.5"])
    assert share.exit_code == 2
    assert (
        share.output.strip() == "error: --max-quarantined-share must be between 0 and 1 (got 1.5)"
    )
    default = runner.invoke(app, ["ingest", str(path), "--reported-at-default", "today"])
    assert default.exit_code == 2
    assert "--reported-at-default must be one of ingest-time, opened_at" in default.output
    assert not home.exists()


def test_undated_external_loan_reports_are_announced_and_can_be_dated_at_opened_at(
    tmp_path: Path, home: Path
) -> None:
    files = [str(p) for p in world.write_world(tmp_path / "in")]
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", *files])
    assert first.exit_code == 0, first.output
    assert (
        "external_loans: 1 report without reported_at dated at the ingest time, so unseen by "
        "every earlier as-of date" in first.output
    )
    (tmp_path / "later").mkdir()
    loans = world.write_csv(
        tmp_path / "later" / "external_loans.csv",
        world.EXTERNAL_LOAN_COLUMNS,
        world.EXTERNAL_LOANS,
    )
    second = runner.invoke(app, ["ingest", str(loans), "--reported-at-default", "opened_at"])
    assert second.exit_code == 0, second.output
    assert "external_loans: 1 report without reported_at dated at their opened_at" in second.output
    assert "dated at the ingest time" not in second.output


def _row(output: str, table: str) -> str:
    return [ln for ln in output.splitlines() if table in ln and "│" in ln][-1]
