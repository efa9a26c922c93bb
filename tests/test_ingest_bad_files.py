"""Hostile input files: one bad value never loses a file, and a broken file is one line, exit 2.

The corpus lives in tests/fixtures/bad_inputs (written by its make_corpus.py); files too large
to commit (a field of 200,000 characters, one over the reader's field limit) are made here.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import LargeBinary, String, func, select
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.ingest.errors import IngestInputError
from creditgraph.ingest.readers import FIELD_LIMIT
from creditgraph.ingest.service import BatchReport, ingest
from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import ExternalLoan, Person
from tests import world

CORPUS_DIR = Path(__file__).resolve().parent / "fixtures" / "bad_inputs"


def _load_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS_DIR / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module
    spec.loader.exec_module(module)
    return module


CORPUS = _load_corpus()
ROW_CASES = [c for c in CORPUS.CASES if c.error is None]
ERROR_CASES = [c for c in CORPUS.CASES if c.error is not None]


def _needs(case: Any, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in case.needs:
        columns, rows = world.TABLES[table]
        paths.append(world.write_csv(directory / f"{table}.csv", columns, rows))
    return paths


def _quarantined(
    settings: Settings, report: BatchReport, table: str, key: str = "errors"
) -> set[tuple[int, str, str]]:
    """(row, field, rule) of the table's refused rows, or with ``key="nulled"`` of nulled values."""
    found = set()
    for f in sorted((settings.quarantine_dir / report.batch_id).glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["table"] == table and key in entry:
                assert entry["file"]
                for problem in entry[key]:
                    assert problem["message"]
                    found.add((entry["row"], problem["field"], problem["rule"]))
    return found


def _assert_counts_add_up(report: BatchReport) -> None:
    for f in report.files:
        assert f.rows_read == f.accepted + f.updated + f.duplicates + f.quarantined, f


def test_the_committed_corpus_is_what_the_script_writes() -> None:
    for name, content in CORPUS.corpus().items():
        committed = (CORPUS_DIR / name).read_bytes()
        if name.endswith(".gz") and not name.startswith(("persons-truncated", "persons-bad-crc")):
            assert gzip.decompress(committed) == gzip.decompress(content), name
        elif not name.endswith(".gz"):
            assert committed == content, name


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.name)
def test_a_bad_value_is_quarantined_and_the_good_rows_of_its_file_are_kept(
    tmp_path: Path, settings: Settings, case: Any
) -> None:
    path = CORPUS_DIR / case.name
    report = ingest([*_needs(case, tmp_path / "needs"), path], settings)
    _assert_counts_add_up(report)
    (mine,) = [f for f in report.files if f.path == path]
    assert mine.accepted == case.accepted
    assert mine.quarantined == len({r for r, _, _ in case.quarantined})
    assert _quarantined(settings, report, case.table) == case.quarantined
    assert _quarantined(settings, report, case.table, "nulled") == case.nulled
    assert mine.nulled_fields == len(case.nulled)


def test_money_beyond_int64_fen_is_quarantined_on_both_databases(
    tmp_path: Path, settings: Settings
) -> None:
    path = CORPUS_DIR / "external_loans-money-overflow.csv"
    persons = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    report = ingest([persons, path], settings)
    assert _quarantined(settings, report, "external_loans") == {(2, "amount", "out_of_range")}
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        amounts = sorted(conn.execute(select(ExternalLoan.amount_fen)).scalars())
    engine.dispose()
    assert amounts == [80000, 500000]


def test_a_year_0001_time_without_offset_is_quarantined_and_one_with_utc_offset_is_kept(
    tmp_path: Path, settings: Settings
) -> None:
    report = ingest([CORPUS_DIR / "persons-year-0001.csv"], settings)
    assert _quarantined(settings, report, "persons") == {(2, "registered_at", "out_of_range")}
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        years = sorted(t.year for t in conn.execute(select(Person.registered_at)).scalars())
    engine.dispose()
    assert years == [1, 2024]  # 2025-01-01 in UTC+8 is the last evening of 2024 in UTC


