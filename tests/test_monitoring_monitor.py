"""The monitor's pure core: payloads, tie strength, rings, and the monitor folding events."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.features.tie_weights import (
    INTERACTION_ONLY_WEIGHT,
    KIND_WEIGHTS,
    NON_RECIPROCAL_FACTOR,
)
from creditgraph.graph.dense import peel
from creditgraph.graph.dynamic_ppr import DynamicPPR
from creditgraph.monitoring import ties
from creditgraph.monitoring.codec import PayloadError, from_payload, to_payload
from creditgraph.monitoring.config import FraudRingConfig, MonitoringConfig
from creditgraph.monitoring.events import EVENT_SPECS
from creditgraph.monitoring.monitor import Monitor
from creditgraph.monitoring.rings import RingWatch
from creditgraph.monitoring.validate import validate_batch
from tests.test_monitoring_events import make_event

T0 = datetime(2026, 9, 1, tzinfo=UTC)
LATER = datetime(2027, 1, 1, tzinfo=UTC)


def typed(raw: list[dict[str, Any]]) -> list[Any]:
    result = validate_batch(raw, LATER)
    assert not result.errors, result.errors
    return list(result.events)


def event(type_: str, person: str, at: datetime, n: list[int] = [0], **fields: Any) -> dict:  # noqa: B006
    n[0] += 1
    servicing = type_ in ("repayment_posted", "instalment_missed", "dpd_bucket_changed")
    return {
        "event_id": f"m-{n[0]}",
        "type": type_,
        "person_id": person,
        "occurred_at": at.isoformat(),
        "source": "servicing" if servicing or type_ == "loan_written_off" else "app",
        "version": 1,
        **fields,
    }


# -- payloads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(EVENT_SPECS))
def test_every_type_survives_the_bus_unchanged(event_type: str) -> None:
    (original,) = typed([make_event(event_type)])
    payload = to_payload(original)
    back = from_payload(payload)
    assert back == original
    assert to_payload(back) == payload


def test_servicing_wire_money_reads_as_fen_and_a_bad_payload_names_its_field() -> None:
    raw = make_event("repayment_posted")
    raw.update(amount="12.34", remaining_due="0")
    assert from_payload(raw).get("amount") == 1234
    with pytest.raises(PayloadError, match="unknown event type"):
        from_payload({**raw, "type": "nope"})
    with pytest.raises(PayloadError, match="'amount'"):
        from_payload({**raw, "amount": "1.234"})
    with pytest.raises(PayloadError, match="'loan_id' is missing"):
        from_payload({k: v for k, v in raw.items() if k != "loan_id"})


# -- tie strength -------------------------------------------------------------------------------------


def test_the_build_and_the_monitor_weigh_ties_with_the_same_constants() -> None:
    from creditgraph.features import relational

    assert ties.KIND_WEIGHTS is relational.KIND_WEIGHTS is KIND_WEIGHTS


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.integers(0, 400 * 24)), max_size=12),
    st.sampled_from([None, "family", "friend", "follow", "unknown-kind"]),
    st.booleans(),
)
def test_strength_is_the_builds_formula_with_exact_decay(
    interactions: list[tuple[bool, int, int]], kind: str | None, both_ways: bool
) -> None:
    ledger = ties.TieLedger()
    at = T0 + timedelta(days=400)
    if kind is not None:
        ledger.tie_added("a", "b", kind, T0)
        if both_ways:
            ledger.tie_added("b", "a", kind, T0)
    decayed = 0.0
    directions = set()
    for forward, count, hours in interactions:
        start = T0 + timedelta(hours=hours)
        ledger.interaction("a" if forward else "b", "b" if forward else "a", count, start)
        decayed += count * math.exp(-math.log(2) / 60.0 * (at - start).total_seconds() / 86_400)
        directions.add(forward)
    if kind is None and not interactions:
        assert ledger.strength("a", "b", at) == 0.0
        return
    weight = INTERACTION_ONLY_WEIGHT if kind is None else KIND_WEIGHTS.get(kind, 0.1)
    reciprocal = (kind is not None and both_ways) or len(directions) == 2
    expected = weight * (1 + math.log1p(decayed)) * (1.0 if reciprocal else NON_RECIPROCAL_FACTOR)
    assert ledger.strength("a", "b", at) == pytest.approx(expected, rel=1e-12)
    assert ledger.strength("b", "a", at) == ledger.strength("a", "b", at)


def test_an_ended_tie_leaves_while_another_declaration_stays() -> None:
    ledger = ties.TieLedger()
    ledger.tie_added("a", "b", "family", T0)
    ledger.tie_added("a", "b", "follow", T0)
    ledger.tie_ended("a", "b", "family")
    assert ledger.strength("a", "b", T0) == pytest.approx(0.2 * NON_RECIPROCAL_FACTOR)
    ledger.tie_ended("a", "b", "follow")
    assert ledger.strength("a", "b", T0) == 0.0


# -- rings --------------------------------------------------------------------------------------------


def ring_config(**changes: Any) -> FraudRingConfig:
    return FraudRingConfig(**{"min_density": "0.5", "min_persons": 3, **changes})


def planted(watch: RingWatch, members: int, devices: int, tag: str, at: datetime) -> None:
    for m in range(members):
        for d in range(devices):
            watch.seen(f"{tag}{m}", "device", f"{tag}-dev{d}", at)


def test_a_ring_is_the_densest_block_and_equals_a_static_peeling() -> None:
    rng = random.Random(3)
    watch = RingWatch(ring_config())
    for person in range(300):  # households: one or two people per device
        watch.seen(f"h{person}", "device", f"own{person // 2}", T0)
    for _ in range(200):  # noise: people seen on someone else's device once
        watch.seen(f"h{rng.randrange(300)}", "device", f"own{rng.randrange(150)}", T0)
    assert watch.flush() is None  # no ring among households
    planted(watch, 7, 3, "r", T0 + timedelta(hours=1))
    watch.seen("r0", "phone", "shared-phone", T0 + timedelta(hours=1))
    watch.seen("r1", "phone", "shared-phone", T0 + timedelta(hours=1))
    ring = watch.flush()
    assert ring is not None and ring.found_by == "incremental"
    assert ring.persons == tuple(sorted(f"r{m}" for m in range(7)))
    persons, objects = watch.peeler.edges()
    static = peel(persons, objects, weighting=watch.peeler.weighting)
    assert static.block.density == pytest.approx(ring.density)
    assert len(static.block.persons) == len(ring.persons)
    findings = watch.findings(ring, T0, {"r0": ["e1"], "h1": ["e-not-a-member"]})
    assert [f.person_id for f in findings] == list(ring.persons)
    # each member's finding carries that member's own events, never someone else's
    assert [f.evidence["events"] for f in findings] == [["e1"]] + [[]] * 6
    assert {f.dedup_key for f in findings} == {f"fraud_ring:dense_block:r{m}" for m in range(7)}


def test_the_daily_sweep_finds_every_ring_and_the_window_forgets_them() -> None:
    watch = RingWatch(ring_config(window_days=30))
    planted(watch, 8, 3, "a", T0)
    planted(watch, 5, 2, "b", T0)
    for person in range(100):
        watch.seen(f"h{person}", "device", f"own{person}", T0)
    watch.flush()
    rings = watch.sweep()
    assert [r.persons for r in rings] == [
        tuple(f"a{m}" for m in range(8)),
        tuple(f"b{m}" for m in range(5)),
    ]
    watch.advance(T0 + timedelta(days=31))
    assert watch.n_edges == 0 and watch.sweep() == []


def test_a_household_or_an_office_network_is_not_a_ring() -> None:
    watch = RingWatch(ring_config(max_persons=20))
    planted(watch, 2, 2, "couple", T0)  # too few
    assert watch.flush() is None
    watch = RingWatch(ring_config(max_persons=20))
    for person in range(60):  # one shared office Wi-Fi: too many, and FRAUDAR weighs it low
        watch.seen(f"w{person}", "device", "office-wifi", T0)
    assert watch.flush() is None and watch.sweep() == []


# -- the monitor --------------------------------------------------------------------------------------


def test_an_interaction_counts_for_both_ends_as_the_build_counts_it() -> None:
    monitor = Monitor(MonitoringConfig())
    monitor.process_batch(
        typed(
            [
                event(
                    "interaction_batch",
                    "a",
                    T0,
                    other_person_id="b",
                    kind="call",
                    period_start=(T0 - timedelta(hours=2)).isoformat(),
                    count=7,
                )
            ]
        )
    )
    assert monitor.snapshot("a")["interactions_7d"] == 7
    assert monitor.snapshot("b")["interactions_7d"] == 7
    assert monitor.ties.strength("a", "b", T0) > 0


def test_contagion_flags_the_strong_tie_of_a_new_delinquent_not_the_weak_one() -> None:
    monitor = Monitor(MonitoringConfig())
    raw = [
        event("tie_added", "x", T0, other_person_id="close", kind="family"),
        event("tie_added", "close", T0, other_person_id="x", kind="family"),
        event("tie_added", "x", T0, other_person_id="far", kind="follow"),
        event("tie_added", "close", T0, other_person_id="c2", kind="friend"),
        event("tie_added", "far", T0, other_person_id="f2", kind="friend"),
    ]
    for person in ("close", "far"):
        raw.append(
            event(
                "repayment_posted",
                person,
                T0 + timedelta(days=1),
                loan_id=f"L-{person}",
                posting_id="p",
                amount="1.00",
                remaining_due="0.00",
            )
        )
    raw.append(
        event(
            "dpd_bucket_changed",
            "x",
            T0 + timedelta(days=40),
            loan_id="L-x",
            from_bucket="M1",
            to_bucket="M2",
            dpd=31,
        )
    )
    findings = monitor.process_batch(typed(raw))
    contagion = [f for f in findings if f.type.value == "contagion"]
    assert [f.person_id for f in contagion] == ["close"]
    evidence = contagion[0].evidence
    assert evidence["delinquent_person_id"] == "x"
    assert evidence["after"]["exposure"] > evidence["before"]["exposure"]
    assert "x" in monitor.defaulters
    # the maintained exposure equals a fresh exact one on the same graph
    fresh = DynamicPPR.from_edges(
        monitor.exposure.n,
        *monitor.exposure.ties.as_graph().adjacency.nonzero(),
        monitor.exposure.ties.as_graph().adjacency.data,
        [monitor.position("x")],
    )
    assert np.abs(fresh.scores() - monitor.exposure.scores()).max() < 1e-6


def test_findings_do_not_depend_on_how_the_stream_is_batched() -> None:
    rng = random.Random(5)
    raw = []
    for day in range(20):
        at = T0 + timedelta(days=day, hours=10)
        for m in range(6):
            raw.append(event("device_seen", f"r{m}", at, device_id=f"ring{day % 3}"))
        for p in range(30):
            raw.append(event("device_seen", f"h{p}", at, device_id=f"own{p}"))
            if rng.random() < 0.3:
                raw.append(
                    event("credit_inquiry", f"h{p}", at, inquirer="bank", reason="credit_card")
                )
    stream = typed(raw)

    def first_seen(batch: int) -> dict[str, str]:
        """Each dedup key and the first day it was raised (what becomes an alert)."""
        monitor = Monitor(MonitoringConfig())
        out: dict[str, str] = {}
        for start in range(0, len(stream), batch):
            for f in monitor.process_batch(stream[start : start + batch]):
                out.setdefault(f.dedup_key, f.occurred_at.date().isoformat())
        return out

    one, many = first_seen(1), first_seen(700)
    assert one == many
    assert any(key.startswith("fraud_ring") for key in one)
    assert any(key.startswith("multi_lending") for key in one)


def test_only_shared_objects_enter_the_ring_graph_within_the_window() -> None:
    watch = RingWatch(ring_config(window_days=30))
    watch.seen("a", "device", "own-a", T0)
    watch.seen("a", "device", "own-a", T0 + timedelta(days=1))
    watch.flush()
    assert watch.n_edges == 0  # one person's own handset says nothing
    watch.seen("b", "device", "own-a", T0 + timedelta(days=2))
    watch.flush()
    assert watch.n_edges == 2  # shared now: both people's edges
    watch.seen("c", "device", "lone", T0)
    watch.seen("d", "device", "lone", T0 + timedelta(days=40))  # not within the window
    watch.flush()
    assert watch.n_edges == 2


def test_one_platforms_tie_ending_leaves_anothers() -> None:
    ledger = ties.TieLedger()
    ledger.tie_added("a", "b", "follow", T0, "weibo")
    ledger.tie_added("a", "b", "follow", T0, "douyin")
    ledger.tie_ended("a", "b", "follow", "weibo")
    assert ledger.strength("a", "b", T0) == pytest.approx(0.2 * NON_RECIPROCAL_FACTOR)
    ledger.tie_ended("a", "b", "follow", "douyin")
    assert ledger.strength("a", "b", T0) == 0.0
