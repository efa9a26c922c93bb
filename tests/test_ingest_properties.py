"""Whatever a cell holds, ingest never raises and every row read is stored or quarantined.

Cells are drawn for every contract column of each table: good values (so rows can pass the
consent gate and the known-person check), text of any Unicode, huge and malformed numbers,
times at and beyond the ends of the calendar, blanks and nulls. Files go through CSV, JSONL
(whose cells may also be JSON numbers, booleans, nulls or objects), gzip and Parquet.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from creditgraph.contracts.schema import TABLES, TableSpec
from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import Consent as ConsentModel
from creditgraph.store.models import ExternalLoan, LoanOutcome, Person, table_of
from tests import world
from tests.conftest import POSTGRES_URL

DB_MODELS = {
    "persons": Person,
    "consents": ConsentModel,
    "external_loans": ExternalLoan,
    "loan_outcomes": LoanOutcome,
}
FORMATS = ("csv", "csv.gz", "jsonl", "jsonl.gz", "parquet")
_file_numbers = itertools.count()

WEIRD = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "NULL",
        "null",
        "NaN",
        "nan",
        "inf",
        "-Infinity",
        "infinity",
        "1e309",
        "1e5",
        ".5",
        "-0",
        "+1",
        "0x1F",
        "1_000",
        "١٢٣",
        "92233720368547758.07",
        "92233720368547758.08",
        "-92233720368547758.09",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "9" * 45,
        "1" + "0" * 34,
        "0.001",
        "0001-01-01",
        "0001-01-01 00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31 23:59:59.999999",
        "9999-12-31T23:59:59-12:00",
        "10000-01-01",
        "294247-01-10",
        "-infinity",
        "epoch",
        "2025-02-30",
        "2025-13-01",
        "2025-01-01T25:00",
        "true",
        "YES",
        "\x00",
        "a\x00b",
        "\ufeff",
        "\u00a0",
        '"',
        ",",
        "a\nb",
        "a\r\nb",
        "x" * 201,
        "名" * 101,
        "😀" * 60,
    ]
)
TEXT = st.text(max_size=16)
NUMBERS = st.one_of(
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
)
TIMES = st.one_of(
    st.datetimes().map(lambda t: t.isoformat(sep=" ")),
    st.dates().map(str),
)


ARBITRARY: st.SearchStrategy[str | None] = st.one_of(WEIRD, TEXT, NUMBERS, TIMES, st.none())


def _good_rows(spec: TableSpec) -> list[dict[str, str | None]]:
    """The hand-made world's rows of the table, so most generated rows are one bad cell away."""
    columns, rows = world.TABLES[spec.name]
    default = {c.name: ("wechat" if c.name == "source" else None) for c in spec.all_columns}
    return [{**default, **dict(zip(columns, row, strict=True))} for row in rows]


def _rows(spec: TableSpec) -> st.SearchStrategy[list[dict[str, str | None]]]:
    names = [c.name for c in spec.all_columns]
    arbitrary_row = st.fixed_dictionaries(dict.fromkeys(names, ARBITRARY))
    changes = st.dictionaries(st.sampled_from(names), ARBITRARY, max_size=2)
    nearly_good = st.builds(
        lambda base, change: {**base, **change}, st.sampled_from(_good_rows(spec)), changes
    )
    return st.lists(st.one_of(nearly_good, nearly_good, arbitrary_row), min_size=1, max_size=6)


def _json_cell(value: str | None) -> st.SearchStrategy[Any]:
    """In JSONL the same cell may arrive as a number, boolean, null or object."""
    return st.one_of(
        st.just(value),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.just({"nested": [value]}),
    )


def _write(
    path: Path, fmt: str, columns: list[str], rows: list[dict[str, Any]], data: st.DataObject
) -> Path:
    if fmt.startswith("csv"):
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in rows])
        content = out.getvalue().encode("utf-8")
    elif fmt.startswith("jsonl"):
        records = [
            {c: data.draw(_json_cell(r[c])) if data.draw(st.booleans()) else r[c] for c in columns}
            for r in rows
        ]
        text = "".join(json.dumps(r, ensure_ascii=data.draw(st.booleans())) + "\n" for r in records)
        content = text.encode("utf-8")
    else:
        table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns})
        pq.write_table(table, path)
        return path
    path.write_bytes(gzip.compress(content, mtime=0) if fmt.endswith(".gz") else content)
    return path


def _stored(settings: Settings, table: str) -> int:
    spec = TABLES[table]
    if spec.destination == "lake":
        return sum(
            pq.ParquetFile(f).metadata.num_rows
            for f in (settings.lake_dir / table).glob("batch=*/*.parquet")
        )
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            model = table_of(DB_MODELS[table])
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
    finally:
        engine.dispose()


