"""Every logged record is committed to the audit log in the transaction that writes it: an ingest
batch, its consents (granted and revoked), model versions, decisions, day ends, alerts and their
actions. Each commitment opens with the record's live fields under its salt; a rolled-back write
leaves none; a record changed on purpose is committed again; erasure destroys the person's salts
and pseudonyms and leaves every commitment in place. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from creditgraph.audit import commitment
from creditgraph.audit.kinds import kind_of, trial_balance_sha256
from creditgraph.decision.record_store import insert_decision_rows
from creditgraph.decision.records import DecisionRows
from creditgraph.ingest import recovery
from creditgraph.ingest.database import write_rows
from creditgraph.ingest.service import ingest
from creditgraph.monitoring.action_policy import ActionPolicy, parse_action_policy
from creditgraph.monitoring.alerts import acknowledge, record_findings, resolve
from creditgraph.monitoring.detectors import Detector, Finding, Severity
from creditgraph.privacy.erasure import erase
from creditgraph.scoring import registry
from creditgraph.servicing.book.eod import mark_completed, mark_started
from creditgraph.servicing.eod import run_eod
from creditgraph.servicing.loans import LoanService
from creditgraph.settings import Settings
from creditgraph.store.db import migrated_engine, write_transaction
from creditgraph.store.models import (
    AuditRecord,
    Consent,
    EodRun,
    IngestBatch,
    Person,
    table_of,
)
from tests import world
from tests.loan_world import START, active_loan, offer_dict

RECORDS = table_of(AuditRecord)
QUIET = parse_action_policy({"version": "quiet", "suppression_hours": 24})
FREEZE = parse_action_policy(
    {
        "version": "test-1",
        "rules": [
            {"type": "fraud_ring", "min_severity": "high", "actions": ["freeze_undrawn_limit"]}
        ],
    }
)
AT = datetime(2026, 7, 20, 8)
NOW = datetime(2026, 7, 20, 10)


# -- reading the log's rows back -------------------------------------------------------------------


def entries(engine: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(RECORDS).order_by(RECORDS.c.id)
    if kind is not None:
        query = query.where(RECORDS.c.kind == kind)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def of(engine: Engine, kind: str, record_id: str) -> list[dict[str, Any]]:
    return [e for e in entries(engine, kind) if e["record_id"] == record_id]


def opens(conn: Connection, entry: dict[str, Any]) -> bool:
    """Does the entry's commitment open with its record's live fields, as the kind reads them?"""
    kind, record_id = entry["kind"], entry["record_id"]
    _, fields = kind_of(kind).load(conn, [record_id])[record_id]
    expected = commitment.commit(entry["salt"], commitment.opening(kind, record_id, fields))
    return bytes(entry["commitment"]) == expected


def check_latest(
    engine: Engine, kind: str, record_id: str, count: int, person: str | None = None
) -> dict[str, Any]:
    """The record has ``count`` commitments, the latest opening with it as it stands."""
    found = of(engine, kind, record_id)
    assert len(found) == count, (kind, record_id, found)
    latest = found[-1]
    assert latest["person_id"] == person
    assert latest["leaf_index"] is None and latest["erased_at"] is None
    assert len(latest["salt"]) == commitment.SALT_SIZE
    with engine.connect() as conn:
        assert opens(conn, latest)
    return latest


# -- ingest batches and consents -------------------------------------------------------------------


def consent_ids(engine: Engine) -> dict[tuple[str, str, str], str]:
    c = table_of(Consent).c
    with engine.connect() as conn:
        return {
            (r.person_id, r.source, r.purpose): str(r.id)
            for r in conn.execute(select(c.id, c.person_id, c.source, c.purpose))
        }


def test_a_batch_and_each_consent_are_committed_and_a_revocation_again(
    tmp_path: Path, settings: Settings
) -> None:
    first = ingest(world.write_world(tmp_path / "in"), settings)
    with migrated_engine(settings.database_url) as engine:
        assert {e["kind"] for e in entries(engine)} == {"ingest_batch", "consent"}
        batch = check_latest(engine, "ingest_batch", first.batch_id, 1)
        assert batch["person_id"] is None
        consents = consent_ids(engine)
        assert len(consents) == first.by_table()["consents"]["accepted"] > 0
        assert len(entries(engine, "consent")) == len(consents)
        for (person, _, _), consent_id in consents.items():
            check_latest(engine, "consent", consent_id, 1, person)

    changed = [list(r) for r in world.CONSENTS]
    changed[0][5] = "2025-10-01"  # P1 revokes its credit-assessment consent
    (tmp_path / "later").mkdir()
    path = world.write_csv(tmp_path / "later" / "consents.csv", world.CONSENT_COLUMNS, changed)
    second = ingest([path], settings)
    assert second.by_table()["consents"]["updated"] == 1
    with migrated_engine(settings.database_url) as engine:
        check_latest(engine, "ingest_batch", second.batch_id, 1)
        check_latest(engine, "ingest_batch", first.batch_id, 1)
        revoked = [
            (key, i) for key, i in consent_ids(engine).items() if len(of(engine, "consent", i)) > 1
        ]
        assert len(revoked) == 1 and revoked[0][0][2] == "credit_assessment"
        (person, _, _), consent_id = revoked[0]
        latest = check_latest(engine, "consent", consent_id, 2, person)
        earlier = of(engine, "consent", consent_id)[0]
        with engine.connect() as conn:
            _, fields = kind_of("consent").load(conn, [consent_id])[consent_id]
            assert fields["revoked_at"] is not None  # granted without one; now revoked
            assert not opens(conn, earlier)  # the grant as it was no longer matches
        assert latest["commitment"] != earlier["commitment"]
        # the duplicates of the re-sent file are not committed again
        assert len(entries(engine, "consent")) == len(consent_ids(engine)) + 1


def test_a_batch_whose_process_was_killed_is_committed_when_marked_failed(
    settings: Settings,
) -> None:
    with migrated_engine(settings.database_url) as engine:
        with engine.begin() as conn:
            conn.execute(
                table_of(IngestBatch)
                .insert()
                .values(
                    id="killed",
                    started_at=datetime.utcnow(),
                    status="running",
                    content_sha256="0" * 64,
                    contract_version="1",
                    counts={},
                    owner_host="elsewhere",
                    owner_pid=1,
                    heartbeat_at=datetime.utcnow() - timedelta(days=1),
                )
            )
        assert entries(engine) == []  # a running batch is not committed
        assert recovery.recover(engine, settings).failed == ["killed"]
        latest = check_latest(engine, "ingest_batch", "killed", 1)
        with engine.connect() as conn:
            _, fields = kind_of("ingest_batch").load(conn, ["killed"])["killed"]
        assert fields["status"] == "failed"
        assert latest["record_id"] == "killed"


# -- model versions --------------------------------------------------------------------------------


def _register(engine: Engine, auc: float) -> registry.ModelRecord:
    return registry.register(
        engine,
        family="scorecard",
        as_of=date(2026, 6, 30),
        feature_set_version="1",
        training_data_sha256="a" * 64,
        artifact={"auc": auc},
        metrics={"test": {"auc": auc}, "impact_assessment_id": "DPIA-7"},
        actor="analyst-1",
    )


def test_registration_promotion_and_retirement_are_each_committed(engine: Engine) -> None:
    first, second = _register(engine, 0.70), _register(engine, 0.75)
    check_latest(engine, "model_version", first.id, 1)
    check_latest(engine, "model_version", second.id, 1)
    registry.promote(engine, first.id, "risk-head")
    check_latest(engine, "model_version", first.id, 2)
    registry.promote(engine, second.id, "risk-head")  # retires the first in the same transaction
    check_latest(engine, "model_version", first.id, 3)
    check_latest(engine, "model_version", second.id, 2)
    registry.promote(engine, second.id, "someone-else")  # already champion: nothing changes
    check_latest(engine, "model_version", second.id, 2)
    with engine.connect() as conn:
        loaded = kind_of("model_version").load(conn, [first.id, second.id])
    assert loaded[first.id][1]["status"] == "retired"
    assert loaded[second.id][1]["status"] == "champion"
    assert loaded[second.id][1]["impact_assessment_id"] == "DPIA-7"
    assert len(entries(engine)) == 5


# -- decisions -------------------------------------------------------------------------------------


def decision_row(person: str | None = None) -> dict[str, Any]:
    """A decision record as the decision service stores it (the row ``loan_world`` inserts)."""
    o = offer_dict()
    return {
        "id": f"DC-{uuid.uuid4().hex[:16]}",
        "created_at": datetime(2026, 7, 1, 9),
        "as_of": START,
        "person_id": person or f"p{uuid.uuid4().hex[:12]}",
        "applicant_ref": None,
        "product_code": o["product_code"],
        "amount_fen": int(Decimal(o["amount"]) * 100),
        "term_months": o["term_months"],
        "purpose": "business_operation",
        "schedule_type": o["schedule_type"],
        "outcome": "approve",
        "limit_fen": 5_000_000,
        "pd": 0.02,
        "score": 650.0,
        "grade": "B",
        "model_id": None,
        "policy_version": "t",
        "policy_hash": "0" * 64,
        "catalogue_version": "t",
        "catalogue_hash": "0" * 64,
        "config_version": "t",
        "config_hash": "0" * 64,
        "inputs_hash": "1" * 64,
        "feature_snapshot_id": None,
        "features_as_of": None,
        "inputs": {"income": "8000"},
        "fired_rules": [],
        "reasons": [{"code": "R1"}],
        "offers": [o],
        "limit_detail": None,
        "social_data_used": False,
    }


def store_decisions(engine: Engine, *rows: dict[str, Any]) -> None:
    with write_transaction(engine) as conn:
        insert_decision_rows(conn, DecisionRows(records=list(rows)))


def test_each_decision_is_committed_with_its_person(engine: Engine) -> None:
    rows = [decision_row() for _ in range(3)]
    store_decisions(engine, *rows)
    for row in rows:
        check_latest(engine, "decision", row["id"], 1, row["person_id"])
    assert len(entries(engine)) == 3


# -- day ends --------------------------------------------------------------------------------------


def test_each_day_end_stores_and_commits_the_digest_of_its_trial_balance(engine: Engine) -> None:
    service = LoanService(engine)
    active_loan(service)
    run_eod(engine, START + timedelta(days=2))  # catches up from the day of disbursement
    days = [START + timedelta(days=k) for k in range(3)]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(EodRun.business_date, EodRun.trial_balance_sha256)).all())
        assert stored == {day: trial_balance_sha256(conn, day) for day in days}
    assert stored[days[1]] != stored[days[2]]  # a day's accrual moves the books
    for day in days:
        check_latest(engine, "day_end", day.isoformat(), 1)
    run_eod(engine, days[-1])  # a second run of a completed day changes nothing
    assert len(entries(engine, "day_end")) == 3


# -- alerts and their actions ----------------------------------------------------------------------


def finding(
    person: str = "p1",
    at: datetime = AT,
    event: str = "ev-1",
    severity: Severity = Severity.MEDIUM,
    detector: Detector = Detector.MULTI_LENDING,
    evidence: dict[str, Any] | None = None,
) -> Finding:
    return Finding(
        type=detector,
        rule="rule",
        severity=severity,
        person_id=person,
        occurred_at=at,
        dedup_key=f"{detector.value}:rule:{person}",
        evidence=evidence or {"events": [event]},
    )


def record(engine: Engine, *findings: Finding, policy: ActionPolicy = QUIET) -> list[str]:
    with write_transaction(engine) as conn:
        return [r.alert_id for r in record_findings(conn, findings, now=NOW, policy=policy)]


def test_an_alert_is_committed_when_it_opens_changes_is_acknowledged_and_resolved(
    engine: Engine,
) -> None:
    (alert_id,) = record(engine, finding())
    check_latest(engine, "alert", alert_id, 1, "p1")
    record(engine, finding())  # the first repeat adds its evidence as the latest
    check_latest(engine, "alert", alert_id, 2, "p1")
    record(engine, finding())  # redelivered as it was: only the repeat count moves
    check_latest(engine, "alert", alert_id, 2, "p1")
    record(engine, finding(at=AT + timedelta(hours=1), event="ev-2"))  # new evidence
    check_latest(engine, "alert", alert_id, 3, "p1")
    record(engine, finding(at=AT + timedelta(hours=1), event="ev-2", severity=Severity.HIGH))
    check_latest(engine, "alert", alert_id, 4, "p1")
    acknowledge(engine, alert_id, by="officer-1", note="calling")
    check_latest(engine, "alert", alert_id, 5, "p1")
    resolve(engine, alert_id, by="officer-2", note="income verified")
    check_latest(engine, "alert", alert_id, 6, "p1")
    actions = entries(engine, "alert_action")
    assert len(actions) == 2
    with engine.connect() as conn:
        assert all(opens(conn, a) and a["person_id"] == "p1" for a in actions)
        steps = [
            kind_of("alert_action").load(conn, [a["record_id"]])[a["record_id"]][1]["action"]
            for a in actions
        ]
    assert steps == ["acknowledge", "resolve"]


def test_the_actions_of_a_batch_of_alerts_are_committed_in_bulk(engine: Engine) -> None:
    people = [f"p{k}" for k in range(3)]
    ids = record(
        engine,
        *(finding(p, detector=Detector.FRAUD_RING, severity=Severity.HIGH) for p in people),
        policy=FREEZE,
    )
    for person, alert_id in zip(people, ids, strict=True):
        check_latest(engine, "alert", alert_id, 1, person)
    actions = entries(engine, "alert_action")
    assert sorted(a["person_id"] for a in actions) == people
    with engine.connect() as conn:
        assert all(opens(conn, a) for a in actions)
        loaded = kind_of("alert_action").load(conn, [a["record_id"] for a in actions])
    assert {f["action"] for _, f in loaded.values()} == {"freeze_undrawn_limit"}
    assert {f["alert_id"] for _, f in loaded.values()} == set(ids)


# -- a rolled-back write leaves no commitment ------------------------------------------------------


class Abort(Exception):
    pass


def _write_consent(conn: Connection) -> None:
    """A batch, a person and their consent, the consent written by ingest's writer."""
    at = datetime(2026, 7, 1)
    conn.execute(
        table_of(IngestBatch).insert(),
        {"id": "b1", "started_at": at, "status": "running", "content_sha256": "0" * 64,
         "contract_version": "1", "counts": {}},
    )  # fmt: skip
    conn.execute(
        table_of(Person).insert(),
        {"person_id": "pA", "segment": "salaried", "region_tier": "t1", "birth_year": 1990,
         "occupation": "clerk", "declared_monthly_income_enc": b"opaque", "registered_at": at,
         "row_hash": "h", "batch_id": "b1", "created_at": at, "updated_at": at},
    )  # fmt: skip
    consent = {"_row": 1, "person_id": "pA", "source": "wechat", "purpose": "credit_assessment",
               "granted_at": datetime(2024, 1, 1), "expires_at": None, "revoked_at": None,
               "sensitive": False, "text_version": "v1"}  # fmt: skip
    assert write_rows(conn, "consents", [consent], batch_id="b1", now=at).inserted == 1


