"""Four detectors as pure functions of a person's state and one event: ``(state, event, config)
-> list[Finding]``.

Each runs after the event was folded into the state (``PersonState.apply``), so ``state`` is the
state *after* the event; where a finding shows a count before the event, it is the same window
without this event's contribution. A finding carries the evidence an analyst needs (the event,
the values before and after, the baseline it was compared with) and a dedup key that is a pure
function of the finding's subject, so a replayed stream produces the same keys and the alert
store can suppress repeats within its window.

- ``contagion``: a strong tie becomes delinquent; the exposure rises are computed elsewhere (the
  incremental personalised PageRank) and passed in.
- ``activity_collapse``: activity or interactions far below the person's own baseline, mass tie
  removal, a sudden stop of money coming in.
- ``multi_lending``: new loans or credit inquiries elsewhere in 30 or 90 days.
- ``repayment_stress``: missed or partial instalments, bucket transitions, early-warning signs.

The fraud-ring detector works on the graph, not on one person's state, and lives with it.
Absence (a collapse, a silence) is noticed on the person's next event of any kind, such as the
daily ``activity_day`` summary. ``docs/monitoring.md`` documents the thresholds and their cost.

Pure: no database, files or clock; times come from the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from creditgraph.monitoring.config import (
    ActivityCollapseConfig,
    ContagionConfig,
    MonitoringConfig,
    MultiLendingConfig,
    RepaymentStressConfig,
)
from creditgraph.monitoring.state import (
    RECENT,
    Metric,
    PersonState,
    bucket_rank,
    contribution,
    epoch_day,
    event_day,
    field_of,
)


class Detector(StrEnum):
    """A finding's type: which of the five detectors raised it (the fraud-ring detector works on
    the graph, in ``monitoring.rings``, and raises ``fraud_ring``)."""

    CONTAGION = "contagion"
    ACTIVITY_COLLAPSE = "activity_collapse"
    FRAUD_RING = "fraud_ring"
    MULTI_LENDING = "multi_lending"
    REPAYMENT_STRESS = "repayment_stress"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Finding:
    """What a detector found about one person, before it becomes an alert."""

    type: Detector
    rule: str
    """Which of the detector's conditions held (``missed_instalment``, ``loans_30d``, ...)."""
    severity: Severity
    person_id: str
    occurred_at: datetime
    """The triggering event's time (not the time of processing: replays give the same)."""
    dedup_key: str
    evidence: dict[str, Any] = field(default_factory=dict)
    """``events`` (ids), ``before`` and ``after`` (state values), and the rule's own values."""


@dataclass(frozen=True, slots=True)
class ExposureRise:
    """A neighbour's exposure to known defaulters before and after a person became delinquent,
    computed by the incremental exposure (personalised PageRank) and passed to ``contagion``."""

    person_id: str
    before: float
    after: float
    tie_strength: float
    """The strength of the neighbour's tie to the delinquent person (the graph's tie weight)."""
    active_borrower: bool = True

    @property
    def increase(self) -> float:
        return self.after - self.before


# -- helpers ------------------------------------------------------------------------------------


def _event_ids(event: Any) -> list[str]:
    event_id = field_of(event, "event_id")
    return [str(event_id)] if event_id is not None else []


def _before(state: PersonState, event: Any, metric: Metric, window: int) -> int:
    """``metric`` over ``window`` without this event's own contribution."""
    after = state.count(metric, window)
    counted = contribution(event)
    if counted is None or counted[0] is not metric or state.day is None:
        return after
    if state.day - event_day(event) >= window:
        return after
    return after - counted[1]


def _finding(
    detector: Detector,
    rule: str,
    severity: Severity,
    state: PersonState,
    event: Any,
    key: Iterable[object],
    **evidence: Any,
) -> Finding:
    return Finding(
        type=detector,
        rule=rule,
        severity=severity,
        person_id=state.person_id,
        occurred_at=field_of(event, "occurred_at"),
        dedup_key=":".join(str(part) for part in (detector.value, rule, state.person_id, *key)),
        evidence={"events": _event_ids(event), **evidence},
    )


# -- 1. contagion --------------------------------------------------------------------------------


