"""Backtesting: past applications scored with features as of each one's own applied_at.

One small scored world (module scope) serves every test; the point-in-time test works on copies
of its home so the events it adds never reach the other tests.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from creditgraph.backtest import (
    FeatureSource,
    feature_date,
    parse_instant,
    point_in_time_features,
    pseudonyms,
    validation,
)
from creditgraph.cli.main import app
from creditgraph.features.asof import DAY, as_of_epoch
from creditgraph.settings import Settings
from tests.scored_world import scored_world

PERSON, CONTACT, PARTNER = "P0000001", "P0000169", "P0000300"
APPLIED = "2025-06-01 10:00:00"  # business time (Asia/Shanghai)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return scored_world(tmp_path_factory.mktemp("backtest"), people=600, seed=5)


def _copy(settings: Settings, target: Path) -> Settings:
    shutil.copytree(settings.home_dir, target / "home")
    return Settings(home=target / "home")


def _features_of(settings: Settings, person: str, applied: str) -> dict[str, object]:
    """The one application's features as the backtest computes them."""
    source = FeatureSource(settings)
    zone = ZoneInfo(settings.timezone)
    instant = parse_instant(applied, zone)
    assert instant is not None
    people = pseudonyms(settings, [person], source.persons)
    table = point_in_time_features(source.at, people, [feature_date(instant, zone)])
    row: dict[str, object] = table.to_pylist()[0]
    assert row["features_as_of"] is not None
    return row


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _add_events(settings: Settings, folder: Path, at: list[str], tag: str) -> None:
    """A tie, an interaction, an external loan and a contact's default, dated ``at``."""
    from creditgraph.ingest.service import ingest

    folder.mkdir(parents=True, exist_ok=True)
    first, later = at[0], at[-1]
    files = [
        _write(
            folder / "ties.csv",
            ["src", "dst", "kind", "source", "created_at", "ended_at"],
            [[PERSON, PARTNER, "friend", "wechat", t, ""] for t in at],
        ),
        _write(
            folder / "interactions.csv",
            ["src", "dst", "kind", "ts", "count", "amount", "source"],
            [[PERSON, CONTACT, "message", t, "40", "", "wechat"] for t in at]
            + [[CONTACT, PERSON, "transfer", later, "3", "900.00", "wechat"]],
        ),
        _write(
            folder / "external_loans.csv",
            ["person_id", "lender", "opened_at", "amount", "status", "max_dpd", "reported_at"],
            [[PERSON, f"lender-{tag}", first, "9000", "overdue", "60", later]],
        ),
        _write(
            folder / "loan_outcomes.csv",
            [
                "loan_id",
                "person_id",
                "applied_at",
                "amount",
                "term_months",
                "defaulted",
                "observed_at",
            ],
            [[f"L-{tag}", CONTACT, "2024-12-01", "3000", "12", "true", first]],
        ),
    ]
    summary = ingest(files, settings)
    assert summary is not None


def test_events_on_and_after_applied_at_leave_the_application_features_unchanged(
    world: Settings, tmp_path: Path
) -> None:
    before = _features_of(world, PERSON, APPLIED)
    later = _copy(world, tmp_path / "later")
    _add_events(
        later,
        tmp_path / "events-after",
        [APPLIED, "2025-06-01 10:00:01", "2025-06-02 09:00:00", "2025-07-15 12:00:00"],
        "after",
    )
    assert _features_of(later, PERSON, APPLIED) == before


def test_the_same_events_a_month_earlier_do_change_the_features(
    world: Settings, tmp_path: Path
) -> None:
    """The control: the events the point-in-time test adds do reach features when they are old
    enough, so that test cannot pass by the events being quarantined or ignored."""
    before = _features_of(world, PERSON, APPLIED)
    earlier = _copy(world, tmp_path / "earlier")
    _add_events(
        earlier,
        tmp_path / "events-before",
        ["2025-05-01 10:00:00", "2025-05-02 10:00:00"],
        "before",
    )
    after = _features_of(earlier, PERSON, APPLIED)
    changed = {k for k in before if before[k] != after[k]}
    assert {"ext_loans", "degree"} <= changed, changed


def test_features_per_date_equal_a_full_build_as_of_that_date(world: Settings) -> None:
    from creditgraph.features.service import compute_features

    day = date(2025, 9, 1)
    shared = FeatureSource(world).at(day)
    full = compute_features(world, day).features
    assert shared.equals(full)


def test_as_of_is_the_local_calendar_day_of_applied_at() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    naive = parse_instant("2025-06-01 00:30", zone)
    assert naive == datetime(2025, 5, 31, 16, 30, tzinfo=UTC)
    assert naive is not None and feature_date(naive, zone) == date(2025, 6, 1)
    aware = parse_instant("2025-05-31T23:30:00+00:00", zone)
    assert aware is not None and feature_date(aware, zone) == date(2025, 6, 1)
    assert parse_instant(date(2025, 6, 1), zone) == datetime(2025, 5, 31, 16, tzinfo=UTC)
    assert parse_instant("not a date", zone) is None


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York"]),
)
def test_the_as_of_instant_is_never_after_the_application_and_less_than_a_day_before(
    moment: datetime, timezone: str
) -> None:
    zone = ZoneInfo(timezone)
    instant = parse_instant(moment.isoformat(), zone)
    assert instant is not None
    cut = as_of_epoch(feature_date(instant, zone), timezone)
    assert cut <= instant.timestamp() < cut + DAY + 3600  # a day, or 25 hours across DST


