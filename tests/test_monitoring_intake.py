"""Events in: validation, pseudonymisation at the door, unknown and erased people, the consent
gate, and publication to the outbox; through the service, the CLI and ``POST /v1/events``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from creditgraph.contracts.schema import Namespace
from creditgraph.monitoring.door import Door
from creditgraph.monitoring.intake import submit_events
from creditgraph.store.db import migrated_engine
from creditgraph.store.event_outbox import OUTBOX
from creditgraph.store.models import Consent, table_of
from tests.monitor_world import Events, MonitorWorld, monitor_world

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
AT = NOW - timedelta(days=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> MonitorWorld:
    return monitor_world(tmp_path_factory.mktemp("intake"), people=60, seed=11)


def _outbox(world: MonitorWorld) -> list[dict]:
    with migrated_engine(world.settings.database_url) as engine, engine.connect() as conn:
        return [row for (row,) in conn.execute(select(OUTBOX.c.payload).order_by(OUTBOX.c.offset))]


def test_batch_keeps_the_good_refuses_the_bad_by_reason(world: MonitorWorld) -> None:
    ev = Events("batch")
    (alice, source), (bob, _) = world.consented(AT)[:2]
    batch = [
        ev.activity(alice, AT, source),  # 0 good
        ev("tie_added", alice, AT, source, other_person_id=bob, kind="friend"),  # 1 good
        ev.activity(alice, AT, "some-other-app"),  # 2 no consent from this source
        ev.activity("NOT-A-PERSON", AT, source),  # 3 unknown
        ev.activity(alice, NOW + timedelta(days=1), source),  # 4 future
        {"event_id": "x", "type": "activity_day", "person_id": alice},  # 5 missing fields
        ev(
            "repayment_posted",
            alice,
            AT,
            "servicing",
            loan_id="L1",
            posting_id="p1",
            amount="10.00",
            remaining_due="0.00",
        ),  # 6 only servicing writes these
        ev("credit_inquiry", alice, AT, "bureau", inquirer="bank-x", reason="credit_card"),  # 7
    ]
    with migrated_engine(world.settings.database_url) as engine:
        before = len(_outbox(world))
        result = submit_events(engine, Door.from_settings(world.settings), batch, now=NOW)
    assert result.received == 8
    assert result.accepted == 3  # 0, 1 and 7 (a financial inquiry needs no social consent)
    rules = {(e.index, e.rule) for e in result.errors}
    assert (2, "no_consent") in rules
    assert (3, "unknown_person") in rules
    assert (4, "future") in rules
    assert any(index == 5 and rule == "required" for index, rule in rules)
    assert (6, "servicing_only") in rules
    assert result.refused["no_consent"] == 1 and result.refused["unknown_person"] == 1
    assert result.refused["invalid"] == 2 and result.refused["servicing_only"] == 1
    stored = _outbox(world)[before:]
    assert [p["event_id"] for p in stored] == [
        batch[0]["event_id"],
        batch[1]["event_id"],
        batch[7]["event_id"],
    ]
    door = Door.from_settings(world.settings)
    # pseudonymised at the door: no raw identifier reaches the bus
    assert stored[0]["person_id"] == door.identifier(Namespace.PERSON, alice)
    assert stored[1]["other_person_id"] == door.identifier(Namespace.PERSON, bob)
    assert alice not in json.dumps(stored) and bob not in json.dumps(stored)


def test_revoked_and_expired_consent_refuse_at_occurred_at(world: MonitorWorld) -> None:
    ev = Events("consent")
    person, source = world.consented(AT)[5]
    door = Door.from_settings(world.settings)
    pseudonym = door.identifier(Namespace.PERSON, person)
    consents = table_of(Consent)
    with migrated_engine(world.settings.database_url) as engine:
        with engine.begin() as conn:
            conn.execute(
                update(consents)
                .where(consents.c.person_id == pseudonym, consents.c.source == source)
                .values(revoked_at=(AT - timedelta(days=1)).replace(tzinfo=None))
            )
        before_revocation = AT - timedelta(days=3)
        result = submit_events(
            engine,
            door,
            [ev.activity(person, AT, source), ev.activity(person, before_revocation, source)],
            now=NOW,
        )
        # the gate looks at occurred_at: the event from before the revocation still passes
        assert result.accepted == 1
        assert [(e.index, e.rule) for e in result.errors] == [(0, "consent_revoked")]
        with engine.begin() as conn:
            conn.execute(
                update(consents)
                .where(consents.c.person_id == pseudonym, consents.c.source == source)
                .values(revoked_at=None, expires_at=(AT - timedelta(days=1)).replace(tzinfo=None))
            )
        result = submit_events(engine, door, [ev.activity(person, AT, source)], now=NOW)
        assert [(e.index, e.rule) for e in result.errors] == [(0, "consent_expired")]
        assert result.refused["consent_expired"] == 1


def test_erased_person_is_dropped_and_reported_as_unknown(world: MonitorWorld) -> None:
    from creditgraph.privacy.erasure import erase

    ev = Events("erased")
    (gone, source), (friend, _) = world.consented(AT)[10:12]
    door = Door.from_settings(world.settings)
    with migrated_engine(world.settings.database_url) as engine:
        erase(engine, door.identifier(Namespace.PERSON, gone), request_ref="test")
        result = submit_events(
            engine,
            door,
            [
                ev.activity(gone, AT, source),
                ev("tie_added", friend, AT, source, other_person_id=gone, kind="friend"),
            ],
            now=NOW,
        )
    assert result.accepted == 0
    # the sender is not told of the erasure; the count says it
    assert [(e.index, e.field, e.rule) for e in result.errors] == [
        (0, "person_id", "unknown_person"),
        (1, "other_person_id", "erased_person"),
    ]
    assert result.refused["erased_person"] == 2


def test_cli_ingests_a_file_naming_the_lines_it_refused(
    world: MonitorWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.cli.main import app

    ev = Events("file")
    person, source = world.consented(AT)[20]
    lines = [
        json.dumps(ev.activity(person, AT, source)),
        "{not json",
        json.dumps(ev.activity("NOBODY", AT, source)),
        json.dumps(ev.activity(person, AT - timedelta(days=1), source)),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    errors = tmp_path / "refused.jsonl"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(world.settings.home))
    result = CliRunner().invoke(app, ["events", "ingest", str(path), "--errors", str(errors)])
    assert result.exit_code == 0, result.output
    assert "accepted" in result.stdout and "2" in result.stdout
    refused = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["line"], r["rule"]) for r in refused] == [(2, "json"), (3, "unknown_person")]
    assert "line 2: -: json" in result.stderr
    # a file of nothing acceptable exits 3; a missing file exits 2 with one line
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ev.activity("NOBODY", AT, source)) + "\n")
    assert CliRunner().invoke(app, ["events", "ingest", str(bad)]).exit_code == 3
    missing = CliRunner().invoke(app, ["events", "ingest", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.output


def test_an_outside_id_shaped_like_servicings_is_refused(world: MonitorWorld) -> None:
    person, source = world.consented(AT)[30]
    event = Events("x").activity(person, AT, source)
    event["event_id"] = "writeoff:L00000001"  # would shadow servicing's write-off of that loan
    with migrated_engine(world.settings.database_url) as engine:
        result = submit_events(engine, Door.from_settings(world.settings), [event], now=NOW)
    assert result.accepted == 0
    assert [(e.field, e.rule) for e in result.errors] == [("event_id", "servicing_only")]
