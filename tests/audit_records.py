"""One record of every kind the audit log commits to, written as the product's tables hold them.

The audit tests tamper with each in turn; the records are inserted directly so that the log is
tested on its own, whatever writes the records in the product.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert

from creditgraph.audit import outbox
from creditgraph.audit.kinds import trial_balance_sha256
from creditgraph.store.models import (
    Alert,
    AlertAction,
    Consent,
    DecisionRecord,
    EodRun,
    IngestBatch,
    JournalLine,
    Loan,
    LoanTransaction,
    ModelVersion,
    Person,
    WorkspaceAction,
    table_of,
)

AT = datetime(2026, 3, 2, 9, 30, 15, 123456)
DAY = date(2026, 3, 2)
PERSON = "P0000001"


def _decision(decision_id: str, person_id: str) -> dict[str, Any]:
    return {
        "id": decision_id,
        "created_at": AT,
        "as_of": DAY,
        "person_id": person_id,
        "applicant_ref": "APP-1",
        "product_code": "CASH12",
        "amount_fen": 500_000,
        "term_months": 12,
        "purpose": "consumption",
        "schedule_type": "annuity",
        "outcome": "approve",
        "limit_fen": 800_000,
        "pd": 0.0412,
        "score": 631.5,
        "grade": "B",
        "model_id": "scorecard-1",
        "policy_version": "p1",
        "policy_hash": "a" * 64,
        "catalogue_version": "c1",
        "catalogue_hash": "b" * 64,
        "config_version": "k1",
        "config_hash": "c" * 64,
        "inputs_hash": "d" * 64,
        "feature_snapshot_id": None,
        "features_as_of": DAY,
        "inputs": {"income": "8000.00"},
        "fired_rules": [],
        "reasons": [{"code": "R1", "zh": "负债低", "en": "low debt"}],
        "offers": [{"apr": "0.18"}],
        "limit_detail": None,
        "social_data_used": True,
    }


def write_all(conn: Connection, person_id: str = PERSON, suffix: str = "1") -> dict[str, str]:
    """One record of each kind, each committed to the log; kind -> record id."""
    ids: dict[str, str] = {}
    batch = f"B{suffix}"
    conn.execute(
        insert(table_of(IngestBatch)).values(
            id=batch, started_at=AT, finished_at=AT, status="done", content_sha256="e" * 64,
            contract_version="1", counts={"persons": {"accepted": 1}},
        )
    )  # fmt: skip
    ids["ingest_batch"] = batch
    conn.execute(
        insert(table_of(Person)).values(
            person_id=person_id, segment="gig", region_tier="t2", birth_year=1994,
            occupation="driver", declared_monthly_income_enc=b"opaque", registered_at=AT,
            row_hash="h", batch_id=batch, created_at=AT, updated_at=AT,
        )
    )  # fmt: skip
    consent = conn.execute(
        insert(table_of(Consent)).values(
            person_id=person_id, source="wechat", purpose="credit", granted_at=AT,
            sensitive=True, text_version="v3", row_hash="h", batch_id=batch,
        )
    ).inserted_primary_key  # fmt: skip
    assert consent is not None
    ids["consent"] = str(consent[0])
    model = f"scorecard-{suffix}"
    conn.execute(
        insert(table_of(ModelVersion)).values(
            id=model, family="scorecard", variant="social", as_of=DAY, feature_set_version="f1",
            training_data_sha256="f" * 64, artifact={"bins": [1, 2]}, metrics={"auc": 0.74},
            status="champion", created_at=AT, created_by="analyst",
        )
    )  # fmt: skip
    ids["model_version"] = model
    decision = f"D{suffix}"
    conn.execute(insert(table_of(DecisionRecord)).values(**_decision(decision, person_id)))
    ids["decision"] = decision
    loan = f"L{suffix}"
    booked = DAY if suffix == "1" else DAY + timedelta(days=1)  # after the logged day end
    conn.execute(
        insert(table_of(Loan)).values(
            id=loan, decision_id=decision, offer_index=0, person_id=person_id,
            product_code="CASH12", state="active", principal_fen=500_000, upfront_fee_fen=0,
            nominal_rate="0.18", penalty_rate="0.27", prepayment_fee_rate="0", periods=12,
            allocation_order="fees,interest,principal", method="annuity", frequency="monthly",
            day_count="act365", created_at=AT, updated_at=AT,
        )
    )  # fmt: skip
    conn.execute(
        insert(table_of(LoanTransaction)).values(
            id=f"T{suffix}", loan_id=loan, kind="disburse", business_date=booked, amount_fen=500_000,
            actor="system", created_at=AT, detail={},
        )
    )  # fmt: skip
    conn.execute(
        insert(table_of(JournalLine)),
        [
            {"transaction_id": f"T{suffix}", "loan_id": loan, "account": "loan_principal",
             "debit_fen": 500_000, "credit_fen": 0, "business_date": booked},
            {"transaction_id": f"T{suffix}", "loan_id": loan, "account": "cash",
             "debit_fen": 0, "credit_fen": 500_000, "business_date": booked},
        ],
    )  # fmt: skip
    if suffix == "1":
        conn.execute(
            insert(table_of(EodRun)).values(
                business_date=DAY, started_at=AT, finished_at=AT, loans_processed=1,
                status="completed", trial_balance_sha256=trial_balance_sha256(conn, DAY),
            )
        )  # fmt: skip
        ids["day_end"] = DAY.isoformat()
    alert = f"A{suffix}"
    conn.execute(
        insert(table_of(Alert)).values(
            id=alert, type="fraud_ring", rule="ring.dense", severity="high", person_id=person_id,
            status="open", dedup_key=f"ring:{person_id}", occurred_at=AT, created_at=AT,
            last_seen_at=AT, repeat_count=0, evidence={"members": 6}, actions=[],
        )
    )  # fmt: skip
    ids["alert"] = alert
    action = conn.execute(
        insert(table_of(AlertAction)).values(
            alert_id=alert, person_id=person_id, action="freeze_limit", params={"days": 30},
            outcome="frozen", policy_version="h3", policy_hash="9" * 64, actor="monitor", at=AT,
        )
    ).inserted_primary_key  # fmt: skip
    assert action is not None
    ids["alert_action"] = str(action[0])
    conn.execute(
        insert(table_of(WorkspaceAction)).values(
            id=f"W{suffix}", at=AT, actor="web:ana", role="officer", action="review.approve",
            target=f"R{suffix}", outcome="done", detail={"note_sha256": "0" * 64},
        )
    )  # fmt: skip
    ids["workspace_action"] = f"W{suffix}"
    for kind, record_id in ids.items():
        outbox.record(conn, kind, record_id)
    return ids


def write_all_in(engine: Engine, person_id: str = PERSON, suffix: str = "1") -> dict[str, str]:
    with engine.begin() as conn:
        return write_all(conn, person_id, suffix)
