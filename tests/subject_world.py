"""A person with something in every table a subject export reads, stored as ingest stores it
(personal fields sealed under their own data key), on SQLite or PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, insert

from creditgraph.contracts.schema import Namespace, table_spec
from creditgraph.privacy.fieldcrypt import ensure_keys, seal, seal_income
from creditgraph.privacy.keys import KeyProvider
from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.servicing.loans import LoanService
from creditgraph.store.lake import ROW_KEY, lake_schema
from creditgraph.store.models import (
    Alert,
    Consent,
    DecisionRecord,
    IngestBatch,
    ModelVersion,
    OnlineFeatures,
    Person,
    PersonIdentity,
    Score,
    table_of,
)
from tests.loan_world import START, offer_dict

PSEUDONYM_KEY = bytes(range(32))
EXTERNAL_ID = "P1000001"
NAME = "张三"
PHONE = "13800138000"
NOTE = "<script>alert('x')</script> & co"
INCOME_FEN = 800050
REASON_ZH = "近期新增联系人较多 <b>"
REASON_EN = "Many new contacts lately <b>"


def _id_number(body: str) -> str:
    """``body`` (17 digits) and its GB 11643 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


ID_NUMBER = _id_number("11010119900307001")
OTHER_ID_NUMBER = _id_number("31010419851122002")
WRONG_CHECK_ID = ID_NUMBER[:17] + ("1" if ID_NUMBER[17] != "1" else "2")


@dataclass
class Subject:
    person_id: str
    decision_id: str
    loan_id: str
    other_person: str


def add_person(
    engine: Engine,
    provider: KeyProvider,
    pseudonyms: Pseudonymiser,
    external_id: str,
    name: str | None = NAME,
    phone: str | None = PHONE,
    at: datetime = datetime(2026, 1, 5, 9),
) -> str:
    person_id = pseudonyms.one(Namespace.PERSON, external_id)
    batch = f"b{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(
            insert(table_of(IngestBatch)).values(
                id=batch,
                started_at=at,
                status="completed",
                content_sha256="0" * 64,
                contract_version="1",
                counts={},
            )
        )
        aead = ensure_keys(conn, provider, [person_id])[person_id]
        conn.execute(
            insert(table_of(Person)).values(
                person_id=person_id,
                segment="individual_business",
                region_tier="tier2",
                birth_year=1990,
                gender="female",
                occupation="shop owner",
                declared_monthly_income_enc=seal_income(aead, person_id, INCOME_FEN),
                registered_at=at,
                phone_pseudonym=None if phone is None else pseudonyms.one(Namespace.PHONE, phone),
                fold=1,
                row_hash="0" * 32,
                batch_id=batch,
                created_at=at,
                updated_at=at,
            )
        )
        conn.execute(
            insert(table_of(PersonIdentity)).values(
                person_id=person_id,
                external_id=seal(aead, person_id, "external_id", external_id),
                name=seal(aead, person_id, "name", name),
                phone=seal(aead, person_id, "phone", phone),
                id_number=seal(aead, person_id, "id_number", ID_NUMBER),
                note=seal(aead, person_id, "note", NOTE),
            )
        )
    return person_id


def add_decision(engine: Engine, person_id: str, applicant_ref: str | None = None) -> str:
    decision_id = f"dc_{uuid.uuid4().hex[:16]}"
    offer = offer_dict()
    row: dict[str, Any] = {
        "id": decision_id,
        "created_at": datetime(2026, 7, 1, 9),
        "as_of": START,
        "person_id": person_id,
        "applicant_ref": applicant_ref,
        "product_code": offer["product_code"],
        "amount_fen": int(Decimal(offer["amount"]) * 100),
        "term_months": offer["term_months"],
        "purpose": "business_operation",
        "schedule_type": offer["schedule_type"],
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
        "inputs_hash": "0" * 64,
        "feature_snapshot_id": None,
        "features_as_of": None,
        "inputs": {"income_monthly_fen": INCOME_FEN, "degree": 12},
        "fired_rules": [],
        "reasons": [{"code": "new_ties", "zh": REASON_ZH, "en": REASON_EN}],
        "offers": [offer],
        "limit_detail": None,
        "social_data_used": True,
    }
    with engine.begin() as conn:
        conn.execute(insert(table_of(DecisionRecord)), row)
    return decision_id


