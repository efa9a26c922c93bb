"""Per-person rolling state and the four state detectors (contagion, activity collapse and churn,
multi-lending velocity, repayment stress).

The state is checked against a straightforward batch count over the same events as of the same
instant, in any arrival order; every detector rule on a planted case that fires and on one just
below its threshold that does not; dedup keys stable across a replay; and the pure modules
import nothing impure.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grimp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.monitoring.config import MonitoringConfig, MonitoringConfigError
from creditgraph.monitoring.config_file import load_monitoring_config
from creditgraph.monitoring.detectors import (
    Detector,
    ExposureRise,
    Finding,
    Severity,
    contagion,
    detect,
)
from creditgraph.monitoring.state import (
    BASELINE,
    HORIZON,
    METRICS,
    RECENT,
    WINDOWS,
    Metric,
    PersonState,
    StateStore,
    contribution,
    epoch_day,
    event_day,
)
from creditgraph.monitoring.validate import validate_batch

CONFIG = MonitoringConfig()
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def ev(kind: str, day: float, person: str = "p1", **fields: Any) -> dict[str, Any]:
    """An event as the validated contract gives it (money in fen), ``day`` days after T0."""
    at = T0 + timedelta(days=day)
    event: dict[str, Any] = {
        "event_id": f"e{next(_ids)}",
        "type": kind,
        "person_id": person,
        "occurred_at": at,
        "source": "test",
        "version": 1,
    }
    if kind == "activity_day":
        event.update(date=at.date(), active_minutes=30, posts=1, logins=2)
    if kind == "external_loan_reported":
        event.update(lender="other", opened_at=at, amount=100_000, status="active", max_dpd=0)
    if kind in ("tie_added", "tie_ended", "interaction_batch"):
        event.update(other_person_id="q", kind="friend")
    event.update(fields)
    return event


def run(events: list[dict[str, Any]], person: str = "p1") -> tuple[PersonState, list[Finding]]:
    """Stream ``events`` through the state and every detector; the person's state and findings."""
    store = StateStore()
    findings: list[Finding] = []
    for event in events:
        state = store.apply(event)
        findings.extend(detect(state, event, CONFIG))
    return store.get(person), findings


def rules(findings: list[Finding], detector: Detector) -> list[str]:
    return [finding.rule for finding in findings if finding.type is detector]


# -- the state against a batch count -------------------------------------------------------------


def batch_counts(events: list[dict[str, Any]], as_of: int) -> dict[str, Any]:
    """The aggregates counted directly from the events as of day ``as_of``."""
    first = min(event_day(event) for event in events)
    counts: dict[str, Any] = {}
    for metric in METRICS:
        per_day: dict[int, int] = {}
        for event in events:
            counted = contribution(event)
            day = event_day(event)
            if counted is None or counted[0] is not metric or day > as_of:
                continue
            if metric is Metric.ACTIVE_DAYS:
                per_day[day] = max(per_day.get(day, 0), counted[1])
            else:
                per_day[day] = per_day.get(day, 0) + counted[1]
        for window in WINDOWS:
            counts[f"{metric.name}_{window}"] = sum(
                value for day, value in per_day.items() if as_of - day < window
            )
        counts[f"{metric.name}_baseline"] = sum(
            value for day, value in per_day.items() if RECENT <= as_of - day < HORIZON
        )
    counts["baseline_days"] = max(0, min(BASELINE, as_of - RECENT - first + 1))
    counts["ties_net"] = sum(
        {"tie_added": 1, "tie_ended": -1}.get(event["type"], 0) for event in events
    )
    return counts


def streamed_counts(state: PersonState) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for metric in METRICS:
        for window in WINDOWS:
            counts[f"{metric.name}_{window}"] = state.count(metric, window)
        counts[f"{metric.name}_baseline"] = state.baseline_total(metric)
    counts["baseline_days"] = state.baseline_days()
    counts["ties_net"] = state.ties_net
    return counts


