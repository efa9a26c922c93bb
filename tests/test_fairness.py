"""Fairness over decisions made: the four-fifths rule and equal opportunity by group, computed
by hand on small populations, as properties on random ones, and as a monitor on a scored world's
decisions (SQLite and PostgreSQL) that raises one alert per group and month."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select, update

from creditgraph.compliance.fairness import (
    DecisionFacts,
    age_band,
    assess,
    assess_attribute,
    passes_four_fifths,
)
from creditgraph.compliance.fairness_store import (
    FAIRNESS_ALERT,
    PORTFOLIO,
    FairnessInputError,
    current_period,
    dedup_key,
    monitor_fairness,
    period_bounds,
    read_facts,
)
from creditgraph.compliance.pack import FairnessRules
from creditgraph.compliance.pack_files import load_pack
from creditgraph.monitoring.alerts import list_alerts, resolve
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import (
    Alert,
    DecisionRecord,
    IngestBatch,
    LoanOutcome,
    Person,
    table_of,
)
from tests.test_audit_hooks import check_latest

DAY = date(2026, 7, 15)
RULES = FairnessRules(min_group_size=30, min_outcome_group_size=10)


def _people(
    gender: str, people: int, approved: int, good: int = 0, good_approved: int = 0
) -> list[DecisionFacts]:
    """``people`` of ``gender``: the first ``approved`` approved; among them and the rest,
    ``good`` with a good outcome of whom ``good_approved`` were approved; the others unknown."""
    assert good_approved <= approved and good - good_approved <= people - approved
    out = []
    for i in range(people):
        is_approved = i < approved
        if is_approved:
            bad = False if i < good_approved else None
        else:
            bad = False if i - approved < good - good_approved else None
        out.append(DecisionFacts(DAY, is_approved, gender, 1990, "tier2", "salaried", bad))
    return out


def _by_group(result_groups: tuple[object, ...]) -> dict[str, object]:
    return {g.group: g for g in result_groups}  # type: ignore[attr-defined]


# -- pure: hand-computed -----------------------------------------------------------------------


def test_hand_computed_ratios_and_statuses() -> None:
    facts = [
        *_people("female", 50, 40, good=30, good_approved=27),  # 0.80 approved; 0.90 of good
        *_people("male", 40, 24, good=20, good_approved=12),  # 0.60 -> 0.60 / 0.80 = 0.75
        *_people("other", 10, 10),  # 1.00 but only 10 people: insufficient, not the reference
    ]
    result = assess_attribute(facts, "gender", RULES)
    groups = _by_group(result.groups)
    female, male, other = groups["female"], groups["male"], groups["other"]
    assert result.reference_group == "female"
    assert (female.status, female.ratio, female.approval_rate) == ("reference", 1.0, 0.8)  # type: ignore[attr-defined]
    assert male.status == "fail" and male.ratio == pytest.approx(0.75)  # type: ignore[attr-defined]
    assert other.status == "insufficient" and other.ratio == pytest.approx(1.25)  # type: ignore[attr-defined]
    # equal opportunity: approval among good payers 27/30 = 0.9 against 12/20 = 0.6
    assert female.good_payer_approval_rate == pytest.approx(0.9)  # type: ignore[attr-defined]
    assert male.good_payer_approval_rate == pytest.approx(0.6)  # type: ignore[attr-defined]
    assert male.opportunity_gap == pytest.approx(0.3)  # type: ignore[attr-defined]
    assert result.equal_opportunity_difference == pytest.approx(0.3)
    assert result.labelled == 50
    assert [g.group for g in result.failing] == ["male"]


def test_a_ratio_of_exactly_four_fifths_passes_and_one_below_fails() -> None:
    at_line = [*_people("female", 50, 40), *_people("male", 50, 32)]  # 0.64 / 0.80 = 0.8
    below = [*_people("female", 50, 40), *_people("male", 50, 31)]  # 0.62 / 0.80 = 0.775
    assert _by_group(assess_attribute(at_line, "gender", RULES).groups)["male"].status == "pass"  # type: ignore[attr-defined]
    assert _by_group(assess_attribute(below, "gender", RULES).groups)["male"].status == "fail"  # type: ignore[attr-defined]
    # exact arithmetic where floats wobble: 7/10 over 7/8 is exactly 0.8
    assert passes_four_fifths(7, 10, 7, 8, Decimal("0.8"))
    assert not passes_four_fifths(69, 100, 7, 8, Decimal("0.8"))


def test_when_nobody_is_approved_no_group_fails() -> None:
    facts = [*_people("female", 40, 0), *_people("male", 40, 0)]
    result = assess_attribute(facts, "gender", RULES)
    assert {g.status for g in result.groups} == {"reference", "pass"}
    assert all(g.ratio is None for g in result.groups)


def test_when_every_group_is_small_nothing_is_judged() -> None:
    facts = [*_people("female", 5, 5), *_people("male", 5, 0)]
    result = assess_attribute(facts, "gender", RULES)
    assert result.reference_group is None
    assert {g.status for g in result.groups} == {"insufficient"}
    assert result.failing == ()


def test_one_group_decided_alike_is_its_own_reference() -> None:
    """A month with one group whose people were all decided alike (fairlearn refuses a single
    row; the counts must still come out)."""
    result = assess_attribute(_people("female", 3, 3), "gender", FairnessRules(min_group_size=1))
    (only,) = result.groups
    assert (only.status, only.people, only.approved, only.ratio) == ("reference", 3, 3, 1.0)


def test_age_band_is_taken_at_the_decision_date() -> None:
    edges = (25, 35, 45, 55)
    assert age_band(2002, date(2026, 7, 1), edges) == "<25"
    assert age_band(2001, date(2026, 7, 1), edges) == "25-34"
    assert age_band(2001, date(2025, 7, 1), edges) == "<25"
    assert age_band(1992, date(2026, 7, 1), edges) == "25-34"
    assert age_band(1991, date(2026, 7, 1), edges) == "35-44"
    assert age_band(1971, date(2026, 7, 1), edges) == "55+"
    assert age_band(None, date(2026, 7, 1), edges) == "unknown"


def test_missing_attributes_form_their_own_group() -> None:
    facts = [
        DecisionFacts(DAY, True, None, 1990, "tier1", "salaried"),
        DecisionFacts(DAY, False, "", 1990, "tier1", "salaried"),
        DecisionFacts(DAY, True, "male", 1990, "tier1", "salaried"),
    ]
    result = assess_attribute(facts, "gender", FairnessRules(min_group_size=1))
    assert {g.group: g.people for g in result.groups} == {"unknown": 2, "male": 1}


def test_every_attribute_of_the_rules_is_assessed_and_no_decisions_give_none() -> None:
    facts = [*_people("female", 40, 30), *_people("male", 40, 30)]
    report = assess(facts, RULES)
    assert [a.attribute for a in report.attributes] == list(RULES.attributes)
    assert report.decisions == 80 and report.failing == ()
    assert assess([], RULES).attributes == ()


def test_bad_fairness_rules_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="age_band_edges"):
        FairnessRules(age_band_edges=(35, 25))
    with pytest.raises(ValueError, match="unknown attributes"):
        FairnessRules(attributes=("religion",))


# -- pure: properties --------------------------------------------------------------------------

GROUPS = st.lists(
    st.tuples(st.integers(1, 120), st.integers(0, 120)).map(lambda t: (t[0], min(t[0], t[1]))),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(GROUPS, st.integers(1, 40))
def test_judged_ratios_lie_in_0_1_and_the_best_group_has_1(
    groups: list[tuple[int, int]], min_size: int
) -> None:
    facts = [
        DecisionFacts(DAY, i < approved, f"g{k}", 1990, "tier1", "salaried")
        for k, (people, approved) in enumerate(groups)
        for i in range(people)
    ]
    rules = FairnessRules(min_group_size=min_size)
    result = assess_attribute(facts, "gender", rules)
    judged = [g for g in result.groups if g.status != "insufficient"]
    assert {g.group for g in judged} == {
        f"g{k}" for k, (n, _) in enumerate(groups) if n >= min_size
    }
    if not judged:
        assert result.reference_group is None
        return
    best = max(g.approval_rate for g in judged)
    reference = _by_group(result.groups)[result.reference_group]  # type: ignore[index]
    assert reference.approval_rate == best  # type: ignore[attr-defined]
    if best == 0:  # nobody approved: no ratio, nobody fails
        assert all(g.ratio is None and g.status in ("reference", "pass") for g in judged)
        return
    for g in judged:
        assert g.ratio is not None and 0.0 <= g.ratio <= 1.0 + 1e-12
        exact = Fraction(g.approved, g.people) / Fraction(reference.approved, reference.people)  # type: ignore[attr-defined]
        expected = (
            "reference"
            if g.group == result.reference_group
            else ("pass" if exact >= Fraction(4, 5) else "fail")
        )
        assert g.status == expected
    assert reference.ratio == 1.0  # type: ignore[attr-defined]


def test_periods_are_months_and_bad_ones_are_refused() -> None:
    assert period_bounds("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    assert period_bounds("2026-02") == (date(2026, 2, 1), date(2026, 3, 1))
    assert current_period(datetime(2026, 7, 31, 23, tzinfo=UTC)) == "2026-07"
    for bad in ("2026-13", "2026-7", "july", ""):
        with pytest.raises(FairnessInputError, match="period"):
            period_bounds(bad)


# -- integration: a scored world's decisions, on SQLite and PostgreSQL -------------------------

DECIDED_AT = datetime(2026, 7, 15, 10, 0)
PERIOD = "2026-07"
COPIED = (IngestBatch, Person, DecisionRecord, LoanOutcome)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A scored world in which everyone with online features applied on 15 July 2026."""
    from creditgraph.decision.service import DecisionService
    from creditgraph.store.models import OnlineFeatures
    from tests.scored_world import scored_world

    settings_ = scored_world(tmp_path_factory.mktemp("fairness"), people=600, seed=5)
    db = make_engine(settings_.database_url)
    try:
        service = DecisionService(db, settings_, clock=lambda: DECIDED_AT)
        with db.connect() as conn:
            people = list(conn.execute(select(OnlineFeatures.person_id)).scalars())
        for person in sorted(people):
            service.decide_for(person, "XFD-MED", "8000", 12, purpose="medical")
        # a second application by the first person: only the latest decision counts
        service.decide_for(sorted(people)[0], "XFD-MED", "6000", 12, purpose="medical")
    finally:
        db.dispose()
    return settings_