def subject(
    engine: Engine,
    provider: KeyProvider,
    pseudonyms: Pseudonymiser,
    applicant_ref: str | None = None,
) -> Subject:
    """The person P1000001 with a consent, features, a score, a decision, a disbursed loan and
    an alert whose evidence names another person."""
    person_id = add_person(engine, provider, pseudonyms, EXTERNAL_ID)
    other = add_person(engine, provider, pseudonyms, "P1000002", name="李四", phone="13900139000")
    at = datetime(2026, 1, 5, 9)
    with engine.begin() as conn:
        conn.execute(
            insert(table_of(Consent)).values(
                person_id=person_id,
                source="wechat",
                purpose="credit_assessment",
                granted_at=at,
                sensitive=False,
                text_version="v1",
                text_sha256="a" * 64,
                recorded_via="api",
                row_hash="0" * 32,
            )
        )
        conn.execute(
            insert(table_of(OnlineFeatures)).values(
                person_id=person_id,
                feature_set_version="fs1",
                as_of=date(2026, 6, 30),
                snapshot_id="snap-1",
                values={"degree": 12, "activity_30d": 0.5},
                updated_at=at,
            )
        )
        conn.execute(
            insert(table_of(ModelVersion)).values(
                id="scorecard-t",
                family="scorecard",
                variant="social",
                as_of=date(2026, 6, 30),
                feature_set_version="fs1",
                training_data_sha256="0" * 64,
                artifact={},
                metrics={},
                status="retired",
                created_at=at,
                created_by="analyst",
            )
        )
        conn.execute(
            insert(table_of(Score)).values(
                person_id=person_id,
                as_of=date(2026, 6, 30),
                model_id="scorecard-t",
                score=650.0,
                pd=0.02,
                grade="B",
                reasons=[{"code": "new_ties", "zh": REASON_ZH, "en": REASON_EN}],
                scored_at=at,
            )
        )
        conn.execute(
            insert(table_of(Alert)).values(
                id=f"al_{uuid.uuid4().hex[:16]}",
                type="contagion",
                rule="delinquent_contact",
                severity="high",
                person_id=person_id,
                status="open",
                dedup_key=f"contagion:{person_id}:{other}",
                occurred_at=datetime(2026, 7, 2),
                created_at=datetime(2026, 7, 2),
                last_seen_at=datetime(2026, 7, 2),
                repeat_count=0,
                evidence={"delinquent": other, "exposure": 0.4},
                actions=[],
            )
        )
    decision_id = add_decision(engine, person_id, applicant_ref)
    loans = LoanService(engine)
    loan_id = str(loans.accept(decision_id, 0)["loan_id"])
    loans.disburse(loan_id, START, key=f"disburse-{loan_id}")
    return Subject(person_id, decision_id, loan_id, other)


def write_ties(lake_dir: Path, person_id: str, other: str) -> None:
    """Three ties in one lake part: two of the person's own, one of the other's naming them,
    and one between strangers."""
    spec = table_spec("ties")
    schema = lake_schema(spec)
    at = [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4)]
    rows = {
        "src": [person_id, person_id, other, other],
        "dst": [other, "f" * 32, person_id, "e" * 32],
        "kind": ["friend"] * 4,
        "source": ["wechat"] * 4,
        "created_at": at,
        "ended_at": [None] * 4,
        ROW_KEY: [1, 2, 3, 4],
    }
    path = lake_dir / "ties" / "batch=b1" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(rows, schema=schema), path)
