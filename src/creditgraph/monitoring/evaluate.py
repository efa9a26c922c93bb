"""How well the detectors warn, measured on a simulated event stream with its ground truth.

``creditgraph simulate --events`` writes a world's events (``_events/events.jsonl``), its loan
book's servicing events (``_events/servicing_events.jsonl``) and what was planted
(``_truth/events_truth.json``). ``evaluate`` replays both streams in time order through the
monitor (the same state, graph and detectors the service runs; no database, no consent gate:
the simulator's consents are not what is measured) and scores each detector:

- **distress** (contagion, activity collapse, multi-lending, repayment stress): a person is
  distressed from their first missed instalment or default in the window (the servicing events
  and the planted collapses and contagion). An alert is *early* when it comes before that
  moment (an alert raised by the missed instalment itself is what no monitoring already knows:
  it counts as late); its **lead time** is the days between. People alerted are ranked by severity, then by
  the time of their first alert; **precision at K** is the share of the first K who became
  distressed after the alert, **recall at K** the share of all distressed people among
  them.
- **fraud rings**: the positives are the members of the planted rings that show in the stream
  (at least three members seen on a device or phone in the window); precision and recall at K
  count members, and a planted ring is *found* when at least half its members are in one alerted
  block.

The baseline is **no monitoring**: the lender learns of distress at the first missed
instalment (lead time 0) and, with no ranking, picks K people at the base rate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import orjson

from creditgraph.monitoring.config import MonitoringConfig
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.monitoring.monitor import Monitor
from creditgraph.monitoring.validate import validate_batch

EVENTS = ("_events", "events.jsonl")
SERVICING = ("_events", "servicing_events.jsonl")
TRUTH = ("_truth", "events_truth.json")
DISTRESS_TYPES = (
    Detector.CONTAGION,
    Detector.ACTIVITY_COLLAPSE,
    Detector.MULTI_LENDING,
    Detector.REPAYMENT_STRESS,
)
SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}
CHUNK = 20_000


class EvaluationError(ValueError):
    """The folder does not hold a simulated event stream and its truth."""


@dataclass
class DetectorScore:
    """One detector's alerts against the truth."""

    type: str
    alerted: int
    positives: int
    k: int
    precision_at_k: float
    recall_at_k: float
    early: int
    late: int
    median_lead_days: float | None
    baseline_precision: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    window: tuple[str, str]
    events: int
    people: int
    distressed: int
    seconds: float
    scores: list[DetectorScore]
    examples: list[Finding]

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": list(self.window),
            "events": self.events,
            "people": self.people,
            "distressed": self.distressed,
            "seconds": round(self.seconds, 2),
            "detectors": [score.__dict__ for score in self.scores],
        }