@pytest.fixture
def decided(world: Settings, engine: Engine) -> Engine:
    """A fresh database of the engine under test holding the world's people and decisions."""
    source = make_engine(world.database_url)
    try:
        with source.connect() as src, engine.begin() as dst:
            for model in COPIED:
                table = table_of(model)
                rows = [dict(r) for r in src.execute(select(table)).mappings()]
                for start in range(0, len(rows), 500):
                    dst.execute(insert(table), rows[start : start + 500])
    finally:
        source.dispose()
    return engine


def _fairness_alerts(engine: Engine) -> list[dict[str, object]]:
    return list_alerts(engine, type=FAIRNESS_ALERT, limit=1000).alerts


def test_the_reader_takes_each_persons_latest_automated_decision(decided: Engine) -> None:
    decisions = table_of(DecisionRecord)
    with decided.connect() as conn:
        facts = read_facts(conn, PERIOD)
        decided_people = conn.execute(
            select(decisions.c.person_id)
            .where(decisions.c.outcome.in_(("approve", "decline")))
            .distinct()
        ).all()
        outcomes = conn.execute(select(table_of(LoanOutcome).c.person_id).distinct()).all()
        assert read_facts(conn, "2026-08") == []
    assert len(facts) == len(decided_people) > 400
    assert all(f.decided_on == DECIDED_AT.date() for f in facts)
    known = [f for f in facts if f.bad is not None]
    assert 0 < len(known) <= len(outcomes)
    assert any(f.bad for f in known) and any(not f.bad for f in known)


