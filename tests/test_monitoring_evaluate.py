"""Scoring the detectors on a simulated stream with its truth, and the monitor's commands."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditgraph.monitoring.config import MonitoringConfig
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.monitoring.evaluate import evaluate, markdown, score_distress
from creditgraph.simulate import SimulationConfig
from creditgraph.simulate.events import write_events_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def finding(person: str, day: int, severity: Severity = Severity.MEDIUM) -> Finding:
    return Finding(
        type=Detector.ACTIVITY_COLLAPSE,
        rule="activity",
        severity=severity,
        person_id=person,
        occurred_at=T0 + timedelta(days=day),
        dedup_key=f"k:{person}",
    )


def test_precision_recall_and_lead_time_by_hand() -> None:
    distress = {"a": T0 + timedelta(days=10), "b": T0 + timedelta(days=3), "c": T0}
    findings = [
        finding("a", 0),  # early by 10 days
        finding("a", 2),  # a repeat: the first alert counts
        finding("b", 5, Severity.HIGH),  # after b's distress: late, ranked first (high)
        finding("x", 1),  # never distressed
        finding("c", 0),  # at the moment of distress: what no monitoring knows, late
    ]
    score = score_distress(Detector.ACTIVITY_COLLAPSE, findings, distress, people=10, k=2)
    assert score.alerted == 4 and score.positives == 3
    assert (score.early, score.late) == (1, 2)
    assert score.median_lead_days == 10.0
    # ranked: b (high), then a (day 0), c (day 0, by id), x: the top 2 hold one early hit
    assert score.precision_at_k == 0.5 and score.recall_at_k == pytest.approx(1 / 3)
    assert score.baseline_precision == pytest.approx(0.3)


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stream")
    config = SimulationConfig(people=600, seed=9)
    write_events_of(config, out, months=4, end=date(2025, 3, 31))
    return out


def test_a_simulated_stream_is_scored_beside_no_monitoring(stream: Path) -> None:
    result = evaluate(stream, MonitoringConfig())
    assert result.events > 10_000 and result.people > 500
    kinds = [s.type for s in result.scores]
    assert kinds == [d.value for d in Detector]
    for score in result.scores:
        assert 0.0 <= score.precision_at_k <= 1.0 and 0.0 <= score.recall_at_k <= 1.0
        assert score.baseline_precision == pytest.approx(score.positives / result.people)
        assert score.early + score.late <= score.alerted
    stress = next(s for s in result.scores if s.type == "repayment_stress")
    # servicing's missed instalments are in the stream: repayment stress sees every one
    assert stress.early + stress.late >= result.distressed * 0.5
    table = markdown(result)
    assert table.count("\n") == len(result.scores) + 1 and "no-monitoring" in table


def test_monitor_commands_evaluate_and_refuse_a_folder_without_a_stream(
    stream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.cli.main import app

    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["monitor", "evaluate", str(stream), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert next(d["type"] for d in body["detectors"]) == "contagion"
    missing = CliRunner().invoke(app, ["monitor", "evaluate", str(tmp_path)])
    assert missing.exit_code == 2 and "simulate --events" in missing.stderr
    empty = CliRunner().invoke(app, ["monitor", "run", "--until-idle"])
    assert empty.exit_code == 0, empty.output
    assert "events applied" in empty.stdout