def _complete_day(conn: Connection) -> None:
    mark_started(conn, START)
    mark_completed(conn, START, 0)


WRITES: dict[str, Callable[[Connection], object]] = {
    "decision": lambda conn: insert_decision_rows(conn, DecisionRows(records=[decision_row()])),
    "alert": lambda conn: record_findings(conn, [finding()], now=NOW, policy=QUIET),
    "alert_action": lambda conn: record_findings(
        conn,
        [finding(detector=Detector.FRAUD_RING, severity=Severity.HIGH)],
        now=NOW,
        policy=FREEZE,
    ),
    "consent": _write_consent,
    "day_end": _complete_day,
}


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_rolled_back_write_leaves_no_commitment(engine: Engine, kind: str) -> None:
    with pytest.raises(Abort), write_transaction(engine) as conn:
        WRITES[kind](conn)
        with_entries = conn.execute(select(func.count()).select_from(RECORDS)).scalar_one()
        assert with_entries >= 1  # written with the record, inside its transaction
        raise Abort
    assert entries(engine) == []
    with write_transaction(engine) as conn:
        WRITES[kind](conn)
    assert kind in {e["kind"] for e in entries(engine)}


# -- erasure ---------------------------------------------------------------------------------------


def test_erasure_destroys_the_persons_salts_and_keeps_every_commitment(
    tmp_path: Path, settings: Settings
) -> None:
    ingest(world.write_world(tmp_path / "in"), settings)
    with migrated_engine(settings.database_url) as engine:
        consents = consent_ids(engine)
        gone, friend = sorted({person for person, _, _ in consents})[:2]
        decision = decision_row(gone)
        store_decisions(engine, decision)
        record(engine, finding(gone, detector=Detector.FRAUD_RING, severity=Severity.HIGH),
               policy=FREEZE)  # fmt: skip
        ring = {"events": ["ev-9"], "members": [friend, gone]}
        (other,) = record(engine, finding(friend, evidence=ring))
        before = entries(engine)
        about = [e for e in before if e["person_id"] == gone]
        kinds = sorted({e["kind"] for e in about})
        assert kinds == ["alert", "alert_action", "consent", "decision"]

        report = erase(engine, gone, request_ref="test")

        after = entries(engine)
        assert report.rows_deleted["audit_records_unlinked"] == len(about)
        assert report.rows_deleted["alerts_scrubbed"] == 1
        by_id = {e["id"]: e for e in after}
        for entry in before:  # every commitment is where it was, unchanged
            assert bytes(by_id[entry["id"]]["commitment"]) == bytes(entry["commitment"])
            assert by_id[entry["id"]]["record_id"] == entry["record_id"]
        for entry in about:
            erased = by_id[entry["id"]]
            assert erased["salt"] is None and erased["person_id"] is None
            assert erased["erased_at"] is not None
        assert not [e for e in after if e["person_id"] == gone]
        # the friend's alert, its evidence scrubbed on purpose, is committed again
        assert len(after) == len(before) + 1
        latest = check_latest(engine, "alert", other, 2, friend)
        with engine.connect() as conn:
            _, fields = kind_of("alert").load(conn, [other])[other]
        assert latest["id"] == after[-1]["id"] and fields["person_id"] == friend
        # the friend's earlier commitment covered the erased pseudonym: its salt goes too
        superseded = by_id[of(engine, "alert", other)[0]["id"]]
        assert superseded["salt"] is None and superseded["erased_at"] is not None
        for entry in after:  # everyone else's commitments keep their salts
            if entry["id"] not in {e["id"] for e in about} | {superseded["id"]}:
                assert entry["salt"] is not None
        assert erase(engine, gone).already_erased
        assert len(entries(engine)) == len(after)