KINDS = (
    "activity_day",
    "interaction_batch",
    "tie_added",
    "tie_ended",
    "external_loan_reported",
    "credit_inquiry",
    "income_summary",
    "transfer_summary",
    "instalment_missed",
    "repayment_posted",
    "device_seen",
)


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Random streams of every counted kind over up to 300 days, several on one day."""
    size = draw(st.integers(1, 60))
    events = []
    for _ in range(size):
        kind = draw(st.sampled_from(KINDS))
        day = draw(st.integers(0, 300)) + draw(st.sampled_from([0.0, 0.25, 0.99]))
        extra: dict[str, Any] = {}
        if kind == "interaction_batch":
            extra["count"] = draw(st.integers(1, 50))
        elif kind == "activity_day":
            quiet = draw(st.booleans())
            extra.update(active_minutes=0 if quiet else 5, posts=0, logins=0 if quiet else 1)
        elif kind == "income_summary":
            extra["amount"] = draw(st.integers(0, 10**7))
        elif kind == "transfer_summary":
            extra["incoming_amount"] = draw(st.integers(0, 10**7))
        elif kind == "repayment_posted":
            extra["remaining_due"] = draw(st.sampled_from([0, 500]))
        elif kind == "external_loan_reported":
            opened = T0 + timedelta(days=day - draw(st.sampled_from([0, 30, 120])))
            extra["opened_at"] = opened
        events.append(ev(kind, day, **extra))
    return sorted(events, key=lambda event: event["occurred_at"])


@settings(max_examples=150, deadline=None)
@given(events=streams(), later=st.integers(0, 120), seed=st.integers(0, 2**32 - 1))
def test_streamed_state_equals_a_batch_count_in_any_arrival_order(
    events: list[dict[str, Any]], later: int, seed: int
) -> None:
    in_order = PersonState("p1")
    for event in events:
        in_order.apply(event)
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    any_order = PersonState("p1")
    for event in shuffled:
        any_order.apply(event)
    as_of = max(event_day(event) for event in events) + later
    in_order.advance_to(as_of)
    any_order.advance_to(as_of)
    expected = batch_counts(events, as_of)
    assert streamed_counts(in_order) == expected
    assert streamed_counts(any_order) == expected
    assert any_order.snapshot() == in_order.snapshot()


def test_windows_hold_today_and_the_days_before() -> None:
    state = PersonState("p1")
    for day in (0, 60, 83, 89, 90):
        state.apply(ev("credit_inquiry", day))
    # as of day 90: 7 days = 84..90, 30 days = 61..90, 90 days = 1..90
    assert [state.count(Metric.INQUIRIES, w) for w in WINDOWS] == [2, 3, 4]
    state.advance_to(epoch_day(T0) + 97)  # 7 days = 91..97, 30 days = 68..97, 90 days = 8..97
    assert [state.count(Metric.INQUIRIES, w) for w in WINDOWS] == [0, 3, 4]
    assert state.baseline_total(Metric.INQUIRIES) == 4  # days 1..90


def test_a_late_event_inside_the_window_counts_and_one_beyond_the_horizon_is_dropped() -> None:
    late_inside = [ev("interaction_batch", 40, count=3), ev("interaction_batch", 35, count=4)]
    in_order, _ = run(sorted(late_inside, key=lambda e: e["occurred_at"]))
    out_of_order, _ = run(late_inside)
    assert out_of_order.snapshot() == in_order.snapshot()
    assert out_of_order.count(Metric.INTERACTIONS, 7) == 7
    too_old, _ = run([ev("interaction_batch", 200, count=3), ev("interaction_batch", 50, count=9)])
    assert too_old.late_dropped == 1
    assert too_old.count(Metric.INTERACTIONS, 90) == 3


def test_a_second_activity_summary_for_a_day_does_not_count_the_day_twice() -> None:
    state, _ = run([ev("activity_day", 3), ev("activity_day", 3.5), ev("activity_day", 4)])
    assert state.count(Metric.ACTIVE_DAYS, 7) == 2


def test_the_worst_bucket_is_kept_per_loan_whatever_the_order() -> None:
    events = [
        ev("dpd_bucket_changed", 1, loan_id="a", from_bucket="M0", to_bucket="M1", dpd=1),
        ev("dpd_bucket_changed", 31, loan_id="a", from_bucket="M1", to_bucket="M2", dpd=31),
        ev("dpd_bucket_changed", 40, loan_id="a", from_bucket="M2", to_bucket="M0", dpd=0),
        ev("dpd_bucket_changed", 35, loan_id="b", from_bucket="M0", to_bucket="M1", dpd=1),
    ]
    for order in (events, events[::-1]):
        state, _ = run(order)
        assert state.dpd_bucket == "M1"  # loan a is current again, loan b is in M1


# -- multi-lending velocity -----------------------------------------------------------------------


def test_multi_lending_two_new_loans_in_30_days_fire_and_one_does_not() -> None:
    _, one = run([ev("external_loan_reported", 0)])
    assert rules(one, Detector.MULTI_LENDING) == []
    _, two = run([ev("external_loan_reported", 0), ev("external_loan_reported", 29)])
    (finding,) = [f for f in two if f.type is Detector.MULTI_LENDING]
    assert finding.evidence["over"] == ["loans_30d"]
    assert finding.evidence["before"]["loans_30d"] == 1
    assert finding.evidence["after"]["loans_30d"] == 2
    assert finding.severity is Severity.MEDIUM


def test_multi_lending_three_loans_in_90_days_fire_even_when_no_30_days_hold_two() -> None:
    _, found = run([ev("external_loan_reported", d) for d in (0, 40, 80)])
    (finding,) = [f for f in found if f.type is Detector.MULTI_LENDING]
    assert finding.evidence["over"] == ["loans_90d"]
    _, spread = run([ev("external_loan_reported", d) for d in (0, 40, 90)])  # day 0 has expired
    assert rules(spread, Detector.MULTI_LENDING) == []


def test_a_status_report_of_an_old_loan_is_not_new_debt() -> None:
    old = T0 - timedelta(days=200)
    _, found = run([ev("external_loan_reported", d, opened_at=old) for d in (0, 1, 2)])
    assert rules(found, Detector.MULTI_LENDING) == []


def test_multi_lending_inquiries_fire_at_four_in_30_days_and_high_at_double() -> None:
    _, three = run([ev("credit_inquiry", d) for d in (0, 5, 10)])
    assert rules(three, Detector.MULTI_LENDING) == []
    _, four = run([ev("credit_inquiry", d) for d in (0, 5, 10, 15)])
    assert rules(four, Detector.MULTI_LENDING) == ["inquiries"]
    _, eight = run([ev("credit_inquiry", d) for d in range(8)])
    assert [f.severity for f in eight][-1] is Severity.HIGH


# -- activity collapse and network churn -----------------------------------------------------------


def history(days: int, interactions: int = 10, active: bool = True) -> list[dict[str, Any]]:
    events = []
    for day in range(days):
        if active:
            events.append(ev("activity_day", day))
        events.append(ev("interaction_batch", day + 0.5, count=interactions))
    return events


def test_interactions_far_below_the_baseline_fire_and_just_above_the_ratio_do_not() -> None:
    # 60 days at 10 a day: a weekly baseline of 70; the ratio 0.25 puts the line at 17.5
    below = history(60) + [ev("interaction_batch", d + 0.5, count=2) for d in range(60, 67)]
    below += [ev("activity_day", d) for d in range(60, 67)]
    _, found = run(sorted(below, key=lambda e: e["occurred_at"]))
    assert "interactions" in rules(found, Detector.ACTIVITY_COLLAPSE)
    finding = [f for f in found if f.rule == "interactions"][-1]  # after the week's last batch
    assert finding.evidence["before"] == {"interactions_weekly_baseline": 70.0}
    assert finding.evidence["after"] == {"interactions_7d": 14}
    above = history(60) + [ev("interaction_batch", d + 0.5, count=3) for d in range(60, 67)]
    above += [ev("activity_day", d) for d in range(60, 67)]
    _, quiet = run(sorted(above, key=lambda e: e["occurred_at"]))
    assert rules(quiet, Detector.ACTIVITY_COLLAPSE) == []


def test_activity_days_far_below_the_baseline_fire_and_three_a_week_do_not() -> None:
    # a daily user (7 a week); the ratio 0.3 puts the line at 2.1 active days
    for active_days, fires in ((2, True), (3, False)):
        events = history(60) + [ev("interaction_batch", d + 0.5, count=10) for d in range(60, 67)]
        events += [ev("activity_day", d) for d in range(67 - active_days, 67)]
        _, found = run(sorted(events, key=lambda e: e["occurred_at"]))
        assert ("activity" in rules(found, Detector.ACTIVITY_COLLAPSE)) is fires


def test_a_short_history_is_not_compared_with_its_baseline() -> None:
    events = [*history(20), ev("interaction_batch", 27, count=1)]
    _, found = run(events)
    assert rules(found, Detector.ACTIVITY_COLLAPSE) == []


def test_mass_tie_removal_fires_at_five_in_a_week_and_not_at_four() -> None:
    _, four = run([ev("tie_ended", d) for d in (0, 1, 2, 3)])
    assert rules(four, Detector.ACTIVITY_COLLAPSE) == []
    _, five = run([ev("tie_ended", d) for d in (0, 1, 2, 3, 6)])
    assert rules(five, Detector.ACTIVITY_COLLAPSE) == ["ties_ended"]
    assert [f.evidence["after"] for f in five] == [{"ties_ended_7d": 5}]


def test_mass_tie_removal_is_measured_against_a_habit_of_ending_ties() -> None:
    habit = [ev("tie_ended", d) for d in range(0, 56, 7) for _ in range(2)]  # 2 a week
    _, five = run(habit + [ev("tie_ended", 60 + d) for d in range(5)])  # 3 x 2 = 6 needed
    assert "ties_ended" not in rules(five, Detector.ACTIVITY_COLLAPSE)
    _, six = run(habit + [ev("tie_ended", 60 + d) for d in range(6)])
    assert "ties_ended" in rules(six, Detector.ACTIVITY_COLLAPSE)


def test_money_in_stopping_fires_after_45_silent_days_and_not_after_44() -> None:
    salary = [ev("income_summary", d, amount=500_000) for d in (0, 30, 60)]
    for silent, fires in ((31, False), (44, False), (45, True)):
        _, found = run([*salary, ev("activity_day", 60 + silent)])
        assert ("transfers_stopped" in rules(found, Detector.ACTIVITY_COLLAPSE)) is fires


# -- repayment stress -------------------------------------------------------------------------------


def missed(day: float, instalment: int, paid: int = 0) -> dict[str, Any]:
    return ev(
        "instalment_missed",
        day,
        loan_id="L1",
        instalment=instalment,
        due_date=date(2026, 1, 1),
        amount_due=100_000,
        amount_paid=paid,
    )


def test_a_missed_instalment_fires_and_a_second_in_30_days_is_high() -> None:
    _, found = run([missed(0, 1), missed(29, 2)])
    assert [(f.rule, f.severity) for f in found] == [
        ("missed_instalment", Severity.MEDIUM),
        ("missed_instalment", Severity.HIGH),
    ]
    _, apart = run([missed(0, 1), missed(30, 2)])
    assert [f.severity for f in apart] == [Severity.MEDIUM, Severity.MEDIUM]
    _, partly = run([missed(0, 1, paid=40_000)])
    assert rules(partly, Detector.REPAYMENT_STRESS) == ["partial_instalment"]


def test_a_repayment_leaving_something_due_is_partial_and_a_full_one_is_not() -> None:
    full = ev("repayment_posted", 0, loan_id="L1", posting_id="x", amount=100, remaining_due=0)
    part = ev("repayment_posted", 0, loan_id="L1", posting_id="y", amount=100, remaining_due=1)
    assert rules(run([full])[1], Detector.REPAYMENT_STRESS) == []
    assert rules(run([part])[1], Detector.REPAYMENT_STRESS) == ["partial_repayment"]


@pytest.mark.parametrize(
    ("was", "now", "severity"),
    [("M0", "M1", Severity.LOW), ("M1", "M2", Severity.MEDIUM), ("M2", "M3", Severity.HIGH)],
)
def test_a_worse_bucket_fires_by_its_severity(was: str, now: str, severity: Severity) -> None:
    change = ev("dpd_bucket_changed", 0, loan_id="L1", from_bucket=was, to_bucket=now, dpd=5)
    (finding,) = run([change])[1]
    assert (finding.rule, finding.severity) == ("bucket_worsened", severity)
    assert finding.evidence["before"] == {"bucket": was}


def test_a_better_bucket_and_a_written_off_loan() -> None:
    better = ev("dpd_bucket_changed", 0, loan_id="L1", from_bucket="M2", to_bucket="M0", dpd=0)
    assert run([better])[1] == []
    (written_off,) = run([ev("loan_written_off", 0, loan_id="L1", amount=5)])[1]
    assert (written_off.rule, written_off.severity) == ("written_off", Severity.HIGH)


def test_income_falling_below_half_its_baseline_is_an_early_warning() -> None:
    # a full 90-day baseline (days 54..143) holds three months: 20,000 fen a day
    months = [ev("income_summary", d, amount=600_000) for d in (0, 30, 60, 90, 120)]
    for amount, fires in ((299_999, True), (300_000, False)):  # the line: 0.5 x 600,000
        _, found = run([*months, ev("income_summary", 150, amount=amount)])
        assert ("income_falling" in rules(found, Detector.REPAYMENT_STRESS)) is fires


def test_new_debt_elsewhere_is_an_early_warning_only_when_behind() -> None:
    _, alone = run([ev("external_loan_reported", 5)])
    assert rules(alone, Detector.REPAYMENT_STRESS) == []
    _, behind = run([missed(0, 1), ev("external_loan_reported", 5)])
    assert "new_debt_while_behind" in rules(behind, Detector.REPAYMENT_STRESS)


# -- contagion -------------------------------------------------------------------------------------


RISES = [
    ExposureRise("n1", before=0.01, after=0.015, tie_strength=0.9),
    ExposureRise("n2", before=0.00, after=0.020, tie_strength=0.6),
    ExposureRise("n3", before=0.00, after=0.0009, tie_strength=0.9),  # rise just below 0.001
    ExposureRise("n4", before=0.00, after=0.050, tie_strength=0.49),  # a weak tie
    ExposureRise("n5", before=0.00, after=0.050, tie_strength=0.9, active_borrower=False),
]


def delinquent(was: str, now: str) -> tuple[PersonState, dict[str, Any]]:
    event = ev(
        "dpd_bucket_changed", 0, person="d", loan_id="L", from_bucket=was, to_bucket=now, dpd=31
    )
    store = StateStore()
    return store.apply(event), event


def test_contagion_flags_strong_active_ties_ranked_by_their_exposure_rise() -> None:
    state, event = delinquent("M1", "M2")
    found = contagion(state, event, CONFIG, RISES)
    assert [(f.person_id, f.evidence["rank"]) for f in found] == [("n2", 1), ("n1", 2)]
    assert [f.severity for f in found] == [Severity.HIGH, Severity.MEDIUM]
    assert found[0].evidence["delinquent_person_id"] == "d"
    assert found[0].evidence["before"] == {"exposure": 0.0}
    assert found[0].dedup_key == "contagion:delinquent:n2:d"
    limited = CONFIG.model_copy(
        update={"contagion": CONFIG.contagion.model_copy(update={"max_flagged": 1})}
    )
    assert [f.person_id for f in contagion(state, event, limited, RISES)] == ["n2"]


@pytest.mark.parametrize(("was", "now"), [("M0", "M1"), ("M2", "M3"), ("M3", "M1")])
def test_contagion_waits_for_the_crossing_into_delinquency(was: str, now: str) -> None:
    state, event = delinquent(was, now)
    assert contagion(state, event, CONFIG, RISES) == []


def test_a_write_off_is_a_contagion_trigger() -> None:
    store = StateStore()
    event = ev("loan_written_off", 0, person="d", loan_id="L", amount=1)
    found = contagion(store.apply(event), event, CONFIG, RISES)
    assert {f.rule for f in found} == {"written_off"}


# -- dedup keys, configuration, purity ------------------------------------------------------------


def mixed_stream() -> list[dict[str, Any]]:
    events = history(60)
    events += [ev("tie_ended", 61 + d / 10) for d in range(6)]
    events += [ev("credit_inquiry", 62 + d) for d in range(5)]
    events += [missed(63, 1), missed(64, 2)]
    events += [ev("income_summary", d, amount=400_000) for d in (0, 30, 60)]
    return sorted(events, key=lambda e: e["occurred_at"])


def test_dedup_keys_are_the_same_on_a_replay_and_differ_by_subject() -> None:
    events = mixed_stream()
    first = [f.dedup_key for f in run(events)[1]]
    again = [f.dedup_key for f in run([dict(e) for e in events])[1]]
    assert first and first == again
    missed_keys = {f.dedup_key for f in run(events)[1] if f.rule == "missed_instalment"}
    assert missed_keys == {
        "repayment_stress:missed_instalment:p1:L1:1",
        "repayment_stress:missed_instalment:p1:L1:2",
    }
    assert {f.type for f in run(events)[1]} >= {
        Detector.ACTIVITY_COLLAPSE,
        Detector.MULTI_LENDING,
        Detector.REPAYMENT_STRESS,
    }


def test_the_packaged_configuration_is_the_models_default() -> None:
    assert load_monitoring_config() == MonitoringConfig()


def test_an_invalid_configuration_names_its_field(tmp_path: Path) -> None:
    bad = tmp_path / "monitoring.toml"
    bad.write_text("[activity_collapse]\nactivity_ratio = 0.3\n", encoding="utf-8")
    with pytest.raises(MonitoringConfigError, match=r"activity_collapse\.activity_ratio"):
        load_monitoring_config(bad)
    bad.write_text('[contagion]\ndelinquent_from_bucket = "M9"\n', encoding="utf-8")
    with pytest.raises(MonitoringConfigError, match="delinquent_from_bucket"):
        load_monitoring_config(bad)


IMPURE = (
    "sqlalchemy",
    "duckdb",
    "fastapi",
    "starlette",
    "pathlib",
    "tomllib",
    "creditgraph.store",
    "creditgraph.settings",
    "creditgraph.configfile",
    "creditgraph.duck",
)


def impure_chains(module: str) -> Iterator[tuple[str, ...]]:
    graph = grimp.build_graph("creditgraph", include_external_packages=True, cache_dir=None)
    for bad in IMPURE:
        targets = [m for m in graph.modules if m == bad or m.startswith(bad + ".")]
        for target in targets:
            chain = graph.find_shortest_chain(importer=module, imported=target)
            if chain:
                yield chain


@pytest.mark.parametrize(
    "module",
    [
        "creditgraph.monitoring.state",
        "creditgraph.monitoring.detectors",
        "creditgraph.monitoring.config",
    ],
)
def test_state_and_detectors_import_nothing_impure(module: str) -> None:
    assert list(impure_chains(module)) == []


def test_the_purity_check_sees_the_loader_reach_the_file_system() -> None:
    chains = list(impure_chains("creditgraph.monitoring.config_file"))
    assert ("creditgraph.monitoring.config_file", "creditgraph.configfile") in chains


def test_validated_contract_events_feed_the_state_and_detectors() -> None:
    def raw(kind: str, when: str, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": f"{kind}-{when}",
            "type": kind,
            "person_id": "p1",
            "occurred_at": when,
            "source": "servicing" if kind == "instalment_missed" else "bank",
            "version": 1,
            **fields,
        }

    batch = [
        raw(
            "income_summary",
            "2026-03-01T10:00:00+08:00",
            period_start="2026-02-01",
            period_end="2026-02-28",
            amount="1234.56",
        ),
        raw(
            "instalment_missed",
            "2026-03-02T00:00:00Z",
            loan_id="L1",
            instalment=3,
            due_date="2026-03-01",
            amount_due="500.00",
            amount_paid="0",
        ),
    ]
    result = validate_batch(batch, datetime(2026, 3, 3, tzinfo=UTC))
    assert result.ok, result.errors
    store = StateStore()
    found = []
    for event in result.events:
        found.extend(detect(store.apply(event), event, CONFIG))
    state = store.get("p1")
    assert state.count(Metric.TRANSFERS_IN_FEN, 7) == 123_456
    assert [(f.rule, f.dedup_key) for f in found] == [
        ("missed_instalment", "repayment_stress:missed_instalment:p1:L1:3")
    ]