def _at(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def _merged(paths: Sequence[Path]) -> list[dict[str, Any]]:
    events = [event for path in paths for event in _lines(path)]
    events.sort(key=lambda e: (str(e["occurred_at"]), str(e["event_id"])))
    return events


def distress_times(
    truth: Mapping[str, Any], servicing: Iterable[Mapping[str, Any]]
) -> dict[str, datetime]:
    """Each person's first missed instalment or default the truth and the loan book show."""
    first: dict[str, datetime] = {}

    def note(person: str, at: datetime | None) -> None:
        if at is not None and (person not in first or at < first[person]):
            first[person] = at

    for event in servicing:
        if event.get("type") in ("instalment_missed", "loan_written_off"):
            note(str(event["person_id"]), _at(str(event["occurred_at"])))
    for item in truth.get("activity_collapse", []):
        note(item["person_id"], _at(item.get("first_missed")) or _at(item.get("default_at")))
    for item in truth.get("contagion", []):
        note(item["defaulter"], _at(item.get("default_at")))
        for follower in item.get("followers", []):
            note(follower["person_id"], _at(follower.get("default_at")))
    return first


RING_EVENTS = ("device_seen", "phone_changed")
MIN_RING_SEEN = 3
"""A planted ring counts as in the window when this many members show a device or phone there:
a ring that leaves no trace in the stream cannot be found by it."""


def planted_rings(truth: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> list[set[str]]:
    """Members of the planted rings that show in the stream (see ``MIN_RING_SEEN``)."""
    seen = {str(e["person_id"]) for e in events if e.get("type") in RING_EVENTS}
    rings = []
    for ring in truth.get("fraud_rings", []):
        members = set(ring["members"])
        if len(members & seen) >= MIN_RING_SEEN:
            rings.append(members)
    return rings


def replay(
    events: Sequence[Mapping[str, Any]], config: MonitoringConfig, now: datetime
) -> tuple[list[Finding], int]:
    """Every finding of the stream in order, and the number of people watched."""
    people = max(1, len({str(e["person_id"]) for e in events}))
    monitor = Monitor(config, exposure_eps=0.1 / people)
    findings: list[Finding] = []
    for start in range(0, len(events), CHUNK):
        checked = validate_batch(events[start : start + CHUNK], now)
        if checked.errors:
            first = checked.errors[0]
            raise EvaluationError(
                f"event {first.event_id} breaks the contract: {first.field}: {first.message}"
            )
        day: list[Any] = []
        for event in checked.events:  # micro-batches of one day, as a live monitor sees them
            if day and event.occurred_at.date() != day[-1].occurred_at.date():
                findings.extend(monitor.process_batch(day))
                day = []
            day.append(event)
        findings.extend(monitor.process_batch(day))
    return findings, people


def _first_alerts(findings: Iterable[Finding], kind: Detector) -> dict[str, tuple[int, datetime]]:
    """Per person: the highest severity and the first time ``kind`` alerted them."""
    out: dict[str, tuple[int, datetime]] = {}
    for finding in findings:
        if finding.type is not kind:
            continue
        rank = SEVERITY_RANK[finding.severity]
        known = out.get(finding.person_id)
        if known is None:
            out[finding.person_id] = (rank, finding.occurred_at)
        else:
            out[finding.person_id] = (max(rank, known[0]), min(known[1], finding.occurred_at))
    return out


def _ranked(alerts: Mapping[str, tuple[int, datetime]]) -> list[str]:
    return sorted(alerts, key=lambda p: (-alerts[p][0], alerts[p][1], p))


def score_distress(
    kind: Detector,
    findings: Sequence[Finding],
    distress: Mapping[str, datetime],
    people: int,
    k: int,
) -> DetectorScore:
    alerts = _first_alerts(findings, kind)
    ranked = _ranked(alerts)
    leads = []
    late = 0
    early_people = set()
    for person in ranked:
        at = distress.get(person)
        if at is None:
            continue
        first = alerts[person][1]
        if first < at:
            early_people.add(person)
            leads.append((at - first) / timedelta(days=1))
        else:
            late += 1
    top = ranked[:k]
    hits = sum(1 for p in top if p in early_people)
    return DetectorScore(
        type=kind.value,
        alerted=len(ranked),
        positives=len(distress),
        k=k,
        precision_at_k=hits / k if k else 0.0,
        recall_at_k=hits / len(distress) if distress else 0.0,
        early=len(early_people),
        late=late,
        median_lead_days=round(median(leads), 1) if leads else None,
        baseline_precision=len(distress) / people if people else 0.0,
    )


def score_rings(
    findings: Sequence[Finding], rings: Sequence[set[str]], people: int, k: int
) -> DetectorScore:
    alerts = _first_alerts(findings, Detector.FRAUD_RING)
    ranked = _ranked(alerts)
    members = set().union(*rings) if rings else set()
    top = ranked[:k]
    hits = sum(1 for p in top if p in members)
    blocks = [set(f.evidence.get("persons", ())) for f in findings if f.type is Detector.FRAUD_RING]
    found = sum(1 for ring in rings if any(len(ring & block) * 2 >= len(ring) for block in blocks))
    return DetectorScore(
        type=Detector.FRAUD_RING.value,
        alerted=len(ranked),
        positives=len(members),
        k=k,
        precision_at_k=hits / k if k else 0.0,
        recall_at_k=hits / len(members) if members else 0.0,
        early=sum(1 for p in ranked if p in members),
        late=0,
        median_lead_days=None,
        baseline_precision=len(members) / people if people else 0.0,
        extra={"rings_planted": len(rings), "rings_found": found},
    )


def evaluate(folder: Path, config: MonitoringConfig, k: int | None = None) -> Evaluation:
    """Replay the folder's streams through the monitor and score every detector."""
    import time

    paths = [folder.joinpath(*EVENTS), folder.joinpath(*SERVICING)]
    truth_path = folder.joinpath(*TRUTH)
    missing = [str(p) for p in (*paths, truth_path) if not p.is_file()]
    if missing:
        raise EvaluationError(
            f"not a simulated event stream (creditgraph simulate --events): missing {missing[0]}"
        )
    started = time.perf_counter()
    truth = json.loads(truth_path.read_text())
    start, end = _at(truth["window"]["start"]), _at(truth["window"]["end"])
    assert start is not None and end is not None
    events = _merged(paths)
    servicing = list(_lines(paths[1]))
    distress = {p: at for p, at in distress_times(truth, servicing).items() if start <= at < end}
    findings, people = replay(events, config, end + timedelta(days=1))
    size = k or max(10, len(distress))
    scores = [score_distress(kind, findings, distress, people, size) for kind in DISTRESS_TYPES]
    rings = planted_rings(truth, events)
    scores.insert(2, score_rings(findings, rings, people, k or max(10, sum(map(len, rings)))))
    examples = _examples(findings, distress)
    return Evaluation(
        window=(truth["window"]["start"], truth["window"]["end"]),
        events=len(events),
        people=people,
        distressed=len(distress),
        seconds=time.perf_counter() - started,
        scores=scores,
        examples=examples,
    )


def _examples(findings: Sequence[Finding], distress: Mapping[str, datetime]) -> list[Finding]:
    """Three telling alerts: early warnings of people who did become distressed, of different
    types where there are, else any."""
    chosen: list[Finding] = []
    types: set[Detector] = set()
    for finding in findings:
        at = distress.get(finding.person_id)
        if at is not None and finding.occurred_at < at and finding.type not in types:
            chosen.append(finding)
            types.add(finding.type)
        if len(chosen) == 3:
            return chosen
    for finding in findings:
        if len(chosen) == 3:
            break
        if finding not in chosen and finding.type not in types:
            chosen.append(finding)
            types.add(finding.type)
    return chosen


def markdown(evaluation: Evaluation) -> str:
    """The scores as a Markdown table (docs/monitoring.md)."""
    lines = [
        "| detector | alerted | positives | K | precision@K | recall@K | no-monitoring precision "
        "| early / late | median lead (days) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in evaluation.scores:
        lead = "—" if s.median_lead_days is None else f"{s.median_lead_days:.1f} (baseline 0)"
        extra = ""
        if s.extra:
            extra = f" ({s.extra['rings_found']} of {s.extra['rings_planted']} rings found)"
        lines.append(
            f"| {s.type}{extra} | {s.alerted} | {s.positives} | {s.k} | {s.precision_at_k:.3f} "
            f"| {s.recall_at_k:.3f} | {s.baseline_precision:.3f} | {s.early} / {s.late} "
            f"| {lead} |"
        )
    return "\n".join(lines)
