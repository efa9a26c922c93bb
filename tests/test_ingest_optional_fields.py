"""Invalid optional values, undated external-loan reports and the quarantine's size limits.

An invalid optional value (a gender of ``M``) is nulled with a note instead of refusing the row,
so one typo no longer loses a person and every social row about them; required fields still
refuse it. A report without ``reported_at`` is counted when it is dated at ingest time, and can
be dated at its ``opened_at`` for historical loads. Long refused values are cut in the quarantine.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from creditgraph.ingest.quarantine import HEAD, LONGEST_VALUE, REDACTED
from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import Consent, ExternalLoan, Person
from tests import world
from tests.identities import identity, pseudonyms


def _entries(settings: Settings, batch_id: str) -> list[dict[str, Any]]:
    out = []
    for f in sorted((settings.quarantine_dir / batch_id).glob("*.jsonl")):
        out.extend(json.loads(line) for line in f.read_text(encoding="utf-8").splitlines())
    return out


def _persons(**changes: dict[int, str]) -> list[list[str]]:
    """The world's persons with cells changed: ``gender={0: "M"}`` sets P1's gender."""
    rows = [list(r) for r in world.PERSONS]
    for column, by_row in changes.items():
        index = world.PERSON_COLUMNS.index(column)
        for row, value in by_row.items():
            rows[row][index] = value
    return rows


def _stored_people(settings: Settings) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            genders = dict(conn.execute(select(Person.person_id, Person.gender)).all())
        found = {
            external: (genders[person], identity(engine, person).phone)
            for external, person in pseudonyms(engine).items()
        }
    finally:
        engine.dispose()
    return found


def test_an_invalid_gender_is_nulled_and_the_person_and_their_social_rows_are_kept(
    tmp_path: Path, settings: Settings
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    persons = world.write_csv(
        folder / "persons.csv", world.PERSON_COLUMNS, _persons(gender={0: "M"})
    )
    consents = world.write_csv(folder / "consents.csv", world.CONSENT_COLUMNS, world.CONSENTS)
    ties = world.write_csv(folder / "ties.csv", world.TIE_COLUMNS, world.TIES)

    report = ingest([persons, consents, ties], settings)

    counts = report.by_table()
    assert counts["persons"]["accepted"] == 4
    assert counts["persons"]["quarantined"] == 0
    assert counts["persons"]["nulled_fields"] == 1
    assert counts["ties"]["accepted"] == world.EXPECTED_ACCEPTED["ties"]
    assert report.nulled() == {"gender:allowed": 1}
    assert _stored_people(settings)["P1"] == (None, "13812345678")
    (note,) = [e for e in _entries(settings, report.batch_id) if e["table"] == "persons"]
    assert note["file"] == str(persons) and note["table"] == "persons" and note["row"] == 1
    assert note["stored"] is True and "errors" not in note
    assert [(p["field"], p["rule"]) for p in note["nulled"]] == [("gender", "allowed")]
    assert note["nulled"][0]["message"].startswith("gender must be one of")
    assert note["record"]["gender"] == "M"
    assert note["record"]["name"] == REDACTED and note["record"]["phone"] == REDACTED


def test_a_badly_formed_phone_is_nulled_and_never_written_in_the_clear(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    rows = _persons(phone={0: "12-ab"})
    path = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, rows)

    report = ingest([path], sqlite_settings)

    (counts,) = report.files
    assert (counts.accepted, counts.quarantined, counts.nulled_fields) == (4, 0, 1)
    assert _stored_people(sqlite_settings)["P1"] == ("female", None)
    (note,) = _entries(sqlite_settings, report.batch_id)
    assert [(p["field"], p["rule"]) for p in note["nulled"]] == [("phone", "phone_format")]
    assert note["record"]["phone"] == REDACTED
    text = (sqlite_settings.quarantine_dir / report.batch_id).glob("*.jsonl")
    assert all("12-ab" not in f.read_text(encoding="utf-8") for f in text)


def test_an_invalid_required_value_still_refuses_the_row_and_names_every_problem(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    rows = _persons(segment={1: "alien"}, gender={1: "M"})
    path = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, rows)

    report = ingest([path], sqlite_settings)

    (counts,) = report.files
    assert (counts.accepted, counts.quarantined, counts.nulled_fields) == (3, 1, 0)
    (entry,) = _entries(sqlite_settings, report.batch_id)
    assert entry["row"] == 2 and "stored" not in entry
    assert {(p["field"], p["rule"]) for p in entry["errors"]} == {
        ("segment", "allowed"),
        ("gender", "allowed"),
    }


def test_an_invalid_revocation_time_refuses_the_consent_rather_than_dropping_the_revocation(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    persons = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, world.PERSONS)
    rows = [list(r) for r in world.CONSENTS]
    rows[0][world.CONSENT_COLUMNS.index("revoked_at")] = "not-a-time"
    consents = world.write_csv(tmp_path / "consents.csv", world.CONSENT_COLUMNS, rows)

    report = ingest([persons, consents], sqlite_settings)

    counts = report.by_table()["consents"]
    assert (counts["quarantined"], counts["nulled_fields"]) == (1, 0)
    engine = make_engine(sqlite_settings.database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(Consent.id)).all()
    engine.dispose()
    assert len(stored) == len(world.CONSENTS) - 1


def _loans(settings: Settings) -> list[tuple[datetime, datetime]]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(ExternalLoan.opened_at, ExternalLoan.reported_at).order_by(
                    ExternalLoan.opened_at
                )
            ).all()
    finally:
        engine.dispose()
    return [(opened, reported) for opened, reported in found]


def _loan_files(folder: Path) -> list[Path]:
    folder.mkdir()
    return [
        world.write_csv(folder / "persons.csv", world.PERSON_COLUMNS, world.PERSONS),
        world.write_csv(
            folder / "external_loans.csv", world.EXTERNAL_LOAN_COLUMNS, world.EXTERNAL_LOANS
        ),
    ]


NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def test_an_undated_external_loan_report_is_counted_as_dated_at_ingest_time(
    tmp_path: Path, settings: Settings
) -> None:
    report = ingest(_loan_files(tmp_path / "in"), settings, clock=lambda: NOW)

    counts = report.by_table()["external_loans"]
    assert (counts["dated_at_ingest"], counts["dated_at_opened"]) == (1, 0)
    assert report.dated_at_ingest() == 1
    undated = _loans(settings)[-1]  # P4's loan, opened 2024-08-01, sent without reported_at
    assert undated[1] == NOW.replace(tzinfo=None)


def test_reported_at_default_opened_at_dates_an_undated_report_at_its_opening(
    tmp_path: Path, settings: Settings
) -> None:
    files = _loan_files(tmp_path / "in")
    report = ingest(files, settings, clock=lambda: NOW, reported_at_default="opened_at")

    counts = report.by_table()["external_loans"]
    assert (counts["dated_at_ingest"], counts["dated_at_opened"]) == (0, 1)
    opened, reported = _loans(settings)[-1]
    assert reported == opened
    again = ingest(files, settings, reported_at_default="opened_at")
    assert again.by_table()["external_loans"]["duplicates"] == len(world.EXTERNAL_LOANS)


def test_an_undated_report_of_an_unknown_person_is_not_counted_as_dated(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    rows = [["X-999", "lender-z", "2024-08-01", "800", "open", "0", ""]]
    path = world.write_csv(tmp_path / "external_loans.csv", world.EXTERNAL_LOAN_COLUMNS, rows)

    report = ingest([path], sqlite_settings)

    counts = report.by_table()["external_loans"]
    assert (counts["quarantined"], counts["dated_at_ingest"]) == (1, 0)


def test_a_refused_value_over_1000_characters_is_cut_in_the_quarantine_with_its_length_and_hash(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    huge = "职" * 3_000_000  # 9 MB of UTF-8
    edge = "e" * LONGEST_VALUE
    rows = _persons(occupation={0: huge, 1: edge})
    path = world.write_csv(tmp_path / "persons.csv", world.PERSON_COLUMNS, rows)

    report = ingest([path], sqlite_settings)

    (counts,) = report.files
    assert (counts.accepted, counts.quarantined) == (2, 2)
    entries = {e["row"]: e for e in _entries(sqlite_settings, report.batch_id)}
    digest = hashlib.sha256(huge.encode()).hexdigest()
    assert entries[1]["record"]["occupation"] == (
        "职" * HEAD + f"…[truncated: {len(huge)} characters, sha256 {digest}]"
    )
    assert entries[2]["record"]["occupation"] == edge  # at the limit: kept whole
    size = sum(f.stat().st_size for f in (sqlite_settings.quarantine_dir).rglob("*.jsonl"))
    assert size < 5_000


def test_a_refused_row_of_a_typed_parquet_file_keeps_its_typed_values_in_the_quarantine(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "persons.parquet"
    row = dict(zip(world.PERSON_COLUMNS, world.PERSONS[0], strict=True))
    table = pa.table(
        {
            **{c: [v, v] for c, v in row.items() if c not in ("registered_at", "birth_year")},
            "segment": ["salaried", "alien"],
            "person_id": ["P1", "P2"],
            "birth_year": pa.array([1990, 1985], pa.int64()),
            "registered_at": pa.array([NOW, NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)

    report = ingest([path], sqlite_settings)

    (counts,) = report.files
    assert (counts.accepted, counts.quarantined) == (1, 1)
    (entry,) = _entries(sqlite_settings, report.batch_id)
    assert entry["record"]["birth_year"] == 1985
    assert entry["record"]["registered_at"].startswith("2026-06-30")