def contagion_trigger(state: PersonState, event: Any, config: ContagionConfig) -> str | None:
    """Why ``event`` makes its person a delinquent tie (``delinquent``, ``written_off``,
    ``fraud``), or None when it does not."""
    kind = field_of(event, "type")
    if kind == "dpd_bucket_changed":
        threshold = bucket_rank(config.delinquent_from_bucket)
        was = bucket_rank(field_of(event, "from_bucket"))
        now = bucket_rank(field_of(event, "to_bucket"))
        return "delinquent" if was < threshold <= now else None
    if kind == "loan_written_off":
        return "written_off"
    if kind in config.fraud_event_types:
        return "fraud"
    return None


def contagion(
    state: PersonState,
    event: Any,
    config: MonitoringConfig,
    exposure_rises: Iterable[ExposureRise] = (),
) -> list[Finding]:
    """When the event makes its person delinquent, flag the active borrowers tied strongly to
    them whose exposure rose by at least the threshold, largest rise first (ties broken by id),
    at most ``max_flagged``. Each finding is about the neighbour, not the delinquent person."""
    settings = config.contagion
    trigger = contagion_trigger(state, event, settings)
    if trigger is None:
        return []
    min_strength = float(settings.min_tie_strength)
    min_increase = float(settings.min_exposure_increase)
    high = float(settings.high_increase)
    candidates = [
        rise
        for rise in exposure_rises
        if rise.active_borrower
        and rise.person_id != state.person_id
        and rise.tie_strength >= min_strength
        and rise.increase >= min_increase
    ]
    candidates.sort(key=lambda rise: (-rise.increase, rise.person_id))
    findings = []
    for rank, rise in enumerate(candidates[: settings.max_flagged], start=1):
        findings.append(
            Finding(
                type=Detector.CONTAGION,
                rule=trigger,
                severity=Severity.HIGH if rise.increase >= high else Severity.MEDIUM,
                person_id=rise.person_id,
                occurred_at=field_of(event, "occurred_at"),
                dedup_key=f"contagion:{trigger}:{rise.person_id}:{state.person_id}",
                evidence={
                    "events": _event_ids(event),
                    "delinquent_person_id": state.person_id,
                    "rank": rank,
                    "tie_strength": rise.tie_strength,
                    "increase": rise.increase,
                    "before": {"exposure": rise.before},
                    "after": {"exposure": rise.after},
                },
            )
        )
    return findings


# -- 2. activity collapse and network churn -------------------------------------------------------


def _below_baseline(
    state: PersonState,
    event: Any,
    metric: Metric,
    rule: str,
    ratio: float,
    min_weekly: float,
    min_days: int,
) -> Finding | None:
    """This week's ``metric`` below ``ratio`` times the baseline's weekly mean, when that mean is
    at least ``min_weekly`` over at least ``min_days`` observed days."""
    days = state.baseline_days()
    if days < min_days:
        return None
    expected = state.baseline_total(metric) * RECENT / days
    recent = state.count(metric, RECENT)
    if expected < min_weekly or recent >= ratio * expected:
        return None
    severity = Severity.HIGH if recent == 0 else Severity.MEDIUM
    return _finding(
        Detector.ACTIVITY_COLLAPSE,
        rule,
        severity,
        state,
        event,
        (),
        baseline_days=days,
        before={f"{rule}_weekly_baseline": expected},
        after={f"{rule}_7d": recent},
    )


def activity_collapse(state: PersonState, event: Any, config: MonitoringConfig) -> list[Finding]:
    """Activity days or interactions this week far below the person's own baseline, a mass
    removal of ties, or a sudden stop of money coming in."""
    settings: ActivityCollapseConfig = config.activity_collapse
    findings: list[Finding] = []
    for metric, rule, ratio, min_weekly in (
        (
            Metric.ACTIVE_DAYS,
            "activity",
            settings.activity_ratio,
            settings.min_weekly_active_days,
        ),
        (
            Metric.INTERACTIONS,
            "interactions",
            settings.interactions_ratio,
            settings.min_weekly_interactions,
        ),
    ):
        found = _below_baseline(
            state,
            event,
            metric,
            rule,
            float(ratio),
            float(min_weekly),
            settings.min_baseline_days,
        )
        if found is not None:
            findings.append(found)
    kind = field_of(event, "type")
    if kind == "tie_ended":
        churn = _tie_churn(state, event, settings)
        if churn is not None:
            findings.append(churn)
    silence = _transfer_silence(state, event, settings)
    if silence is not None:
        findings.append(silence)
    return findings