def _persons_with_occupation(path: Path, occupation: str, ragged: bool) -> Path:
    rows = [list(r) for r in world.PERSONS]
    rows.insert(1, ["P5", "salaried", "tier1", "1990", "", occupation, "10", "2025-01-01", "", ""])
    world.write_csv(path, world.PERSON_COLUMNS, rows)
    if ragged:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("P9,salaried\n")
    return path


@pytest.mark.parametrize("ragged", [False, True], ids=["fast reader", "exact reader"])
def test_a_field_of_200000_characters_is_a_max_length_failure_not_a_crash(
    tmp_path: Path, sqlite_settings: Settings, ragged: bool
) -> None:
    path = _persons_with_occupation(tmp_path / "persons.csv", "x" * 200_000, ragged)
    report = ingest([path], sqlite_settings)
    _assert_counts_add_up(report)
    expected = {(2, "occupation", "max_length")}
    if ragged:
        expected.add((6, "*", "malformed_row"))
    assert _quarantined(sqlite_settings, report, "persons") == expected
    assert report.files[0].accepted == 4
    engine = make_engine(sqlite_settings.database_url)
    with engine.connect() as conn:
        longest = conn.execute(select(func.max(func.length(Person.occupation)))).scalar_one()
    engine.dispose()
    assert longest <= 200


def test_a_field_beyond_the_reader_limit_quarantines_its_row_and_keeps_the_rest(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    path = _persons_with_occupation(tmp_path / "persons.csv", "y" * (FIELD_LIMIT + 1), False)
    report = ingest([path], sqlite_settings)
    _assert_counts_add_up(report)
    assert _quarantined(sqlite_settings, report, "persons") == {(2, "*", "malformed_row")}
    assert report.files[0].accepted == 4


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.name)
def test_a_broken_gzip_stops_the_batch_before_anything_is_written(
    tmp_path: Path, sqlite_settings: Settings, case: Any
) -> None:
    good = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    with pytest.raises(IngestInputError) as caught:
        ingest([good, CORPUS_DIR / case.name], sqlite_settings)
    message = str(caught.value)
    assert case.error in message and case.name in message
    assert "\n" not in message
    assert not sqlite_settings.home_dir.exists()


