"""The event contract v1: valid events of every type, each bad-event rule, and the door's pseudonyms."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from creditgraph.contracts.schema import Namespace
from creditgraph.ingest.service import ingest
from creditgraph.monitoring.docs import render_markdown
from creditgraph.monitoring.door import Door, phone_digits
from creditgraph.monitoring.events import (
    DPD_BUCKETS,
    EVENT_SPECS,
    Category,
    EventType,
    event_spec,
)
from creditgraph.monitoring.validate import (
    RULES,
    EventError,
    ValidationResult,
    is_content_name,
    validate_batch,
)
from creditgraph.servicing.delinquency import Bucket
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import Person
from tests import world
from tests.conftest import REPO_ROOT
from tests.identities import pseudonyms

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

TYPE_FIELDS: dict[str, dict[str, Any]] = {
    "tie_added": {"other_person_id": "P2", "kind": "friend"},
    "tie_ended": {"other_person_id": "P2", "kind": "Family"},
    "interaction_batch": {
        "other_person_id": "P2",
        "kind": "transfer",
        "period_start": "2026-11-30T00:00:00+08:00",
        "count": 3,
        "amount": "12.50",
    },
    "activity_day": {"date": "2026-11-30", "active_minutes": 95, "posts": 2, "logins": 4},
    "device_seen": {"device_id": "DEV-A"},
    "phone_changed": {"phone": "138 1234 5678", "previous_phone": "+86 139-0000-0000"},
    "external_loan_reported": {
        "lender": "Other Lender",
        "opened_at": "2026-10-01T09:00:00Z",
        "amount": "5000",
        "status": "open",
        "max_dpd": 0,
    },
    "credit_inquiry": {"inquirer": "Bank A", "reason": "loan_application"},
    "income_summary": {
        "period_start": "2026-11-01",
        "period_end": "2026-11-30",
        "amount": "8000.05",
    },
    "transfer_summary": {
        "period_start": "2026-11-01",
        "period_end": "2026-11-30",
        "incoming_amount": "1200.00",
        "incoming_count": 6,
        "outgoing_amount": "300.1",
        "outgoing_count": 2,
    },
    "repayment_posted": {
        "loan_id": "L-1",
        "posting_id": "PST-9",
        "amount": "350.00",
        "remaining_due": "0",
    },
    "instalment_missed": {
        "loan_id": "L-1",
        "instalment": 3,
        "due_date": "2026-12-01",
        "amount_due": "350.00",
        "amount_paid": "100.00",
    },
    "dpd_bucket_changed": {"loan_id": "L-1", "from_bucket": "M0", "to_bucket": "m1", "dpd": 1},
    "loan_written_off": {"loan_id": "L-1", "amount": "4200.00"},
}


def make_event(event_type: str, event_id: str = "e-1", **changes: Any) -> dict[str, Any]:
    """A valid event of ``event_type``; ``changes`` set fields, and a value of ``...`` drops one."""
    source = "servicing" if EVENT_SPECS[event_type].category is Category.SERVICING else "wechat"
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": event_type,
        "person_id": "P1",
        "occurred_at": "2026-12-02T08:30:00+08:00",
        "source": source,
        "version": 1,
        **TYPE_FIELDS[event_type],
    }
    for name, value in changes.items():
        if value is ...:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def only_error(result: ValidationResult) -> EventError:
    assert not result.events
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def test_the_contract_has_every_issued_type() -> None:
    assert set(EVENT_SPECS) == set(TYPE_FIELDS) == {t.value for t in EventType}
    categories = {t: EVENT_SPECS[t].category for t in EVENT_SPECS}
    assert [t for t, c in categories.items() if c is Category.SOCIAL] == [
        "tie_added",
        "tie_ended",
        "interaction_batch",
        "activity_day",
        "device_seen",
        "phone_changed",
    ]
    for spec in EVENT_SPECS.values():
        gated = spec.gate is not None
        assert gated == (spec.category is Category.SOCIAL or spec.type.value.endswith("_summary"))
        assert gated or spec.gate_note, spec.type
        assert all(f.kind != "string" or f.max_length for f in spec.all_fields)
    with pytest.raises(KeyError, match="unknown event type 'nope'"):
        event_spec("nope")


def test_dpd_buckets_are_servicings() -> None:
    assert tuple(b.value for b in Bucket) == DPD_BUCKETS


@pytest.mark.parametrize("event_type", list(TYPE_FIELDS))
def test_a_valid_event_of_every_type_is_typed(event_type: str) -> None:
    result = validate_batch([make_event(event_type)], NOW)
    assert result.ok and result.received == 1
    (event,) = result.events
    assert event.type is EventType(event_type)
    assert event.event_id == "e-1" and event.person_id == "P1" and event.version == 1
    assert event.occurred_at == datetime(2026, 12, 2, 0, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert set(event.values) == set(make_event(event_type))


def test_values_are_typed_money_in_fen_times_in_utc() -> None:
    batch = [
        make_event("interaction_batch", "a"),
        make_event("transfer_summary", "b"),
        make_event("dpd_bucket_changed", "c"),
        make_event("instalment_missed", "d"),
        make_event("tie_ended", "e"),
    ]
    result = validate_batch(batch, NOW)
    assert result.ok
    interaction, transfers, bucket, missed, ended = result.events
    assert interaction.get("amount") == 1250 and interaction.get("count") == 3
    assert interaction.get("period_start") == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    assert transfers.get("outgoing_amount") == 30010
    assert transfers.get("period_end") == date(2026, 11, 30)
    assert (bucket.get("from_bucket"), bucket.get("to_bucket")) == ("M0", "M1")
    assert missed.get("amount_due") == 35000 and missed.get("due_date") == date(2026, 12, 1)
    assert ended.get("kind") == "family"
    assert [e.event_id for e in result.events] == ["a", "b", "c", "d", "e"]


BAD_CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # (type, changes, field, rule, words the message must contain)
    ("tie_added", {"type": "tie_removed"}, "type", "unknown_type", "type must be one of"),
    ("tie_added", {"type": ...}, "type", "required", "type is required"),
    ("tie_added", {"other_person_id": ...}, "other_person_id", "required", "is required"),
    ("tie_added", {"source": "  "}, "source", "required", "source is required"),
    ("tie_added", {"occurred_at": None}, "occurred_at", "required", "is required"),
    ("activity_day", {"posts": "2"}, "posts", "type", "must be an integer, not a string"),
    ("activity_day", {"posts": 2.0}, "posts", "type", "not a number"),
    ("activity_day", {"posts": True}, "posts", "type", "not a boolean"),
    ("activity_day", {"active_minutes": 1441}, "active_minutes", "maximum", "at most 1440"),
    ("activity_day", {"logins": -1}, "logins", "minimum", "at least 0"),
    ("activity_day", {"date": "30/11/2026"}, "date", "type", "YYYY-MM-DD"),
    ("tie_added", {"occurred_at": "yesterday"}, "occurred_at", "type", "ISO 8601"),
    ("tie_added", {"occurred_at": "2026-12-02T08:30:00"}, "occurred_at", "timezone", "offset"),
    (
        "tie_added",
        {"occurred_at": "0001-01-01T00:00:00+08:00"},
        "occurred_at",
        "out_of_range",
        "9999",
    ),
    ("tie_added", {"occurred_at": "2026-02-30T00:00:00Z"}, "occurred_at", "type", "ISO 8601"),
    ("tie_added", {"kind": "enemy"}, "kind", "allowed", "must be one of friend"),
    ("tie_added", {"person_id": "x" * 201}, "person_id", "max_length", "at most 200"),
    ("tie_added", {"person_id": "P\x001"}, "person_id", "nul_character", "NUL"),
    ("phone_changed", {"phone": "call me"}, "phone", "pattern", "must match"),
    (
        "income_summary",
        {"amount": 8000.05},
        "amount",
        "type",
        'decimal string of yuan such as "12.50"',
    ),
    ("income_summary", {"amount": "8000.055"}, "amount", "decimals", "at most 2 decimals"),
    ("income_summary", {"amount": "12e3"}, "amount", "type", "decimal string"),
    ("income_summary", {"amount": "-1.00"}, "amount", "minimum", "at least 0.00"),
    ("income_summary", {"amount": "9" * 30}, "amount", "out_of_range", "too large"),
    ("external_loan_reported", {"amount": "0"}, "amount", "minimum", "at least 0.01"),
    ("tie_added", {"version": 2}, "version", "version", "version 2 is not described; send 1"),
    ("tie_added", {"version": "1"}, "version", "type", "must be an integer"),
    ("tie_added", {"version": ...}, "version", "required", "version is required"),
    ("tie_added", {"weight": 3}, "weight", "extra_field", "weight is not a field of tie_added"),
    ("device_seen", {"kind": "friend"}, "kind", "extra_field", "not a field of device_seen"),
    ("tie_added", {"other_person_id": "P1"}, "other_person_id", "self_tie", "must differ"),
    ("repayment_posted", {"source": "wechat"}, "source", "source", "source must be servicing"),
    (
        "interaction_batch",
        {"kind": "like"},
        "amount",
        "amount_only_for_transfers",
        "forbidden otherwise",
    ),
    (
        "interaction_batch",
        {"amount": ...},
        "amount",
        "amount_only_for_transfers",
        "required for transfer",
    ),
    (
        "interaction_batch",
        {"period_start": "2026-12-03T00:00:00Z"},
        "period_start",
        "period_order",
        "not be after occurred_at",
    ),
    ("activity_day", {"date": "2026-12-03"}, "date", "date_not_after_event", "not be after"),
    ("income_summary", {"period_end": "2026-10-31"}, "period_end", "period_order", "precede"),
    (
        "external_loan_reported",
        {"opened_at": "2026-12-05T00:00:00Z"},
        "opened_at",
        "opened_not_after_event",
        "not be after",
    ),
    ("instalment_missed", {"amount_paid": "350"}, "amount_paid", "paid_below_due", "below"),
    ("dpd_bucket_changed", {"to_bucket": "m0"}, "to_bucket", "bucket_changed", "differ"),
]


@pytest.mark.parametrize(
    ("event_type", "changes", "field", "rule", "words"),
    BAD_CASES,
    ids=[f"{c[0]}-{c[3]}-{c[2]}" for c in BAD_CASES],
)
def test_each_bad_event_rule_names_field_rule_and_cause(
    event_type: str, changes: dict[str, Any], field: str, rule: str, words: str
) -> None:
    good = make_event(event_type, "ok-0")
    bad = make_event(event_type, "bad-1", **changes)
    result = validate_batch([good, bad], NOW)
    assert [e.event_id for e in result.events] == ["ok-0"]
    error = only_error(ValidationResult((), result.errors, 2))
    assert (error.index, error.event_id, error.field, error.rule) == (1, "bad-1", field, rule)
    assert words in error.message
    assert rule in RULES or rule in {r.name for r in EVENT_SPECS[event_type].rules}


def test_an_event_reports_every_broken_field_at_once() -> None:
    bad = make_event("activity_day", posts=-1, logins="x", extra=1, date=...)
    result = validate_batch([bad], NOW)
    assert {(e.field, e.rule) for e in result.errors} == {
        ("posts", "minimum"),
        ("logins", "type"),
        ("extra", "extra_field"),
        ("date", "required"),
    }
    assert all(e.index == 0 and e.event_id == "e-1" for e in result.errors)


def test_not_an_object_and_no_event_id() -> None:
    anonymous = make_event("tie_added")
    del anonymous["event_id"]
    result = validate_batch(["tie_added", anonymous], NOW)
    first, second = result.errors
    assert (first.index, first.event_id, first.rule) == (0, None, "not_an_object")
    assert first.message == "event must be an object, not a string"
    assert (second.index, second.event_id, second.field, second.rule) == (
        1,
        None,
        "event_id",
        "required",
    )


@pytest.mark.parametrize(
    "name", ["text", "content", "message_body", "msgBody", "Messages", "raw_text", "body2"]
)
def test_message_content_is_refused_and_never_echoed(name: str) -> None:
    secret = "借我点钱 please"
    result = validate_batch([make_event("interaction_batch", **{name: secret})], NOW)
    error = only_error(result)
    assert (error.field, error.rule) == (name, "content")
    assert "never content" in error.message
    assert secret not in repr(result.errors)


def test_content_words_do_not_catch_innocent_names() -> None:
    assert not any(
        is_content_name(n) for n in ("context", "textile_count", "somebody", "kind", "count")
    )
    assert is_content_name("messageCount") and is_content_name("TEXT")


def test_error_messages_never_repeat_values() -> None:
    batch = [
        make_event("tie_added", person_id="SECRET-ID-" + "9" * 200),
        make_event("tie_added", "e-2", kind="SECRET-KIND"),
        make_event("income_summary", "e-3", amount="SECRET"),
    ]
    result = validate_batch(batch, NOW)
    assert len(result.errors) == 3
    assert "SECRET" not in repr(result.errors)


def test_future_occurred_at_is_refused_relative_to_now() -> None:
    just_now = make_event("device_seen", "a", occurred_at="2026-12-07T20:00:00+08:00")
    later = make_event("device_seen", "b", occurred_at="2026-12-07T12:00:01Z")
    result = validate_batch([just_now, later], NOW)
    assert [e.event_id for e in result.events] == ["a"]
    error = only_error(ValidationResult((), result.errors, 2))
    assert (error.index, error.event_id, error.field, error.rule) == (
        1,
        "b",
        "occurred_at",
        "future",
    )
    assert validate_batch([later], NOW, clock_tolerance=timedelta(seconds=1)).ok
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_batch([later], NOW.replace(tzinfo=None))


def test_a_repeated_event_id_is_refused_after_its_first_appearance() -> None:
    batch = [
        make_event("device_seen", "dup"),
        make_event("tie_added", "other"),
        make_event("credit_inquiry", " dup "),
        make_event("credit_inquiry", "dup", reason="nope"),
    ]
    result = validate_batch(batch, NOW)
    assert [e.event_id for e in result.events] == ["dup", "other"]
    assert [(e.index, e.event_id, e.rule) for e in result.errors] == [
        (2, "dup", "duplicate_event_id"),
        (3, "dup", "duplicate_event_id"),
        (3, "dup", "allowed"),
    ]
    assert result.refused_indexes == {2, 3}


def test_events_page_is_current() -> None:
    page = (REPO_ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert page == render_markdown(), "run: make docs"
    for event_type in EVENT_SPECS:
        assert f"### `{event_type}`" in page
    for rule in RULES:
        assert f"| `{rule}` |" in page


def test_the_contract_and_validation_are_pure() -> None:
    code = (
        "import sys\n"
        "import creditgraph.monitoring.validate, creditgraph.monitoring.docs\n"
        "bad = ('sqlalchemy', 'duckdb', 'fastapi', 'starlette', 'pathlib', 'tomllib', 'shutil',"
        " 'creditgraph.store', 'creditgraph.settings', 'creditgraph.configfile', 'creditgraph.duck')\n"
        "print(sorted(m for m in sys.modules if m.startswith(bad)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def lake_rows(settings: Settings, table: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for part in sorted((settings.lake_dir / table).glob("batch=*/*.parquet")):
        rows.extend(pq.read_table(part).to_pylist())
    return rows


def test_door_pseudonyms_equal_ingests(tmp_path: Path, sqlite_settings: Settings) -> None:
    ingest(world.write_world(tmp_path / "in"), sqlite_settings)
    engine = make_engine(sqlite_settings.database_url)
    with engine.connect() as conn:
        ids = pseudonyms(engine)
        p1_phone = conn.execute(
            select(Person.phone_pseudonym).where(Person.person_id == ids["P1"])
        ).scalar_one()
    engine.dispose()
    devices = {(r["person_id"], r["device_id"]) for r in lake_rows(sqlite_settings, "devices")}

    batch = [
        make_event("tie_added", "a"),
        make_event("device_seen", "b"),
        make_event("phone_changed", "c"),
        make_event("instalment_missed", "d"),
    ]
    result = validate_batch(batch, NOW)
    assert result.ok
    door = Door.from_settings(sqlite_settings)
    tie, device, phone, missed = door.pseudonymise_all(result.events)

    assert tie.person_id == tie.get("person_id") == ids["P1"]
    assert tie.get("other_person_id") == ids["P2"]
    assert (device.person_id, device.get("device_id")) in devices
    assert phone.get("phone") == p1_phone  # "138 1234 5678" is ingest's 13812345678
    assert phone.get("previous_phone") == door.identifier(Namespace.PHONE, "8613900000000")
    assert missed.get("loan_id") == "L-1" and missed.get("amount_due") == 35000
    # nothing but identifiers changes, and no raw identifier passes the door
    for before, after in zip(result.events, (tie, device, phone, missed), strict=True):
        changed = {k for k in before.values if before.values[k] != after.values[k]}
        assert changed == {f.name for f in before.spec.all_fields if f.pseudonymise} & set(
            before.values
        )
        assert not set(map(str, after.values.values())) & world.RAW_IDS
        assert after.event_id == before.event_id and after.occurred_at == before.occurred_at


def test_phone_digits_match_ingest() -> None:
    from creditgraph.ingest.service import _digits

    for phone in ("+86 138-0000-0000", "8613800000000", "138 1234 5678"):
        assert phone_digits(phone) == _digits(phone)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0", 0),
        ("1.", 100),
        ("300.1", 30010),
        (" 12.50 ", 1250),
        ("12.500", 1250),
        ("+5", 500),
        ("0.01", 1),
        ("92233720368547758.07", 2**63 - 1),
    ],
)
def test_money_text_becomes_exact_fen(text: str, fen: int) -> None:
    result = validate_batch([make_event("loan_written_off", amount=text)], NOW)
    assert result.ok, result.errors
    assert result.events[0].get("amount") == fen


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("0.001", "decimals"),
        ("92233720368547758.08", "out_of_range"),
        ("1,000", "type"),
        ("", "required"),
    ],
)
def test_money_text_refused(text: str, rule: str) -> None:
    error = only_error(validate_batch([make_event("loan_written_off", amount=text)], NOW))
    assert (error.field, error.rule) == ("amount", rule)
