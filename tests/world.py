"""A tiny hand-made world for ingestion tests: every table, every rule, known answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PERSONS = [
    # person_id, segment, region_tier, birth_year, gender, occupation, income, registered_at, name, phone
    [
        "P1",
        "salaried",
        "tier1",
        "1990",
        "female",
        "teacher",
        "8000.50",
        "2025-01-01",
        "李娜",
        "13812345678",
    ],
    [
        "P2",
        "blue_collar",
        "rural",
        "1985",
        "male",
        "driver",
        "5000",
        "2025-01-02 10:00",
        "Wang Wei",
        "",
    ],
    ["P3", "student", "tier2", "2001", "", "student", "0", "2025-01-03T08:00:00+08:00", "", ""],
    [
        "P4",
        "farmer",
        "county",
        "1970",
        "undisclosed",
        "farmer",
        "3000.1",
        "2025-01-04",
        "",
        "+86 139-0000-0000",
    ],
]
PERSON_COLUMNS = [
    "person_id",
    "segment",
    "region_tier",
    "birth_year",
    "gender",
    "occupation",
    "declared_monthly_income",
    "registered_at",
    "name",
    "phone",
]
CONSENT_COLUMNS = [
    "person_id",
    "source",
    "purpose",
    "granted_at",
    "expires_at",
    "revoked_at",
    "sensitive",
    "text_version",
]
CONSENTS = [
    ["P1", "wechat", "credit_assessment", "2024-01-01", "", "", "true", "2022.1"],
    ["P1", "wechat", "monitoring", "2024-01-01", "", "", "false", "2022.1"],
    # P2 consents (sensitive information too), then revokes on 2025-06-01
    ["P2", "wechat", "credit_assessment", "2024-01-01", "", "2025-06-01", "true", "2022.1"],
    # P3 gave only a monitoring consent: no credit assessment
    ["P3", "wechat", "monitoring", "2024-01-01", "", "", "false", "2022.1"],
    # P4 consents for weibo only, until 2025-12-31
    ["P4", "weibo", "credit_assessment", "2024-06-01", "2025-12-31", "", "false", "2024.1"],
]
TIE_COLUMNS = ["src", "dst", "kind", "source", "created_at", "ended_at"]
TIES = [
    ["P1", "P2", "friend", "wechat", "2025-02-01", ""],  # kept
    ["P2", "P1", "friend", "wechat", "2025-02-01", ""],  # kept: before P2's revocation
    ["P2", "P3", "friend", "wechat", "2025-07-01", ""],  # no_consent: after revocation
    ["P3", "P1", "friend", "wechat", "2025-02-01", ""],  # no_consent: no credit consent
    ["P4", "P1", "colleague", "wechat", "2025-02-01", ""],  # no_consent: wrong source
    ["P4", "P1", "colleague", "weibo", "2025-02-01", "2025-03-01"],  # kept
    ["P4", "P2", "family", "weibo", "2026-01-05", ""],  # no_consent: expired
    ["P1", "X-999", "contact", "wechat", "2025-02-01", ""],  # kept: contact outside our book
]
INTERACTION_COLUMNS = ["src", "dst", "kind", "ts", "count", "amount"]
INTERACTIONS = [
    ["P1", "P2", "message", "2025-03-01 09:00", "5", ""],
    ["P1", "P2", "transfer", "2025-03-02 09:00", "1", "200.00"],
    ["P2", "P1", "red_packet", "2025-03-03 09:00", "2", "8.88"],
    ["P2", "P1", "call", "2025-08-01 09:00", "1", ""],  # no_consent
]
DEVICE_COLUMNS = ["person_id", "device_id", "first_seen", "last_seen", "source"]
DEVICES = [
    ["P1", "DEV-A", "2025-01-01", "2025-06-01", "wechat"],
    ["P2", "DEV-A", "2025-01-01", "2025-05-01", "wechat"],
    ["P3", "DEV-B", "2025-01-01", "2025-05-01", "wechat"],  # no_consent
]
ACTIVITY_COLUMNS = ["person_id", "date", "active_minutes", "posts", "logins", "source"]
ACTIVITY = [
    ["P1", "2025-03-01", "45", "1", "3", "wechat"],
    ["P1", "2025-03-02", "30", "0", "2", "wechat"],
    ["P3", "2025-03-01", "10", "0", "1", "wechat"],  # no_consent
]
EXTERNAL_LOAN_COLUMNS = [
    "person_id",
    "lender",
    "opened_at",
    "amount",
    "status",
    "max_dpd",
    "reported_at",
]
EXTERNAL_LOANS = [
    ["P1", "lender-a", "2024-05-01", "5000", "repaid", "0", "2025-01-01"],
    ["P2", "lender-b", "2024-07-01", "12000.00", "overdue", "45", "2025-01-01"],
    ["P4", "lender-c", "2024-08-01", "800", "open", "0", ""],  # undated: dated by its batch
]
OUTCOME_COLUMNS = [
    "loan_id",
    "person_id",
    "applied_at",
    "amount",
    "term_months",
    "defaulted",
    "observed_at",
]
OUTCOMES = [
    ["L1", "P1", "2024-01-10", "3000", "12", "false", "2025-01-10"],
    ["L2", "P2", "2024-02-10", "6000", "6", "true", "2025-02-10"],
]

TABLES: dict[str, tuple[list[str], list[list[str]]]] = {
    "persons": (PERSON_COLUMNS, PERSONS),
    "consents": (CONSENT_COLUMNS, CONSENTS),
    "ties": (TIE_COLUMNS, TIES),
    "interactions": (INTERACTION_COLUMNS, INTERACTIONS),
    "devices": (DEVICE_COLUMNS, DEVICES),
    "activity_daily": (ACTIVITY_COLUMNS, ACTIVITY),
    "external_loans": (EXTERNAL_LOAN_COLUMNS, EXTERNAL_LOANS),
    "loan_outcomes": (OUTCOME_COLUMNS, OUTCOMES),
}
EXPECTED_ACCEPTED = {
    "persons": 4,
    "consents": 5,
    "ties": 4,
    "interactions": 3,
    "devices": 2,
    "activity_daily": 2,
    "external_loans": 3,
    "loan_outcomes": 2,
}
RAW_IDS = {"P1", "P2", "P3", "P4", "X-999", "DEV-A", "DEV-B", "13812345678"}


def write_csv(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            record: dict[str, Any] = {
                c: (v if v != "" else None) for c, v in zip(columns, row, strict=True)
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_parquet(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    data = {c: [r[i] if r[i] != "" else None for r in rows] for i, c in enumerate(columns)}
    pq.write_table(pa.table(data), path)
    return path


def write_world(directory: Path, fmt: str = "csv") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    writer = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}[fmt]
    return [
        writer(directory / f"{name}.{fmt}", cols, rows) for name, (cols, rows) in TABLES.items()
    ]