# --- the same corpus through the command line ---------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _table_cells(output: str, table: str) -> list[str]:
    lines = [ln for ln in output.splitlines() if ln.strip("│ ").startswith(table) and "│" in ln]
    return [c.strip() for c in lines[-1].split("│") if c.strip()]


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.name)
def test_the_cli_keeps_good_rows_and_names_the_rules_of_bad_ones(
    tmp_path: Path, home: Path, case: Any
) -> None:
    needs = [str(p) for p in _needs(case, tmp_path / "needs")]
    result = CliRunner().invoke(app, ["ingest", *needs, str(CORPUS_DIR / case.name)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rules = {rule for _, _, rule in case.quarantined}
    assert all(rule in result.output for rule in rules), result.output
    if not case.needs:
        read, accepted, updated, duplicates, quarantined = map(
            int,
            _table_cells(result.output, case.table)[1:],
        )
        assert (accepted, quarantined) == (case.accepted, len({r for r, _, _ in case.quarantined}))
        assert read == accepted + updated + duplicates + quarantined


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.name)
def test_the_cli_refuses_a_broken_gzip_in_one_line_with_exit_2(
    tmp_path: Path, home: Path, case: Any
) -> None:
    path = CORPUS_DIR / case.name
    env = {**os.environ, "CREDITGRAPH_HOME": str(home), "COLUMNS": "60"}
    env.pop("CREDITGRAPH_DB_URL", None)
    cli = Path(sys.executable).with_name("creditgraph")
    done = subprocess.run(
        [str(cli), "ingest", str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and case.error in lines[0]
    assert str(path) in lines[0]
    assert not home.exists()


def test_every_text_column_declares_a_maximum_that_its_database_column_can_hold() -> None:
    from creditgraph.contracts.schema import TABLES, Kind
    from creditgraph.store.models import Consent, LoanOutcome, PersonIdentity, table_of

    models = {
        "persons": Person,
        "consents": Consent,
        "external_loans": ExternalLoan,
        "loan_outcomes": LoanOutcome,
    }
    identity = table_of(PersonIdentity)
    for spec in TABLES.values():
        for column in spec.all_columns:
            if column.kind is not Kind.STRING:
                continue
            assert column.max_length, (spec.name, column.name)
            if spec.destination != "database":
                continue
            if column.personal or column.pseudonymise is not None:
                # ciphertext of any length: the raw id and personal fields live only there
                stored = identity.c[column.name if column.personal else "external_id"]
                assert isinstance(stored.type, LargeBinary), (spec.name, column.name)
                continue
            stored = table_of(models[spec.name]).c[column.name]
            assert isinstance(stored.type, String), (spec.name, column.name)
            assert (stored.type.length or 0) >= column.max_length, (spec.name, column.name)


@pytest.mark.parametrize("line", [1, 2], ids=["first record", "later record"])
def test_a_jsonl_record_nested_too_deeply_is_quarantined_not_a_crash(
    tmp_path: Path, sqlite_settings: Settings, line: int
) -> None:
    path = world.write_jsonl(tmp_path / "persons.jsonl", world.PERSON_COLUMNS, world.PERSONS)
    records = path.read_text(encoding="utf-8").splitlines()
    deep = '{"person_id": "P9", "occupation": ' + "[" * 100_000 + "]" * 100_000 + "}"
    records.insert(line - 1, deep)
    path.write_text("\n".join(records) + "\n", encoding="utf-8")
    if line == 1:  # the header is read from the first record: the batch stops, in one line
        with pytest.raises(IngestInputError, match="nested too deeply"):
            ingest([path], sqlite_settings)
        return
    report = ingest([path], sqlite_settings)
    _assert_counts_add_up(report)
    assert _quarantined(sqlite_settings, report, "persons") == {(2, "*", "malformed_json")}
    assert report.files[0].accepted == 4


def test_header_names_padded_with_spaces_are_read_as_their_names(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    path = tmp_path / "persons.csv"
    header = ",".join(f" {c} " for c in world.PERSON_COLUMNS)
    rows = "\n".join(",".join(r) for r in world.PERSONS)
    path.write_text(f"{header}\n{rows}\n", encoding="utf-8")
    report = ingest([path], sqlite_settings)
    assert report.files[0].accepted == 4
    assert report.files[0].quarantined == 0


def test_gzip_members_and_zero_padding_are_read_and_trailing_garbage_is_refused(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    text = world.write_csv(tmp_path / "p.csv", world.PERSON_COLUMNS, world.PERSONS).read_bytes()
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    whole = tmp_path / "good" / "persons.csv.gz"
    whole.parent.mkdir()
    whole.write_bytes(gzip.compress(head, mtime=0) + gzip.compress(tail, mtime=0) + b"\0" * 8)
    assert ingest([whole], sqlite_settings).files[0].accepted == 4
    garbage = tmp_path / "bad" / "persons.csv.gz"
    garbage.parent.mkdir()
    garbage.write_bytes(gzip.compress(text, mtime=0) + b"xyz")
    with pytest.raises(IngestInputError, match="cannot be read as gzip"):
        ingest([garbage], sqlite_settings)


def test_a_key_changed_twice_in_one_file_counts_every_row(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    first = ["P9", "salaried", "tier1", "1990", "", "teacher", "10", "2025-01-01", "", ""]
    second = [*first[:5], "driver", *first[6:]]
    path = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, [first, second])
    report = ingest([path], sqlite_settings)
    _assert_counts_add_up(report)
    assert (report.files[0].accepted, report.files[0].updated) == (1, 1)
