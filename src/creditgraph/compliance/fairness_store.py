"""Fairness over the database: read one period's decisions, assess them, raise alerts.

A period is a calendar month of decision dates (``2026-07``). Each person counts once, by
their latest automated decision in the period that approved or declined (a referral awaits a
person's review and is not yet an outcome). Outcomes, for equal opportunity: the loan made
from the decision once it closed (good) or was written off or reached 90+ days past due (bad);
otherwise the person's latest recorded loan outcome; otherwise unknown.

A group below the four-fifths line raises one ``fairness_disparity`` alert per (attribute,
group, period): the dedup key names the three, an unresolved alert folds the repeat in (its
count and latest figures), a resolved one is left closed (an officer has dealt with that
period). Portfolio alerts concern no person: their ``person_id`` is the marker ``PORTFOLIO``,
which is never a pseudonym (pseudonyms are hexadecimal), so erasure, subject exports and
person filters never touch them. Evidence holds group counts and rates only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from creditgraph.audit import outbox as audit_log
from creditgraph.compliance.fairness import DecisionFacts, FairnessReport, GroupResult, assess
from creditgraph.compliance.pack import FairnessRules
from creditgraph.ids import time_ordered_id
from creditgraph.store.db import write_transaction
from creditgraph.store.models import Alert, DecisionRecord, Loan, LoanOutcome, Person, table_of

FAIRNESS_ALERT = "fairness_disparity"
FAIRNESS_RULE = "four_fifths"
PORTFOLIO = "portfolio"
"""The ``person_id`` of an alert about the whole portfolio: not hexadecimal, so never a pseudonym."""

ALERTS = table_of(Alert)
DECISIONS = table_of(DecisionRecord)
PERSONS = table_of(Person)
LOANS = table_of(Loan)
OUTCOMES = table_of(LoanOutcome)
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
_CHUNK = 500


class FairnessInputError(ValueError):
    """A period or option that cannot be honoured; ``en`` and ``zh`` say why."""

    def __init__(self, en: str, zh: str, field: str) -> None:
        super().__init__(f"{field}: {en} / {zh}")
        self.en, self.zh, self.field = en, zh, field


def period_bounds(period: str) -> tuple[date, date]:
    """The first day of the month ``YYYY-MM`` and the first day of the next."""
    match = _PERIOD.match(period)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise FairnessInputError(
            "period must be a month written YYYY-MM, e.g. 2026-07",
            "期间必须是 YYYY-MM 格式的月份，例如 2026-07",
            "period",
        )
    year, month = int(match.group(1)), int(match.group(2))
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start, end


def current_period(now: datetime | None = None) -> str:
    at = now or datetime.now(UTC)
    return f"{at.year:04d}-{at.month:02d}"


def read_facts(conn: Connection, period: str) -> list[DecisionFacts]:
    """Each person's latest approve/decline decision in ``period`` with their groups and outcome."""
    start, end = period_bounds(period)
    decided = (
        select(
            DECISIONS.c.id,
            DECISIONS.c.person_id,
            DECISIONS.c.as_of,
            DECISIONS.c.outcome,
            func.row_number()
            .over(
                partition_by=DECISIONS.c.person_id,
                order_by=(DECISIONS.c.created_at.desc(), DECISIONS.c.id.desc()),
            )
            .label("nth"),
        )
        .where(
            DECISIONS.c.as_of >= start,
            DECISIONS.c.as_of < end,
            DECISIONS.c.outcome.in_(("approve", "decline")),
        )
        .subquery()
    )
    rows = conn.execute(
        select(
            decided.c.id,
            decided.c.person_id,
            decided.c.as_of,
            decided.c.outcome,
            PERSONS.c.gender,
            PERSONS.c.birth_year,
            PERSONS.c.region_tier,
            PERSONS.c.segment,
        )
        .join(PERSONS, PERSONS.c.person_id == decided.c.person_id)
        .where(decided.c.nth == 1)
        .order_by(decided.c.id)
    ).all()
    own = _own_loan_outcomes(conn, [r.id for r in rows])
    recorded = _recorded_outcomes(conn, [r.person_id for r in rows])
    return [
        DecisionFacts(
            decided_on=r.as_of,
            approved=r.outcome == "approve",
            gender=r.gender,
            birth_year=r.birth_year,
            region_tier=r.region_tier,
            segment=r.segment,
            bad=own.get(r.id, recorded.get(r.person_id)),
        )
        for r in rows
    ]


def _own_loan_outcomes(conn: Connection, decision_ids: list[str]) -> dict[str, bool]:
    """Decision id -> bad, for loans from these decisions whose outcome is known."""
    out: dict[str, bool] = {}
    bad = or_(LOANS.c.state == "written_off", LOANS.c.dpd >= 90)
    for start in range(0, len(decision_ids), _CHUNK):
        chunk = decision_ids[start : start + _CHUNK]
        for row in conn.execute(
            select(LOANS.c.decision_id, bad.label("bad")).where(
                LOANS.c.decision_id.in_(chunk), or_(LOANS.c.state == "closed", bad)
            )
        ):
            out[row.decision_id] = bool(row.bad)
    return out


