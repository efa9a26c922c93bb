"""Decision records, review requests and audit events as rows, and their public views.

Pure: the rows a decision or a review step writes, and the JSON-ready answers read back from
them (money as yuan strings, times as ISO text). The statements that store and read them live
in ``record_store`` and ``review_store``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from creditgraph.decision.applicant import Applicant
from creditgraph.decision.engine import Application, Decision
from creditgraph.decision.rules import Outcome
from creditgraph.ids import time_ordered_id
from creditgraph.money import from_fen, to_fen

SYSTEM_ACTOR = "decision-engine"

# One decided application: what was asked, what the engine said, what it was read from, and
# the caller's reference for the applicant.
Decided = tuple[Application, Decision, Applicant, str | None]


def new_id(prefix: str) -> str:
    return time_ordered_id(prefix, "_").lower()


def event_row(
    decision_id: str,
    review_id: str | None,
    event: str,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "review_id": review_id,
        "event": event,
        "actor": actor,
        "at": at,
        "note": note,
    }


def review_row(
    decision_id: str, kind: str, requested_by: str, note: str | None, at: datetime
) -> dict[str, Any]:
    return {
        "id": new_id("rv"),
        "decision_id": decision_id,
        "kind": kind,
        "status": "open",
        "requested_by": requested_by,
        "note": note,
        "created_at": at,
        "taken_by": None,
        "taken_at": None,
        "resolved_by": None,
        "resolved_at": None,
        "resolution_note": None,
    }


def record_row(
    application: Application,
    decision: Decision,
    found: Applicant,
    applicant_ref: str | None,
    at: datetime,
) -> dict[str, Any]:
    data = decision.to_dict()
    return {
        "id": new_id("dec"),
        "created_at": at,
        "as_of": application.as_of,
        "person_id": application.person_id,
        "applicant_ref": applicant_ref,
        "product_code": decision.product_code,
        "amount_fen": to_fen(application.amount),
        "term_months": application.term_months,
        "purpose": application.purpose,
        "schedule_type": str(application.schedule_type),
        "outcome": decision.outcome.value,
        "limit_fen": to_fen(decision.limit),
        "pd": decision.pd,
        "score": decision.score,
        "grade": decision.grade,
        "model_id": decision.model_version,
        "policy_version": decision.policy_version,
        "policy_hash": decision.policy_hash,
        "catalogue_version": decision.catalogue_version,
        "catalogue_hash": decision.catalogue_hash,
        "config_version": decision.config_version,
        "config_hash": decision.config_hash,
        "inputs_hash": decision.inputs_hash,
        "feature_snapshot_id": found.snapshot_id,
        "features_as_of": found.as_of,
        "inputs": data["features"],
        "fired_rules": data["fired_rules"],
        "reasons": data["reasons"],
        "offers": data["offers"],
        "limit_detail": data["limit_detail"],
        "social_data_used": decision.social_data_used,
    }


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def review_public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A review request as JSON-ready data: times as ISO text."""
    out = dict(row)
    for name in ("created_at", "taken_at", "resolved_at"):
        out[name] = _iso(out.get(name))
    return out


def public(row: Mapping[str, Any], reviews: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored decision as JSON-ready data: money as yuan strings, times as ISO text."""
    return {
        "id": row["id"],
        "created_at": _iso(row["created_at"]),
        "as_of": _iso(row["as_of"]),
        "person_id": row["person_id"],
        "applicant_ref": row["applicant_ref"],
        "product_code": row["product_code"],
        "amount": str(from_fen(row["amount_fen"])),
        "term_months": row["term_months"],
        "purpose": row["purpose"],
        "schedule_type": row["schedule_type"],
        "outcome": row["outcome"],
        "limit": str(from_fen(row["limit_fen"])),
        "pd": row["pd"],
        "score": row["score"],
        "grade": row["grade"],
        "model_id": row["model_id"],
        "policy": {"version": row["policy_version"], "hash": row["policy_hash"]},
        "catalogue": {"version": row["catalogue_version"], "hash": row["catalogue_hash"]},
        "config": {"version": row["config_version"], "hash": row["config_hash"]},
        "inputs_hash": row["inputs_hash"],
        "feature_snapshot_id": row["feature_snapshot_id"],
        "features_as_of": _iso(row["features_as_of"]),
        "social_data_used": row["social_data_used"],
        "fired_rules": row["fired_rules"],
        "reasons": row["reasons"],
        "offers": row["offers"],
        "limit_detail": row["limit_detail"],
        "reviews": reviews,
    }


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored decision's summary: what a batch result file shows for it."""
    offer = record["offers"][0] if record["offers"] else {}
    return {
        "id": record["id"],
        "person_id": record["person_id"],
        "product_code": record["product_code"],
        "outcome": record["outcome"],
        "limit": record["limit"],
        "amount_offered": offer.get("amount", ""),
        "all_in_rate": offer.get("all_in_rate", ""),
        "reviews": record["reviews"],
    }


@dataclass
class DecisionRows:
    """The rows that storing some decisions writes, and the answers for them, in order."""

    records: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)


def decision_rows(items: list[Decided], at: datetime) -> DecisionRows:
    """Each decision's record and ``decided`` event; a referral also opens a review request."""
    rows = DecisionRows()
    for application, decision, found, ref in items:
        record = record_row(application, decision, found, ref, at)
        rows.records.append(record)
        rows.events.append(
            event_row(record["id"], None, "decided", SYSTEM_ACTOR, at, record["outcome"])
        )
        opened = []
        if decision.outcome is Outcome.REFER:
            review = review_row(record["id"], "referral", SYSTEM_ACTOR, None, at)
            rows.reviews.append(review)
            rows.events.append(
                event_row(record["id"], review["id"], "review_opened:referral", SYSTEM_ACTOR, at)
            )
            opened.append(review_public(review))
        rows.answers.append(public(record, opened))
    return rows
