"""``creditgraph simulate --events``: a valid, ordered, deterministic stream of the same world,
servicing's events apart, and a ground truth whose planted patterns show in the stream."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.monitoring import events as contract
from creditgraph.monitoring.events import Category
from creditgraph.monitoring.validate import validate_batch
from creditgraph.simulate import SimulationConfig, event_rows, simulate
from creditgraph.simulate.events import (
    EVENTS_DIR,
    EVENTS_FILE,
    EVENTS_TRUTH_FILE,
    SERVICING_FILE,
    event_window,
    write_events,
)
from creditgraph.simulate.world import build_world

runner = CliRunner()
CONFIG = SimulationConfig(people=2000, seed=5, fraud_share=0.01)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("events") / "world"
    simulate(CONFIG, out)
    world = build_world(CONFIG)
    # three months inside the application window, around the last ring's strike: applications,
    # a ring, missed instalments and defaults all fall in it
    strike = datetime.fromtimestamp(int(world.rings.strike_at.max()), UTC).date()
    start, end = event_window(world, 3, strike + timedelta(days=30))
    started = time.perf_counter()
    report = write_events(world, out, start=start, end=end)
    seconds = time.perf_counter() - started
    return {
        "out": out,
        "report": report,
        "seconds": seconds,
        "events": _read(out / EVENTS_DIR / EVENTS_FILE),
        "servicing": _read(out / EVENTS_DIR / SERVICING_FILE),
        "truth": json.loads((out / "_truth" / EVENTS_TRUTH_FILE).read_text(encoding="utf-8")),
    }


def test_window_is_the_last_months_up_to_the_end() -> None:
    world = build_world(CONFIG)
    start, end = event_window(world, 3)
    assert (start, end) == (
        datetime(2026, 4, 1, tzinfo=UTC),
        datetime(2026, 7, 1, tzinfo=UTC),
    )
    assert event_window(world, 2, date(2025, 6, 30))[0] == datetime(2025, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="last day"):
        event_window(world, 3, date(2026, 7, 1))
    with pytest.raises(ValueError, match="at least 1"):
        event_window(world, 0)


def test_every_event_passes_the_contract_in_time_order(written: dict[str, Any]) -> None:
    start, end = written["report"].start, written["report"].end
    for name in ("events", "servicing"):
        events = written[name]
        result = validate_batch(events, datetime.now(UTC))
        assert result.ok, result.errors[:3]
        keys = [(_at(e["occurred_at"]), e["event_id"]) for e in events]
        assert keys == sorted(keys)
        assert all(start <= at < end for at, _ in keys)
        assert len({e["event_id"] for e in events}) == len(events)
    kinds = {e["type"] for e in written["events"]}
    assert kinds == {
        spec.type.value for spec in contract.SPECS if spec.category is not Category.SERVICING
    }
    servicing = written["servicing"]
    assert {e["type"] for e in servicing} == {
        spec.type.value for spec in contract.SPECS if spec.category is Category.SERVICING
    }
    assert {e["source"] for e in servicing} == {contract.SERVICING_SOURCE}
    assert written["report"].events == len(written["events"]) + len(servicing)


def test_the_simulator_speaks_the_contract_version() -> None:
    assert event_rows.EVENT_CONTRACT_VERSION == contract.EVENT_CONTRACT_VERSION
    assert event_rows.SERVICING_SOURCE == contract.SERVICING_SOURCE


def test_events_use_the_tables_identifiers(written: dict[str, Any]) -> None:
    out = written["out"]
    persons = set(pq.read_table(out / "persons.parquet")["person_id"].to_pylist())
    devices = set(pq.read_table(out / "devices.parquet")["device_id"].to_pylist())
    loans = pq.read_table(out / "loan_outcomes.parquet").to_pylist()
    loan_person = {row["loan_id"]: row["person_id"] for row in loans}
    for event in written["events"]:
        assert event["person_id"] in persons
        if "other_person_id" in event:
            assert event["other_person_id"] in persons
        if event["type"] == "device_seen":
            assert event["device_id"] in devices
    for event in written["servicing"]:
        assert loan_person[event["loan_id"]] == event["person_id"]
    ties = pq.read_table(out / "ties.parquet").to_pylist()
    start, end = written["report"].start, written["report"].end
    added = {
        (t["src"], t["dst"], t["kind"], t["source"], t["created_at"].astimezone(UTC))
        for t in ties
        if start <= t["created_at"] < end
    }
    seen = {
        (e["person_id"], e["other_person_id"], e["kind"], e["source"], _at(e["occurred_at"]))
        for e in written["events"]
        if e["type"] == "tie_added"
    }
    assert seen == added and added


def test_written_off_loans_are_the_defaults_observed_in_the_window(written: dict[str, Any]) -> None:
    start, end = written["report"].start, written["report"].end
    loans = pq.read_table(written["out"] / "loan_outcomes.parquet").to_pylist()
    defaults = {
        (row["loan_id"], row["observed_at"].astimezone(UTC))
        for row in loans
        if row["defaulted"] and start <= row["observed_at"] < end
    }
    written_off = {
        (e["loan_id"], _at(e["occurred_at"]))
        for e in written["servicing"]
        if e["type"] == "loan_written_off"
    }
    assert written_off == defaults and len(defaults) >= 5


def test_no_content_ever(written: dict[str, Any]) -> None:
    for event in written["events"][:20_000]:
        assert not any(word in key for key in event for word in ("content", "text", "message"))


def test_it_is_deterministic_by_seed(written: dict[str, Any], tmp_path: Path) -> None:
    report = written["report"]
    again = write_events(build_world(CONFIG), tmp_path, start=report.start, end=report.end)
    for path in (report.events_path, report.servicing_path, report.truth_path):
        twin = tmp_path / path.relative_to(written["out"])
        assert twin.read_bytes() == path.read_bytes(), path.name
    assert again.counts == report.counts


def test_two_thousand_people_three_months_well_under_a_minute(written: dict[str, Any]) -> None:
    assert written["seconds"] < 20, written["seconds"]


def test_rings_in_the_truth_share_devices_and_phones_and_apply_together(
    written: dict[str, Any],
) -> None:
    rings = written["truth"]["fraud_rings"]
    assert rings
    in_window = 0
    start, end = written["report"].start, written["report"].end
    seen: dict[str, set[str]] = defaultdict(set)
    for event in written["events"]:
        if event["type"] == "device_seen":
            seen[event["device_id"]].add(event["person_id"])
        elif event["type"] == "phone_changed":
            seen[event["phone"]].add(event["person_id"])
    for ring in rings:
        members = set(ring["members"])
        assert ring["shared_devices"] or ring["shared_phones"]
        applied = sorted(_at(a) for a in ring["applied_at"].values())
        assert applied[-1] - applied[0] <= timedelta(days=8)
        if start <= _at(ring["strike_at"]) < end:
            in_window += 1
            shared = [seen[d] & members for d in ring["shared_devices"] + ring["shared_phones"]]
            assert any(len(s) >= 2 for s in shared), ring["ring_id"]
    assert in_window >= 1


def test_activity_collapses_before_the_first_missed_instalment(written: dict[str, Any]) -> None:
    """Across defaulters who miss in the window: active days per day in the last week before
    the miss against the weeks before their collapse began."""
    start = written["report"].start
    active: dict[str, set[date]] = defaultdict(set)
    for event in written["events"]:
        if event["type"] == "activity_day":
            active[event["person_id"]].add(date.fromisoformat(event["date"]))
    before = after = people = 0
    for case in written["truth"]["activity_collapse"]:
        collapse, missed = _at(case["collapse_start"]).date(), _at(case["first_missed"]).date()
        if collapse - timedelta(days=21) < start.date() or (missed - collapse).days < 7:
            continue
        days = active[case["person_id"]]
        before += sum(collapse - timedelta(days=k) in days for k in range(1, 22))
        after += sum(missed - timedelta(days=k) in days for k in range(1, 8))
        people += 1
    assert people >= 5
    assert after / (7 * people) < 0.6 * before / (21 * people), (before, after, people)


def test_truth_lists_shocks_and_contagion_with_dates(written: dict[str, Any]) -> None:
    truth = written["truth"]
    assert _at(truth["window"]["start"]) == written["report"].start
    shocks = truth["shocks"]
    assert shocks and {s["kind"] for s in shocks} == {"income_loss"}
    assert all(0 <= s["income_left"] < 1 for s in shocks)
    for case in truth["contagion"]:
        for follower in case["followers"]:
            assert _at(follower["default_at"]) > _at(case["default_at"])
    assert truth["contagion"]


def test_cli_writes_the_stream_and_refuses_bad_options(tmp_path: Path) -> None:
    out = tmp_path / "world"
    args = ["simulate", "--people", "300", "--seed", "2", "--out", str(out), "--events"]
    result = runner.invoke(app, [*args, "--event-months", "1", "--event-end", "2025-06-30"])
    assert result.exit_code == 0, result.output
    assert "events from 2025-06-01 to 2025-07-01" in result.output
    assert (out / EVENTS_DIR / EVENTS_FILE).stat().st_size > 0
    assert (out / "_truth" / EVENTS_TRUTH_FILE).exists()
    assert not list(out.glob("*.jsonl"))  # <out>/* still globs only contract tables
    plain = runner.invoke(app, ["simulate", "--people", "300", "--seed", "2", "--out", str(out)])
    assert plain.exit_code == 0 and not (out / EVENTS_DIR / EVENTS_FILE).exists()
    for bad in (["--event-end", "June"], ["--event-months", "0"], ["--event-end", "2027-01-01"]):
        result = runner.invoke(app, [*args, *bad])
        assert result.exit_code == 2, (bad, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (bad, result.output)
