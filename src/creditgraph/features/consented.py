"""A few people's social rows, read for credit assessment: only with a valid consent of each.

The whole-book build (``features.inputs``) reads the lake for everyone the consent gate let in,
minus erased people and revoked sources. A read scoped to named people (an officer's look at an
applicant's circle, a rebuild for a handful of people) must say whose data it reads and why:
``social_rows`` refuses, with ``PurposeViolation`` naming the person and the purpose, when any
of them holds no credit-assessment consent valid at the instant, and never returns rows from a
source the person withdrew (nor rows without a source, which the gate let in on any consent,
once the person withdrew a source).

Sensitive rows (money interactions, device links: ``privacy.purpose.DataClass``) are read only
from a source the person gave a separate consent to sensitive personal information for, valid at
the instant; their other rows from that source are read under the ordinary consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Engine

from creditgraph.contracts.schema import TABLES
from creditgraph.duck import arrow_table
from creditgraph.privacy.purpose import (
    CREDIT_ASSESSMENT,
    SENSITIVE,
    SENSITIVE_ROWS,
    SOCIAL,
    DataClass,
    declare,
    require_declared,
    sensitive_sources,
    withdrawn_sources,
)
from creditgraph.store import lake

SOCIAL_TABLES = ("ties", "interactions", "devices", "activity_daily")

SCOPED_READ = declare(
    "job",
    "scoped_social_read",
    CREDIT_ASSESSMENT,
    (*(SOCIAL - SENSITIVE), DataClass.PROFILE),
    tuple(f"lake:{t}" for t in SOCIAL_TABLES),
)
SCOPED_SENSITIVE_READ = declare(
    "job",
    "scoped_sensitive_read",
    CREDIT_ASSESSMENT,
    SOCIAL & SENSITIVE,
    tuple(f"lake:{t}" for t in SENSITIVE_ROWS),
)


def social_rows(
    lake_dir: Path,
    engine: Engine,
    person_ids: Sequence[str],
    at: datetime,
    *,
    source: str | None = None,
) -> dict[str, pa.Table]:
    """Each social lake table's rows whose subject is one of ``person_ids``, dated before ``at``
    (naive UTC), from ``source`` when given; in lake order."""
    people = sorted(set(person_ids))
    with engine.connect() as conn:
        require_declared(conn, SCOPED_READ, people, source, at)
        withdrawn = withdrawn_sources(conn, CREDIT_ASSESSMENT, people)
        cleared = sensitive_sources(conn, SCOPED_SENSITIVE_READ.purpose, people, at)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("wanted", pa.table({"person_id": pa.array(people, pa.string())}))
        con.register("withdrawn", _pairs(withdrawn))
        con.register("cleared", _pairs(cleared))
        return {table: _read(con, lake_dir, table, at, source) for table in SOCIAL_TABLES}
    finally:
        con.close()


def _pairs(pairs: Sequence[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {
            "person_id": pa.array([p for p, _ in pairs], pa.string()),
            "source": pa.array([s for _, s in pairs], pa.string()),
        }
    )


def _read(
    con: duckdb.DuckDBPyConnection, lake_dir: Path, table: str, at: datetime, source: str | None
) -> pa.Table:
    spec = TABLES[table]
    schema = lake.lake_schema(spec)
    if not lake.has_data(lake_dir, table):
        return schema.empty_table()
    subject, time = spec.consent_subject, spec.consent_time
    assert subject is not None and time is not None
    columns = ", ".join(f'r."{name}"' for name in schema.names)
    only_source = "AND r.source = $source" if source is not None else ""
    sql = (
        f"SELECT {columns} FROM read_parquet('{lake.parquet_glob(lake_dir, table)}') r "
        f'WHERE r."{subject}" IN (SELECT person_id FROM wanted) '
        f'AND CAST(r."{time}" AS TIMESTAMP) < $at {only_source} '
        "AND NOT EXISTS (SELECT 1 FROM withdrawn w "
        f'WHERE w.person_id = r."{subject}" AND (r.source IS NULL OR w.source = r.source)) '
    )
    if table in SENSITIVE_ROWS:  # a row without a source passes on any separate consent
        sql += (
            f"AND (NOT ({SENSITIVE_ROWS[table]}) OR EXISTS (SELECT 1 FROM cleared k "
            f'WHERE k.person_id = r."{subject}" AND (r.source IS NULL OR k.source = r.source))) '
        )
    sql += "ORDER BY r.row_key"
    params: dict[str, object] = {"at": at}
    if source is not None:
        params["source"] = source
    return arrow_table(con, sql, params)