def _recorded_outcomes(conn: Connection, person_ids: list[str]) -> dict[str, bool]:
    """Person -> defaulted, from each person's latest recorded loan outcome."""
    out: dict[str, tuple[datetime, bool]] = {}
    for start in range(0, len(person_ids), _CHUNK):
        chunk = person_ids[start : start + _CHUNK]
        for row in conn.execute(
            select(OUTCOMES.c.person_id, OUTCOMES.c.observed_at, OUTCOMES.c.defaulted).where(
                OUTCOMES.c.person_id.in_(chunk)
            )
        ):
            held = out.get(row.person_id)
            if held is None or row.observed_at > held[0]:
                out[row.person_id] = (row.observed_at, bool(row.defaulted))
    return {person: bad for person, (_, bad) in out.items()}


def assess_period(engine: Engine, period: str, rules: FairnessRules) -> FairnessReport:
    """The fairness of ``period``'s decisions under ``rules``."""
    with engine.connect() as conn:
        facts = read_facts(conn, period)
    return assess(facts, rules)


# -- alerts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    alert_id: str
    dedup_key: str
    attribute: str
    group: str
    new: bool
    repeat_count: int


def dedup_key(attribute: str, group: str, period: str) -> str:
    return f"{FAIRNESS_ALERT}:{attribute}:{group}:{period}"


def _evidence(g: GroupResult, report: FairnessReport, reference: str | None, period: str) -> Any:
    return {
        "period": period,
        "attribute": g.attribute,
        "group": g.group,
        "people": g.people,
        "approved": g.approved,
        "approval_rate": round(g.approval_rate, 6),
        "ratio": None if g.ratio is None else round(g.ratio, 6),
        "reference_group": reference,
        "min_ratio": str(report.min_ratio),
        "decisions": report.decisions,
    }


def raise_alerts(
    engine: Engine, report: FairnessReport, period: str, *, now: datetime | None = None
) -> list[RaisedAlert]:
    """Store a ``fairness_disparity`` alert for each group below the four-fifths line, once per
    (attribute, group, period); a repeat folds into the unresolved alert. Severity is high
    below three fifths of the reference rate, else medium."""
    period_bounds(period)
    at = (now or datetime.now(UTC)).replace(tzinfo=None)
    references = {a.attribute: a.reference_group for a in report.attributes}
    failing = report.failing
    if not failing:
        return []
    out: list[RaisedAlert] = []
    with write_transaction(engine) as conn:
        keys = [dedup_key(g.attribute, g.group, period) for g in failing]
        existing = {
            row.dedup_key: row
            for row in conn.execute(
                select(ALERTS.c.id, ALERTS.c.dedup_key, ALERTS.c.status, ALERTS.c.repeat_count)
                .where(ALERTS.c.dedup_key.in_(keys), ALERTS.c.type == FAIRNESS_ALERT)
                .order_by(ALERTS.c.id)
            )
        }
        committed: list[str] = []
        for g, key in zip(failing, keys, strict=True):
            evidence = _evidence(g, report, references.get(g.attribute), period)
            severity = "high" if g.ratio is not None and g.ratio < 0.6 else "medium"
            held = existing.get(key)
            if held is None:
                alert_id = time_ordered_id("al", "_").lower()
                conn.execute(
                    insert(ALERTS),
                    {
                        "id": alert_id,
                        "type": FAIRNESS_ALERT,
                        "rule": FAIRNESS_RULE,
                        "severity": severity,
                        "person_id": PORTFOLIO,
                        "status": "open",
                        "dedup_key": key,
                        "occurred_at": at,
                        "created_at": at,
                        "last_seen_at": at,
                        "repeat_count": 0,
                        "evidence": evidence,
                        "actions": [],
                    },
                )
                committed.append(alert_id)
                out.append(RaisedAlert(alert_id, key, g.attribute, g.group, True, 0))
            elif held.status != "resolved":
                repeats = int(held.repeat_count) + 1
                conn.execute(
                    update(ALERTS)
                    .where(and_(ALERTS.c.id == held.id, ALERTS.c.status != "resolved"))
                    .values(repeat_count=repeats, last_seen_at=at, evidence=evidence)
                )
                committed.append(held.id)
                out.append(RaisedAlert(held.id, key, g.attribute, g.group, False, repeats))
        audit_log.record_many(conn, "alert", committed)
    return out


def monitor_fairness(
    engine: Engine,
    rules: FairnessRules,
    *,
    period: str | None = None,
    raise_alert: bool = True,
    now: datetime | None = None,
) -> tuple[FairnessReport, list[RaisedAlert]]:
    """The scheduled job: assess ``period`` (default: the current month) and raise alerts."""
    chosen = period or current_period(now)
    report = assess_period(engine, chosen, rules)
    raised = raise_alerts(engine, report, chosen, now=now) if raise_alert else []
    return report, raised