def test_validation_measures_auc_ks_and_calibration_by_grade() -> None:
    y = np.array([0, 0, 1, 1, np.nan])
    pd = np.array([0.1, 0.2, 0.3, 0.8, 0.5])
    result = validation(y, pd, ["A", "A", "B", "B", "C"])
    assert result["labelled"] == 4 and result["bads"] == 2
    assert result["auc"] == 1.0 and result["ks"] == 1.0
    by_grade = {row["grade"]: row for row in result["calibration_by_grade"]}
    assert set(by_grade) == {"A", "B"}
    assert math.isclose(by_grade["B"]["expected_bad_rate"], 0.55)
    assert by_grade["B"]["observed_bad_rate"] == 1.0


def _applications(folder: Path) -> tuple[Path, Path]:
    apps = [
        [PERSON, APPLIED, "XFD-GEN", "5000", "12"],
        [CONTACT, "2025-06-01 15:00", "XFD-GEN", "5000", "12"],
        [PARTNER, "2025-09-01", "XFD-GEN", "3000", "6"],
        ["NOBODY-AT-ALL", "2025-09-01", "XFD-GEN", "3000", "6"],
        [PERSON, "2010-01-01", "XFD-GEN", "3000", "6"],  # before the person registered
    ]
    header = ["person_id", "applied_at", "product", "amount", "term"]
    labels = [[a[0], a[1], str(i % 2)] for i, a in enumerate(apps)]  # 1 bad, 2 goods scored
    return (
        _write(folder / "apps.csv", header, apps),
        _write(folder / "labels.csv", ["person_id", "applied_at", "bad"], labels),
    )


def test_backtest_command_writes_scores_decisions_and_the_validation_report(
    world: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(world.home_dir))
    apps, labels = _applications(tmp_path)
    out, report = tmp_path / "scored.parquet", tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            str(apps),
            "--decide",
            "--labels",
            str(labels),
            "--out",
            str(out),
            "--report",
            str(report),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["applications"] == 5 and document["scored"] == 3
    assert document["without_features"] == 2 and document["feature_dates"] == 3
    assert document["validation"]["labelled"] == 3
    assert sum(document["decisions"].values()) == 3
    rows = pq.read_table(out).to_pylist()
    assert [r["row"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["person_id"] for r in rows][:2] == [PERSON, CONTACT]  # the lender's own ids
    assert rows[0]["features_as_of"] == date(2025, 6, 1)
    assert rows[2]["features_as_of"] == date(2025, 9, 1)
    assert [r["status"] for r in rows] == ["scored"] * 3 + ["no_features"] * 2
    for r in rows[:3]:
        assert 0 < r["pd"] < 1 and r["grade"] in "ABCDE" and r["reason_1_zh"] and r["reason_1_en"]
        assert r["outcome"] in ("approve", "decline", "refer")
    assert rows[3]["pd"] is None and rows[3]["decision_error"] == "no features as of applied_at"
    html = report.read_text(encoding="utf-8")
    assert document["model_id"] in html and "backtest 2025-" in html


def test_backtest_scores_equal_scoring_the_features_of_each_date_directly(
    world: Settings, tmp_path: Path
) -> None:
    from creditgraph.backtest import run_backtest
    from creditgraph.features.service import compute_features
    from creditgraph.scoring import registry
    from creditgraph.scoring.models import LoadedModel
    from creditgraph.store.db import migrated_engine

    table = pa.table({"person_id": [PERSON, CONTACT], "applied_at": ["2025-06-01", "2025-09-01"]})
    result = run_backtest(world, table)
    with migrated_engine(world.database_url) as db:
        model = LoadedModel(registry.champion(db))
    for i, day in enumerate([date(2025, 6, 1), date(2025, 9, 1)]):
        features = compute_features(world, day).features
        who = pseudonyms(world, [table["person_id"][i].as_py()], features["person_id"])[0]
        row = features.filter(pc.equal(features["person_id"], who))
        # the same features and model; a batch of two rows and a row alone may round the last
        # bit differently (vectorised exp and sums), so equal to 1e-12, not bit for bit
        direct = model.score_table(row).pd[0]
        assert result.rows["pd"][i].as_py() == pytest.approx(direct, rel=1e-12, abs=0)


def test_a_bad_applied_at_is_one_line_naming_row_field_and_rule(
    world: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(world.home_dir))
    apps = _write(
        tmp_path / "apps.csv",
        ["person_id", "applied_at"],
        [[PERSON, "2025-06-01"], [PERSON, "yesterday"]],
    )
    result = CliRunner().invoke(app, ["backtest", str(apps)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: applications: row 2: applied_at: 'yesterday' is not a date or time [type]"
    )
    missing = _write(tmp_path / "nodate.csv", ["person_id"], [[PERSON]])
    result = CliRunner().invoke(app, ["backtest", str(missing)])
    assert result.exit_code == 2 and "missing column(s) applied_at" in result.stderr
    result = CliRunner().invoke(app, ["backtest", str(apps), "--report", "r.html"])
    assert result.exit_code == 2 and "--report needs --labels" in result.stderr