def _quarantine(settings: Settings, batch_id: str) -> tuple[list[int], list[int], int]:
    """Rows refused, rows stored with nulled optional values, and how many values were nulled."""
    refused, noted, nulled = [], [], 0
    for f in (settings.quarantine_dir / batch_id).glob("*.jsonl"):
        for line in f.read_text(encoding="utf-8").split("\n")[:-1]:
            entry = json.loads(line)
            problems = entry["nulled"] if entry.get("stored") else entry["errors"]
            assert entry["file"] and problems
            assert all(p["field"] and p["rule"] and p["message"] for p in problems)
            if entry.get("stored"):
                assert "errors" not in entry
                assert all(not TABLES[entry["table"]].column(p["field"]).required for p in problems)
                noted.append(int(entry["row"]))
                nulled += len(problems)
            else:
                refused.append(int(entry["row"]))
    return refused, noted, nulled


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world_home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """One home holding the hand-made world's people and consents, so generated rows can pass."""
    base = tmp_path_factory.mktemp("property-home")
    if request.param == "sqlite":
        db_url = f"sqlite:///{base / 'home' / 'cg.db'}"
    else:
        db_url = _postgres_database(request)
    home = Settings(home=base / "home", db_url=db_url)
    inputs = base / "in"
    inputs.mkdir()
    ingest(
        [
            world.write_csv(inputs / "persons.csv", world.PERSON_COLUMNS, world.PERSONS),
            world.write_csv(inputs / "consents.csv", world.CONSENT_COLUMNS, world.CONSENTS),
        ],
        home,
    )
    yield home


def _postgres_database(request: pytest.FixtureRequest) -> str:
    """A throw-away PostgreSQL database for the module (the conftest one is per test)."""
    if not POSTGRES_URL:
        pytest.skip("CREDITGRAPH_TEST_POSTGRES_URL is not set")
    admin_url = make_url(POSTGRES_URL)
    name = f"cg_prop_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    request.addfinalizer(drop)
    return admin_url.set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("table", list(TABLES))
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_cell_values_are_stored_or_quarantined_and_the_counts_add_up(
    world_home: Settings, table: str, data: st.DataObject
) -> None:
    spec = TABLES[table]
    rows = data.draw(_rows(spec), label="rows")
    fmt = data.draw(st.sampled_from(FORMATS), label="format")
    columns = [c.name for c in spec.all_columns]
    folder = world_home.home_dir.parent / "in" / f"{next(_file_numbers):05d}"
    folder.mkdir(parents=True)
    path = _write(folder / f"{table}.{fmt}", fmt, columns, rows, data)
    before = _stored(world_home, table)

    report = ingest([path], world_home)  # never raises

    (counts,) = report.files
    assert counts.rows_read == len(rows)
    assert counts.rows_read == (
        counts.accepted + counts.updated + counts.duplicates + counts.quarantined
    )
    quarantined, noted, nulled = _quarantine(world_home, report.batch_id)
    assert len(quarantined) == len(set(quarantined)) == counts.quarantined
    assert set(quarantined) <= set(range(1, len(rows) + 1))
    # a nulled optional value is a note on a stored row, never a quarantined row
    assert len(noted) == len(set(noted)) and not set(noted) & set(quarantined)
    assert set(noted) <= set(range(1, len(rows) + 1))
    assert nulled == counts.nulled_fields
    assert _stored(world_home, table) - before == counts.accepted


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_whatever_an_optional_nullable_cell_holds_the_row_is_stored(
    world_home: Settings, data: st.DataObject
) -> None:
    """Only required fields (and the few optional ones whose loss would change the row's
    meaning) refuse a row: any gender, name, phone or reported_at leaves it stored."""
    table = data.draw(st.sampled_from(["persons", "external_loans"]), label="table")
    spec = TABLES[table]
    lenient = [c.name for c in spec.all_columns if c.nulls_when_invalid]
    changes = st.dictionaries(st.sampled_from(lenient), ARBITRARY, min_size=1)
    base = st.sampled_from(_good_rows(spec))
    rows = data.draw(
        st.lists(st.builds(lambda b, c: {**b, **c}, base, changes), min_size=1, max_size=4),
        label="rows",
    )
    columns = [c.name for c in spec.all_columns]
    folder = world_home.home_dir.parent / "in" / f"{next(_file_numbers):05d}"
    folder.mkdir(parents=True)
    path = _write(folder / f"{table}.csv", "csv", columns, rows, data)

    (counts,) = ingest([path], world_home).files

    assert counts.quarantined == 0
    assert counts.rows_read == len(rows) == counts.accepted + counts.updated + counts.duplicates