def test_a_disparity_raises_one_alert_per_group_and_period(decided: Engine) -> None:
    rules = load_pack().fairness
    report, raised = monitor_fairness(decided, rules, period=PERIOD, now=DECIDED_AT)
    assert report.failing, "the scored world's decisions hold groups below four fifths"
    assert [r.new for r in raised] == [True] * len(report.failing)
    expected = {dedup_key(g.attribute, g.group, PERIOD) for g in report.failing}
    alerts = _fairness_alerts(decided)
    assert {a["dedup_key"] for a in alerts} == expected
    for alert in alerts:
        assert alert["person_id"] == PORTFOLIO and alert["type"] == FAIRNESS_ALERT
        evidence = alert["evidence"]
        assert isinstance(evidence, dict) and evidence["ratio"] < 0.8
        assert evidence["period"] == PERIOD
    # no person's pseudonym is in the portfolio alerts' evidence
    with decided.connect() as conn:
        people = set(conn.execute(select(table_of(Person).c.person_id)).scalars())
    text = repr([a["evidence"] for a in alerts])
    assert not any(p in text for p in people)

    # each alert is committed to the audit log as it stands, and again when a repeat folds in
    first_id = str(alerts[0]["id"])
    check_latest(decided, "alert", first_id, 1, person=PORTFOLIO)

    # the same period again: no new alert, each repeat folded in
    _, again = monitor_fairness(decided, rules, period=PERIOD, now=DECIDED_AT)
    assert [r.new for r in again] == [False] * len(report.failing)
    after = _fairness_alerts(decided)
    assert len(after) == len(alerts) and {a["repeat_count"] for a in after} == {1}
    check_latest(decided, "alert", first_id, 2, person=PORTFOLIO)

    # an officer resolves one: the period's finding is dealt with and is not raised again
    first = after[0]
    resolve(decided, str(first["id"]), by="compliance-officer", note="reviewed the cut-off")
    _, third = monitor_fairness(decided, rules, period=PERIOD, now=DECIDED_AT)
    assert first["dedup_key"] not in {r.dedup_key for r in third}
    assert len(_fairness_alerts(decided)) == len(alerts)


