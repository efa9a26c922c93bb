"""Ingestion through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from creditgraph.ingest.errors import IngestInputError
from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import (
    Consent,
    ExternalLoan,
    IngestBatch,
    IngestFile,
    LoanOutcome,
    Person,
    PersonIdentity,
)
from tests import world
from tests.identities import identity, pseudonyms

DB_MODELS = {
    "persons": Person,
    "consents": Consent,
    "external_loans": ExternalLoan,
    "loan_outcomes": LoanOutcome,
}


def db_counts(settings: Settings) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
                for name, model in DB_MODELS.items()
            }
    finally:
        engine.dispose()


def lake_rows(settings: Settings, table: str) -> list[dict[str, object]]:
    files = sorted((settings.lake_dir / table).glob("batch=*/*.parquet"))
    rows: list[dict[str, object]] = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def quarantine_entries(settings: Settings, batch_id: str) -> list[dict[str, object]]:
    entries = []
    for f in sorted((settings.quarantine_dir / batch_id).glob("*.jsonl")):
        entries.extend(json.loads(line) for line in f.read_text().splitlines())
    return entries


def test_every_table_ingested_and_reingest_adds_nothing(tmp_path: Path, settings: Settings) -> None:
    files = world.write_world(tmp_path / "in")
    first = ingest(files, settings)
    accepted = {t: c["accepted"] for t, c in first.by_table().items()}
    assert accepted == world.EXPECTED_ACCEPTED
    before_db = db_counts(settings)
    assert before_db == {t: world.EXPECTED_ACCEPTED[t] for t in DB_MODELS}
    lake_before = {
        t: len(lake_rows(settings, t))
        for t in ("ties", "interactions", "devices", "activity_daily")
    }
    assert lake_before == {t: world.EXPECTED_ACCEPTED[t] for t in lake_before}

    second = ingest(files, settings)
    for table, counts in second.by_table().items():
        assert counts["accepted"] == 0, table
        assert counts["updated"] == 0, table
        assert counts["duplicates"] == world.EXPECTED_ACCEPTED[table], table
    assert db_counts(settings) == before_db
    assert {t: len(lake_rows(settings, t)) for t in lake_before} == lake_before

    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        batches = conn.execute(select(IngestBatch)).all()
        assert len(batches) == 2
        assert all(b.status == "done" for b in batches)
        assert batches[0].content_sha256 == batches[1].content_sha256
        assert len(batches[0].content_sha256) == 64
        assert conn.execute(select(func.count()).select_from(IngestFile)).scalar_one() == 16
    engine.dispose()


def test_consent_gate_keeps_only_consented_social_rows(tmp_path: Path, settings: Settings) -> None:
    report = ingest(world.write_world(tmp_path / "in"), settings)
    entries = quarantine_entries(settings, report.batch_id)
    refused = sorted(
        (e["table"], e["row"])
        for e in entries
        if any(p["rule"] == "no_consent" for p in e["errors"])
    )
    assert refused == [
        ("activity_daily", 3),
        ("devices", 3),
        ("interactions", 4),
        ("ties", 3),
        ("ties", 4),
        ("ties", 5),
        ("ties", 7),
    ]
    p3 = pseudonyms(settings.database_url)["P3"]
    for table, column in (
        ("ties", "src"),
        ("interactions", "src"),
        ("devices", "person_id"),
        ("activity_daily", "person_id"),
    ):
        assert all(r[column] != p3 for r in lake_rows(settings, table)), table


def test_no_raw_external_id_in_the_lake(tmp_path: Path, settings: Settings) -> None:
    ingest(world.write_world(tmp_path / "in"), settings)
    files = list(settings.lake_dir.rglob("*.parquet"))
    assert files
    for f in files:
        for row in pq.read_table(f).to_pylist():
            for value in row.values():
                assert str(value) not in world.RAW_IDS, (f, row)
    text = " ".join(str(p) for p in settings.lake_dir.rglob("*"))
    assert not any(raw in text for raw in ("P1", "DEV-A"))


def test_identity_and_money_stored_as_designed(tmp_path: Path, settings: Settings) -> None:
    ingest(world.write_world(tmp_path / "in"), settings)
    ids = pseudonyms(settings.database_url)
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        person = conn.execute(select(Person).where(Person.person_id == ids["P1"])).one()
        stored = conn.execute(
            select(PersonIdentity).where(PersonIdentity.person_id == ids["P1"])
        ).one()
    p1 = identity(engine, ids["P1"])
    p4 = identity(engine, ids["P4"])
    engine.dispose()
    assert p1.name == "李娜" and p1.phone == "13812345678"
    assert "李娜".encode() not in stored.name and b"13812345678" not in stored.phone
    assert b"P1" not in stored.external_id and b"800050" not in person.declared_monthly_income_enc
    assert len(p1.person_id) == 32 and p1.person_id != "P1"
    assert p1.declared_monthly_income_fen == 800050
    assert p4.declared_monthly_income_fen == 300010
    assert person.phone_pseudonym and person.phone_pseudonym != "13812345678"
    transfers = [
        r for r in lake_rows(settings, "interactions") if r["kind"] in ("transfer", "red_packet")
    ]
    assert sorted(r["amount_fen"] for r in transfers) == [888, 20000]


def test_bad_rows_are_quarantined_and_good_rows_kept(tmp_path: Path, settings: Settings) -> None:
    path = world.write_csv(
        tmp_path / "persons.csv",
        world.PERSON_COLUMNS,
        [
            world.PERSONS[0],
            ["P5", "alien", "tier1", "1990", "", "x", "10", "2025-01-01", "", ""],
            ["P6", "salaried", "tier1", "1990", "", "x", "12.345", "2025-01-01", "", ""],
            ["P7", "salaried", "tier1", "1990", "", "x", "10", "not-a-date", "", ""],
            ["", "salaried", "tier1", "1990", "", "x", "10", "2025-01-01", "", ""],
            ["P8", "salaried", "tier1", "2999", "", "x", "10", "2025-01-01", "", ""],
            world.PERSONS[1],
        ],
    )
    report = ingest([path], settings)
    counts = report.by_table()["persons"]
    assert counts == {
        "rows_read": 7,
        "accepted": 2,
        "updated": 0,
        "duplicates": 0,
        "quarantined": 5,
        "nulled_fields": 0,
    }
    entries = quarantine_entries(settings, report.batch_id)
    found = {(e["row"], p["field"], p["rule"]) for e in entries for p in e["errors"]}
    assert found == {
        (2, "segment", "allowed"),
        (3, "declared_monthly_income", "decimals"),
        (4, "registered_at", "type"),
        (5, "person_id", "required"),
        (6, "birth_year", "not_in_future"),
    }
    assert all(e["file"] == str(path) for e in entries)
    assert all(p["message"] for e in entries for p in e["errors"])


def test_ragged_csv_lines_get_exact_row_numbers(tmp_path: Path, sqlite_settings: Settings) -> None:
    path = tmp_path / "ties.csv"
    lines = [",".join(world.TIE_COLUMNS)]
    lines += [",".join(r) for r in world.TIES[:2]]
    lines.append("P1,P2,friend")  # row 3: too few fields
    lines.append(",".join(["P1", "P1", "friend", "wechat", "2025-02-01", ""]))  # row 4: self-loop
    path.write_text("\n".join(lines) + "\n")
    persons = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    consents = world.write_csv(tmp_path / "consents.csv", world.CONSENT_COLUMNS, world.CONSENTS)
    report = ingest([path, persons, consents], sqlite_settings)
    entries = [
        e for e in quarantine_entries(sqlite_settings, report.batch_id) if e["table"] == "ties"
    ]
    assert sorted((e["row"], e["errors"][0]["rule"]) for e in entries) == [
        (3, "malformed_row"),
        (4, "self_loop"),
    ]
    assert report.by_table()["ties"]["accepted"] == 2


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_other_formats_give_the_same_result(
    tmp_path: Path, sqlite_settings: Settings, fmt: str
) -> None:
    report = ingest(world.write_world(tmp_path / "in", fmt), sqlite_settings)
    assert {t: c["accepted"] for t, c in report.by_table().items()} == world.EXPECTED_ACCEPTED


def test_consent_revocation_arrives_as_an_update(tmp_path: Path, settings: Settings) -> None:
    ingest(world.write_world(tmp_path / "in"), settings)
    changed = [list(r) for r in world.CONSENTS]
    changed[0][5] = "2025-10-01"
    (tmp_path / "later").mkdir()
    path = world.write_csv(tmp_path / "later" / "consents.csv", world.CONSENT_COLUMNS, changed)
    report = ingest([path], settings)
    assert report.by_table()["consents"] == {
        "rows_read": 5,
        "accepted": 0,
        "updated": 1,
        "duplicates": 4,
        "quarantined": 0,
        "nulled_fields": 0,
    }


def test_duplicates_across_chunks_are_dropped(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = Settings(home=tmp_path / "home", ingest_chunk_rows=1000)
    rows = [
        ["P1", "P2", "message", f"2025-03-01T{h:02d}:{m:02d}:00", "1", ""]
        for h in range(24)
        for m in range(60)
    ]
    rows += rows[:700]  # repeated in a later chunk
    inter = world.write_csv(tmp_path / "interactions.csv", world.INTERACTION_COLUMNS, rows)
    persons = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    consents = world.write_csv(tmp_path / "consents.csv", world.CONSENT_COLUMNS, world.CONSENTS)
    report = ingest([inter, persons, consents], settings)
    counts = report.by_table()["interactions"]
    assert counts["accepted"] == 1440
    assert counts["duplicates"] == 700


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nothing.csv", "no such file"),
        (lambda d: _write(d / "mystery.csv", "a,b\n1,2\n"), "cannot tell the table"),
        (lambda d: _write(d / "ties.parquet", "not parquet at all"), "cannot be read as parquet"),
        (
            lambda d: _write(d / "ties.csv", "src,dst,kind\nP1,P2,friend\n"),
            "missing required column(s) source, created_at",
        ),
        (lambda d: _write(d / "ties.xlsx", "x"), "unknown file format"),
        (lambda d: _write(d / "ties.jsonl", "{oops\n"), "cannot be read as jsonl"),
    ],
)
def test_unreadable_input_writes_nothing(
    tmp_path: Path, sqlite_settings: Settings, make, message: str
) -> None:  # type: ignore[no-untyped-def]
    good = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    bad = make(tmp_path)
    with pytest.raises(IngestInputError) as caught:
        ingest([good, bad], sqlite_settings)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not sqlite_settings.home_dir.exists()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_pseudonym_key_is_private_and_stable(tmp_path: Path, sqlite_settings: Settings) -> None:
    files = world.write_world(tmp_path / "in")
    ingest(files, sqlite_settings)
    key = sqlite_settings.key_file
    assert key.stat().st_mode & 0o777 == 0o600
    first = sorted(r["src"] for r in lake_rows(sqlite_settings, "ties"))
    other = Settings(home=tmp_path / "other", db_url=f"sqlite:///{tmp_path / 'other.db'}")
    ingest(files, other)
    assert sorted(r["src"] for r in lake_rows(other, "ties")) != first  # a different key


def test_lake_is_queryable_by_duckdb_with_batch_partitions(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    report = ingest(world.write_world(tmp_path / "in"), sqlite_settings)
    glob = str(sqlite_settings.lake_dir / "ties" / "*" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT batch, count(*) FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY 1"
    ).fetchall()
    assert rows == [(report.batch_id, 4)]


def test_consent_gate_keeps_rows_in_input_order() -> None:
    """The gate's parallel join must not reorder rows: the lake's order feeds float sums."""
    from datetime import datetime, timedelta

    import pyarrow as pa

    from creditgraph.contracts.schema import TABLES
    from creditgraph.contracts.validate import ROW
    from creditgraph.ingest.consent_gate import CONSENT_RELATION, OK, apply_gate

    people = [f"p{i:05d}" for i in range(5_000)]
    start = datetime(2025, 1, 1)
    consents = pa.table(
        {
            "person_id": people,
            "source": ["app"] * len(people),
            "granted_at": pa.array([start] * len(people), pa.timestamp("us")),
            "expires_at": pa.array([None] * len(people), pa.timestamp("us")),
            "revoked_at": pa.array([None] * len(people), pa.timestamp("us")),
            "sensitive": [True] * len(people),
        }
    )
    n = 200_000
    rows = pa.table(
        {
            ROW: pa.array(range(n), pa.int64()),
            "src": [people[(i * 7919) % len(people)] for i in range(n)],
            "source": ["app"] * n,
            "kind": ["transfer", "message"] * (n // 2),
            "ts": pa.array(
                [start + timedelta(days=(i % 3) - 1) for i in range(n)], pa.timestamp("us")
            ),
        }
    )
    con = duckdb.connect()
    con.execute("SET threads = 4")
    con.register(CONSENT_RELATION, consents)
    for _ in range(3):
        gated = apply_gate(con, TABLES["interactions"], rows)
        assert gated[ROW].to_pylist() == list(range(n))
        assert gated[OK].to_pylist() == [(i % 3) != 0 for i in range(n)]
