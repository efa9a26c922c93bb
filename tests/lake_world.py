"""A small lake written part by part, with the database rows that decide what compaction removes.

People ``A``..``E`` (pseudonym-like ids), two sources. ``B`` is erased; ``A`` revoked wechat on
2025-06-01 and granted it again on 2025-09-01 (so the build reads A's wechat rows again, and
compaction keeps them); ``D`` revoked weibo and holds nothing else; ``C`` and ``E`` consent
throughout. Every row's ``row_key`` is its number, and ``REMOVED`` names the
rows compaction must drop (by key) with the reason.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, insert

from creditgraph.contracts.schema import table_spec
from creditgraph.store import lake
from creditgraph.store.models import Consent, Erasure, IngestBatch, Person, table_of

A, B, C, D, E = (f"{c}" * 32 for c in "abcde")
T = datetime


def _ties(*rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {
            "src": s,
            "dst": d,
            "kind": "friend",
            "source": src,
            "created_at": t,
            "ended_at": None,
            "row_key": k,
        }
        for k, s, d, src, t in rows
    ]


def _interactions(*rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {
            "src": s,
            "dst": d,
            "kind": "message",
            "ts": t,
            "count": 1,
            "amount_fen": None,
            "source": src,
            "row_key": k,
        }
        for k, s, d, src, t in rows
    ]


def _devices(*rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {
            "person_id": p,
            "device_id": dev,
            "first_seen": t,
            "last_seen": t,
            "source": src,
            "row_key": k,
        }
        for k, p, dev, src, t in rows
    ]


def _activity(*rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {
            "person_id": p,
            "date": d,
            "active_minutes": 10,
            "posts": 1,
            "logins": 1,
            "source": src,
            "row_key": k,
        }
        for k, p, src, d in rows
    ]


# table -> batch -> row groups (each a list of rows)
PARTS: dict[str, dict[str, list[list[dict[str, Any]]]]] = {
    "ties": {
        "b1": [
            _ties(
                (1, A, C, "wechat", T(2025, 2, 1)),  # A's wechat, given again since: kept
                (2, C, A, "wechat", T(2025, 2, 1)),  # C's: kept
                (3, C, B, "wechat", T(2025, 2, 1)),  # names B
                (4, A, C, "weibo", T(2025, 2, 1)),  # A's weibo: kept
            ),
            _ties(
                (5, A, E, "wechat", T(2025, 9, 2)),  # after A's new grant: kept
                (6, E, C, "weibo", T(2025, 3, 1)),  # kept
            ),
        ],
        "b2": [
            _ties(
                (7, E, A, "wechat", T(2025, 3, 1)),  # E's, naming A: kept
                (8, D, E, "weibo", T(2025, 3, 1)),  # D revoked weibo
            )
        ],
    },
    "interactions": {
        "b1": [
            _interactions(
                (11, B, C, "wechat", T(2025, 3, 1)),  # B's
                (12, C, E, None, T(2025, 3, 1)),  # no source, C consents: kept
                (13, D, C, None, T(2025, 3, 1)),  # no source, D revoked and holds nothing
                (14, E, C, "wechat", T(2025, 3, 1)),  # kept
            )
        ]
    },
    "devices": {
        "b1": [
            _devices(
                (21, A, "dev1", "wechat", T(2025, 8, 1)),  # A's wechat, given again: kept
                (22, C, "dev1", "wechat", T(2025, 8, 1)),  # kept
                (23, B, "dev2", "weibo", T(2025, 8, 1)),  # B's
            )
        ]
    },
    "activity_daily": {
        "b2": [
            _activity(
                (31, E, "wechat", date(2025, 3, 1)),  # kept
                (32, E, "wechat", date(2025, 3, 2)),  # kept
            )
        ]
    },
}
REMOVED = {3: "erased", 8: "revoked", 11: "erased", 13: "revoked", 23: "erased"}
PSEUDONYMS = (A, B, C, D, E)


def write_lake(lake_dir: Path) -> None:
    for name, batches in PARTS.items():
        spec = table_spec(name)
        for batch, groups in batches.items():
            writer = lake.LakeWriter(lake_dir, spec, batch, "000-part")
            for rows in groups:
                writer.write(pa.Table.from_pylist(rows, schema=lake.lake_schema(spec)))
            writer.seal()
            writer.publish()


def write_database(conn: Connection, erase_b: bool = True) -> None:
    now = datetime(2026, 1, 1)
    conn.execute(
        insert(table_of(IngestBatch)).values(
            id="b1",
            started_at=now,
            status="done",
            content_sha256="0" * 64,
            contract_version="1",
            counts={},
        )
    )
    for person in (A, C, D, E) + ((B,) if not erase_b else ()):
        conn.execute(
            insert(table_of(Person)).values(
                person_id=person,
                segment="salaried",
                region_tier="tier1",
                birth_year=1990,
                occupation="x",
                declared_monthly_income_enc=b"\x00",
                registered_at=now,
                row_hash="0" * 32,
                batch_id="b1",
                created_at=now,
                updated_at=now,
            )
        )
    consents = [
        (A, "wechat", T(2024, 1, 1), T(2025, 6, 1)),
        (A, "wechat", T(2025, 9, 1), None),
        (A, "weibo", T(2024, 1, 1), None),
        (C, "wechat", T(2024, 1, 1), None),
        (D, "weibo", T(2024, 1, 1), T(2025, 6, 1)),
        (E, "wechat", T(2024, 1, 1), None),
        (E, "weibo", T(2024, 1, 1), None),
    ]
    for person, source, granted, revoked in consents:
        conn.execute(
            insert(table_of(Consent)).values(
                person_id=person,
                source=source,
                purpose="credit_assessment",
                granted_at=granted,
                revoked_at=revoked,
                sensitive=False,
                text_version="v1",
                row_hash="0" * 32,
            )
        )
    if erase_b:
        conn.execute(insert(table_of(Erasure)).values(person_id=B, erased_at=now))