def _tie_churn(state: PersonState, event: Any, settings: ActivityCollapseConfig) -> Finding | None:
    ended = state.count(Metric.TIES_ENDED, RECENT)
    daily = state.baseline_daily(Metric.TIES_ENDED) or 0.0
    usual = max(1.0, daily * RECENT)
    if ended < settings.ties_ended_min or ended < float(settings.ties_ended_over_baseline) * usual:
        return None
    return _finding(
        Detector.ACTIVITY_COLLAPSE,
        "ties_ended",
        Severity.HIGH if ended >= 2 * settings.ties_ended_min else Severity.MEDIUM,
        state,
        event,
        (),
        baseline_days=state.baseline_days(),
        ties_ended_weekly_baseline=daily * RECENT,
        before={"ties_ended_7d": _before(state, event, Metric.TIES_ENDED, RECENT)},
        after={"ties_ended_7d": ended},
    )


def _transfer_silence(
    state: PersonState, event: Any, settings: ActivityCollapseConfig
) -> Finding | None:
    last = state.last_transfer_day
    if last is None or state.day is None:
        return None
    silent_days = state.day - last
    baseline = state.baseline_total(Metric.TRANSFERS_IN_FEN)
    if (
        silent_days < settings.transfer_silence_days
        or baseline < settings.min_baseline_transfers_fen
    ):
        return None
    return _finding(
        Detector.ACTIVITY_COLLAPSE,
        "transfers_stopped",
        Severity.MEDIUM,
        state,
        event,
        (last,),
        silent_days=silent_days,
        before={"transfers_in_fen_baseline": baseline},
        after={"transfers_in_fen_30d": state.count(Metric.TRANSFERS_IN_FEN, 30)},
    )


# -- 4. multi-lending velocity --------------------------------------------------------------------


def multi_lending(state: PersonState, event: Any, config: MonitoringConfig) -> list[Finding]:
    """A new loan or a credit inquiry elsewhere that brings its 30- or 90-day count to its
    threshold or above: one finding per event, naming every window over its threshold."""
    settings: MultiLendingConfig = config.multi_lending
    counted = contribution(event)
    if counted is None or not counted[1]:
        return []
    metric = counted[0]
    if metric is Metric.EXTERNAL_LOANS:
        subject, limits = "loans", ((30, settings.loans_30d), (90, settings.loans_90d))
    elif metric is Metric.INQUIRIES:
        subject, limits = "inquiries", ((30, settings.inquiries_30d), (90, settings.inquiries_90d))
    else:
        return []
    over = [(window, limit) for window, limit in limits if state.count(metric, window) >= limit]
    if not over:
        return []
    high = any(state.count(metric, w) >= settings.high_multiple * limit for w, limit in over)
    return [
        _finding(
            Detector.MULTI_LENDING,
            subject,
            Severity.HIGH if high else Severity.MEDIUM,
            state,
            event,
            (),
            over=[f"{subject}_{window}d" for window, _ in over],
            thresholds={f"{subject}_{window}d": limit for window, limit in limits},
            before={f"{subject}_{w}d": _before(state, event, metric, w) for w, _ in limits},
            after={f"{subject}_{w}d": state.count(metric, w) for w, _ in limits},
        )
    ]


# -- 5. repayment stress ---------------------------------------------------------------------------


_BUCKET_SEVERITY = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH, 4: Severity.HIGH}


