"""Loans for tests without a scored world: a decision row with a real priced offer, inserted
directly, then accepted and disbursed through the service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from creditgraph.api.app import create_app
from creditgraph.api.keys import create_key
from creditgraph.decision.config_files import load_catalogue
from creditgraph.decision.offers import make_offer
from creditgraph.decision.pricing import Price, schedule_for
from creditgraph.servicing import Method, schedule_all_in_rate
from creditgraph.servicing.book import INSTALMENTS, LOANS
from creditgraph.servicing.ledger import account_totals
from creditgraph.servicing.loans import LoanService
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine
from creditgraph.store.models import DecisionRecord, table_of

START = date(2026, 7, 1)


def offer_dict(
    product_code: str = "JYD",
    amount: str = "12000",
    term: int = 12,
    method: Method = Method.EQUAL_INSTALLMENT,
    rate: str = "0.12",
) -> dict[str, Any]:
    product = load_catalogue().get(product_code)
    assert product is not None
    schedule = schedule_for(product, Decimal(amount), term, method, Decimal(rate), START)
    all_in = schedule_all_in_rate(schedule)
    price = Price(Decimal(rate), all_in, Decimal("0.24"), Decimal(rate), schedule)
    return make_offer(product, price, requested=True).to_dict()


def insert_decision(
    engine: Engine, outcome: str = "approve", applicant_ref: str | None = None, **offer: Any
) -> str:
    decision_id = f"DC-{uuid.uuid4().hex[:16]}"
    o = offer_dict(**offer)
    row = {
        "id": decision_id,
        "created_at": datetime(2026, 7, 1, 9),
        "as_of": START,
        "person_id": f"p{uuid.uuid4().hex[:12]}",
        "applicant_ref": applicant_ref,
        "product_code": o["product_code"],
        "amount_fen": int(Decimal(o["amount"]) * 100),
        "term_months": o["term_months"],
        "purpose": "business_operation",
        "schedule_type": o["schedule_type"],
        "outcome": outcome,
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
        "inputs": {},
        "fired_rules": [],
        "reasons": [],
        "offers": [o] if outcome != "decline" else [],
        "limit_detail": None,
        "social_data_used": False,
    }
    with engine.begin() as conn:
        conn.execute(table_of(DecisionRecord).insert(), row)
    return decision_id


def active_loan(service: LoanService, on: date = START, **offer: Any) -> str:
    decision_id = insert_decision(service.engine, **offer)
    loan_id = str(service.accept(decision_id, 0)["loan_id"])
    service.disburse(loan_id, on, key=f"disburse-{loan_id}")
    return loan_id


def loan_row(engine: Engine, loan_id: str) -> dict[str, Any]:
    """The loan's row as stored."""
    with engine.connect() as conn:
        return dict(conn.execute(select(LOANS).where(LOANS.c.id == loan_id)).mappings().one())


def instalment_rows(engine: Engine, loan_id: str) -> list[dict[str, Any]]:
    """The loan's current (not superseded) instalment rows, in order."""
    with engine.connect() as conn:
        statement = (
            select(INSTALMENTS)
            .where(INSTALMENTS.c.loan_id == loan_id, INSTALMENTS.c.superseded.is_(False))
            .order_by(INSTALMENTS.c.number)
        )
        return [dict(r) for r in conn.execute(statement).mappings()]


def ledger_of(engine: Engine, loan_id: str) -> dict[str, int]:
    """Debit-positive balance per account for one loan (fen)."""
    with engine.connect() as conn:
        return {a.value: d - c for a, (d, c) in account_totals(conn, loan_id).items()}


def outstanding_through(service: LoanService, loan_id: str, on: date) -> Decimal:
    """What the loan's schedule shows outstanding on instalments due on or before ``on``."""
    return sum(
        (
            Decimal(r["outstanding"])
            for r in service.show(loan_id)["schedule"]
            if date.fromisoformat(r["due_date"]) <= on
        ),
        Decimal(0),
    )


@dataclass
class Api:
    """The loans API on a fresh home, with one key per name."""

    client: TestClient
    engine: Engine
    tokens: dict[str, str]
    ids: dict[str, int]

    def as_(self, who: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers


def open_api(home: Path, roles: dict[str, str]) -> Iterator[Api]:
    """A running app on ``home`` with a key for each ``name: role`` (for a fixture to yield)."""
    settings = Settings(home=home)
    app = create_app(settings)
    engine = make_engine(settings.database_url)
    tokens, ids = {}, {}
    for name, role in roles.items():
        created = create_key(engine, name, role, "test")
        tokens[name], ids[name] = created.token, created.info.id
    with TestClient(app) as client:
        yield Api(client, engine, tokens, ids)
    engine.dispose()