def test_without_raising_nothing_is_stored_and_a_quiet_month_raises_nothing(
    decided: Engine,
) -> None:
    rules = load_pack().fairness
    report, raised = monitor_fairness(decided, rules, period=PERIOD, raise_alert=False)
    assert report.failing and raised == []
    quiet, none = monitor_fairness(decided, rules, period="2026-08")
    assert quiet.decisions == 0 and none == []
    assert _fairness_alerts(decided) == []


def test_erasing_a_person_leaves_portfolio_alerts_alone(decided: Engine) -> None:
    """Portfolio alerts name no person: erasure's deletion by person and its evidence scrub
    pass them by."""
    from creditgraph.privacy.erasure import erase

    monitor_fairness(decided, load_pack().fairness, period=PERIOD, now=DECIDED_AT)
    before = _fairness_alerts(decided)
    with decided.connect() as conn:
        person = conn.execute(select(table_of(Person).c.person_id).limit(1)).scalar_one()
    erase(decided, person)
    assert _fairness_alerts(decided) == before


def test_the_cli_assesses_and_raises_alerts(
    world: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decided: Engine
) -> None:
    import json

    from typer.testing import CliRunner

    from creditgraph.cli.main import app

    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", decided.url.render_as_string(hide_password=False))
    runner = CliRunner()
    shown = runner.invoke(app, ["compliance", "fairness", "--period", PERIOD])
    assert shown.exit_code == 0, shown.output
    assert "four fifths" in shown.stdout and "region_tier" in shown.stdout
    raised = runner.invoke(
        app, ["compliance", "fairness", "--period", PERIOD, "--raise-alerts", "--json"]
    )
    assert raised.exit_code == 0, raised.output
    body = json.loads(raised.stdout)
    assert body["period"] == PERIOD and body["alerts"] and all(a["new"] for a in body["alerts"])
    check = runner.invoke(app, ["compliance", "check", "--fairness", "--period", PERIOD])
    assert check.exit_code == 1, check.output  # groups below four fifths are FAIL
    assert "公平性 Fairness" in check.stdout and "fairness.four_fifths" in check.stdout
    bad = runner.invoke(app, ["compliance", "fairness", "--period", "2026-7"])
    assert bad.exit_code == 2 and "period must be a month" in bad.stderr


def test_resolved_alerts_stay_closed_and_absent_outcomes_leave_equal_opportunity_open(
    decided: Engine,
) -> None:
    """Resolved alerts are not reopened for their period; without outcomes (none recorded, or
    purged by retention) equal opportunity is not judged while the four-fifths rule still is."""
    monitor_fairness(decided, load_pack().fairness, period=PERIOD, now=DECIDED_AT)
    with decided.begin() as conn:
        conn.execute(
            update(table_of(Alert))
            .where(table_of(Alert).c.type == FAIRNESS_ALERT)
            .values(status="resolved")
        )
        conn.execute(delete(table_of(LoanOutcome)))
    report, raised = monitor_fairness(decided, load_pack().fairness, period=PERIOD)
    assert all(a.equal_opportunity_difference is None for a in report.attributes)
    assert raised == []