def repayment_stress(state: PersonState, event: Any, config: MonitoringConfig) -> list[Finding]:
    """Missed or partial instalments, a loan moving to a worse bucket or written off, and early
    warnings: money coming in falling below half its baseline, new debt elsewhere while behind."""
    settings: RepaymentStressConfig = config.repayment_stress
    kind = field_of(event, "type")
    loan = field_of(event, "loan_id")
    if kind == "instalment_missed":
        missed = state.count(Metric.MISSED_INSTALMENTS, 30)
        paid = int(field_of(event, "amount_paid", 0) or 0)
        return [
            _finding(
                Detector.REPAYMENT_STRESS,
                "partial_instalment" if paid > 0 else "missed_instalment",
                Severity.HIGH if missed >= settings.missed_high_30d else Severity.MEDIUM,
                state,
                event,
                (loan, field_of(event, "instalment")),
                amount_due_fen=field_of(event, "amount_due"),
                amount_paid_fen=paid,
                before={"missed_30d": _before(state, event, Metric.MISSED_INSTALMENTS, 30)},
                after={"missed_30d": missed},
            )
        ]
    if kind == "repayment_posted":
        partial = state.count(Metric.PARTIAL_REPAYMENTS, 30)
        if int(field_of(event, "remaining_due", 0) or 0) <= 0 or partial < settings.partial_min_30d:
            return []
        return [
            _finding(
                Detector.REPAYMENT_STRESS,
                "partial_repayment",
                Severity.LOW,
                state,
                event,
                (loan, field_of(event, "posting_id")),
                remaining_due_fen=field_of(event, "remaining_due"),
                before={"partial_30d": _before(state, event, Metric.PARTIAL_REPAYMENTS, 30)},
                after={"partial_30d": partial},
            )
        ]
    if kind == "dpd_bucket_changed":
        was = bucket_rank(field_of(event, "from_bucket"))
        now = bucket_rank(field_of(event, "to_bucket"))
        if now <= was:
            return []
        return [
            _finding(
                Detector.REPAYMENT_STRESS,
                "bucket_worsened",
                _BUCKET_SEVERITY[now],
                state,
                event,
                (loan, field_of(event, "to_bucket")),
                dpd=field_of(event, "dpd"),
                before={"bucket": field_of(event, "from_bucket")},
                after={"bucket": field_of(event, "to_bucket"), "worst_bucket": state.dpd_bucket},
            )
        ]
    if kind == "loan_written_off":
        return [
            _finding(
                Detector.REPAYMENT_STRESS,
                "written_off",
                Severity.HIGH,
                state,
                event,
                (loan,),
                amount_fen=field_of(event, "amount"),
            )
        ]
    if kind in ("income_summary", "transfer_summary"):
        found = _income_falling(state, event, settings)
        return [found] if found is not None else []
    if kind == "external_loan_reported":
        found = _new_debt_while_behind(state, event, settings)
        return [found] if found is not None else []
    return []


def _behind(state: PersonState, window: int) -> bool:
    return state.count(Metric.MISSED_INSTALMENTS, window) > 0 or bucket_rank(state.dpd_bucket) > 0


def _income_falling(
    state: PersonState, event: Any, settings: RepaymentStressConfig
) -> Finding | None:
    daily = state.baseline_daily(Metric.TRANSFERS_IN_FEN)
    if daily is None or state.baseline_days() < settings.min_baseline_days:
        return None
    expected = daily * 30
    recent = state.count(Metric.TRANSFERS_IN_FEN, 30)
    if expected < settings.min_baseline_income_fen_30d:
        return None
    if recent >= float(settings.income_drop_ratio) * expected:
        return None
    if recent == 0:
        # nothing came in: a payday just outside the window (monthly pay, a 31-day month) or a
        # stop, which ``transfers_stopped`` judges over a longer silence
        return None
    return _finding(
        Detector.REPAYMENT_STRESS,
        "income_falling",
        Severity.MEDIUM if _behind(state, settings.stress_window_days) else Severity.LOW,
        state,
        event,
        (),
        baseline_days=state.baseline_days(),
        before={"transfers_in_fen_30d_baseline": expected},
        after={"transfers_in_fen_30d": recent},
    )


def _new_debt_while_behind(
    state: PersonState, event: Any, settings: RepaymentStressConfig
) -> Finding | None:
    counted = contribution(event)
    if counted is None or not counted[1] or not _behind(state, settings.stress_window_days):
        return None
    opened = field_of(event, "opened_at")
    return _finding(
        Detector.REPAYMENT_STRESS,
        "new_debt_while_behind",
        Severity.MEDIUM,
        state,
        event,
        (field_of(event, "lender"), epoch_day(opened) if opened is not None else ""),
        lender=field_of(event, "lender"),
        amount_fen=field_of(event, "amount"),
        before={"worst_bucket": state.dpd_bucket},
        after={"loans_30d": state.count(Metric.EXTERNAL_LOANS, 30)},
    )


# -- all of them -----------------------------------------------------------------------------------


def detect(
    state: PersonState,
    event: Any,
    config: MonitoringConfig,
    exposure_rises: Iterable[ExposureRise] = (),
) -> list[Finding]:
    """Every detector's findings for one event, in a fixed order (contagion's are about the
    delinquent person's neighbours, the others about the event's person)."""
    return [
        *contagion(state, event, config, exposure_rises),
        *activity_collapse(state, event, config),
        *multi_lending(state, event, config),
        *repayment_stress(state, event, config),
    ]
