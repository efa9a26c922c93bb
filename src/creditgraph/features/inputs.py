"""The contract tables as Ibis tables: lake Parquet plus database tables, on DuckDB or Spark.

Declared income is stored encrypted per person: it is decrypted here for every person at once
(each data key unwrapped once per process run), and the bulk read is recorded in the access log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from sqlalchemy import Engine, select

from creditgraph.contracts.schema import TABLES
from creditgraph.features.labels import assign_folds, external_ids, order_keys
from creditgraph.features.relational import Inputs
from creditgraph.privacy.access_log import record_access
from creditgraph.privacy.fieldcrypt import INCOME_FIELD, open_column
from creditgraph.privacy.keys import provider_for
from creditgraph.privacy.purpose import CREDIT_ASSESSMENT, withdrawn_sources
from creditgraph.store import lake
from creditgraph.store.models import (
    Erasure,
    ExternalLoan,
    LoanOutcome,
    Person,
    PersonKey,
)

LAKE_TABLES = {
    "ties": "ties",
    "interactions": "interactions",
    "devices": "devices",
    "activity": "activity_daily",
}

_PERSON_COLUMNS = (
    Person.person_id,
    Person.segment,
    Person.region_tier,
    Person.birth_year,
    Person.registered_at,
    Person.fold,
)
_LOAN_COLUMNS = (
    ExternalLoan.person_id,
    ExternalLoan.lender,
    ExternalLoan.opened_at,
    ExternalLoan.amount_fen,
    ExternalLoan.status,
    ExternalLoan.max_dpd,
    ExternalLoan.reported_at,
)
_OUTCOME_COLUMNS = (
    LoanOutcome.loan_id,
    LoanOutcome.person_id,
    LoanOutcome.applied_at,
    LoanOutcome.amount_fen,
    LoanOutcome.defaulted,
    LoanOutcome.observed_at,
)


def _query_arrow(engine: Engine, columns: tuple[Any, ...]) -> pa.Table:
    """A database query as an Arrow table with UTC timestamps, streamed in blocks."""
    names = [c.key for c in columns]
    data: list[list[Any]] = [[] for _ in names]
    with engine.connect() as conn:
        for row in conn.execute(select(*columns).execution_options(yield_per=100_000)):
            for out, value in zip(data, row, strict=True):
                out.append(value)
    arrays = []
    for values, column in zip(data, columns, strict=True):
        arr = (
            pa.array(values, type=_arrow_type(column))
            if values
            else pa.array([], _arrow_type(column))
        )
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names)


def _arrow_type(column: Any) -> pa.DataType:
    python = column.type.python_type
    if python is int:
        return pa.int64()
    if python is bool:
        return pa.bool_()
    if python.__name__ == "datetime":
        return pa.timestamp("us")
    return pa.string()


INCOME_READER = "feature-build"


def declared_incomes(engine: Engine) -> pa.Table:
    """(person_id, declared_monthly_income_fen) for every person, decrypted; one access-log row
    (no person: a job's bulk read) records that the build read them."""
    with engine.begin() as conn:
        if conn.execute(select(PersonKey.person_id).limit(1)).first() is None:
            people: list[str] = []
            fen: list[int | None] = []
        else:
            pairs = list(open_column(conn, provider_for(engine), INCOME_FIELD))
            people = [p for p, _ in pairs]
            fen = [None if v is None else int(v) for _, v in pairs]
            record_access(
                conn, INCOME_READER, "job", None, "credit_assessment", ["declared_income"]
            )
    return pa.table(
        {
            "person_id": pa.array(people, pa.string()),
            "declared_monthly_income_fen": pa.array(fen, pa.int64()),
        }
    )


def database_tables(engine: Engine) -> dict[str, pa.Table]:
    ids = external_ids(engine)  # the lender's ids, decrypted once for folds and node order
    assign_folds(engine, ids)  # a person's label fold is fixed at the first build that sees them
    persons = _query_arrow(engine, _PERSON_COLUMNS)
    persons = persons.join(declared_incomes(engine), "person_id", join_type="left outer")
    return {
        "persons": persons.join(order_keys(engine, ids), "person_id", join_type="left outer"),
        "external_loans": _query_arrow(engine, _LOAN_COLUMNS),
        "outcomes": _query_arrow(engine, _OUTCOME_COLUMNS),
        "erased": _query_arrow(engine, (Erasure.person_id,)),
        "revoked": revoked_sources(engine),
    }


def revoked_sources(engine: Engine) -> pa.Table:
    """The (person, source) pairs whose credit-assessment consent is revoked (and not given
    again): the build reads none of their rows from that source."""
    with engine.connect() as conn:
        pairs = withdrawn_sources(conn, CREDIT_ASSESSMENT)
    return pa.table(
        {
            "person_id": pa.array([p for p, _ in pairs], pa.string()),
            "source": pa.array([s for _, s in pairs], pa.string()),
        }
    )


def without_erased(lake_tables: dict[str, Any], erased: Any) -> dict[str, Any]:
    """Lake rows that mention an erased person are not read (tombstones until compaction)."""
    out = {}
    for name, table in lake_tables.items():
        for column in ("src", "dst", "person_id"):
            if column in table.columns:
                table = table.filter(~table[column].isin(erased.person_id))
        out[name] = table
    return out


def revoked_input(tables: dict[str, pa.Table], memory: dict[str, Any]) -> Any:
    """The engine's table of revoked sources, or None when nothing is revoked (no join)."""
    revoked = tables.get("revoked")
    return None if revoked is None or revoked.num_rows == 0 else memory["revoked"]


def without_revoked(lake_tables: dict[str, Any], revoked: Any) -> dict[str, Any]:
    """Lake rows of a subject whose credit-assessment consent for the row's source is revoked
    are not read: all of that source's history, not only what followed the revocation (the
    rows stay in the files until the scheduled purge compacts them away). A row without a
    source (the gate let it in on any consent) goes with any source its subject withdrew."""
    if revoked is None:
        return lake_tables
    out = {}
    for name, table in lake_tables.items():
        subject = TABLES[LAKE_TABLES[name]].consent_subject
        assert subject is not None
        same_source = table.source.isnull() | (table.source == revoked.source)
        out[name] = table.anti_join(revoked, [table[subject] == revoked.person_id, same_source])
    return out


def _utc(table: pa.Table) -> pa.Table:
    """Naive database times are UTC; say so, so both engines agree with the lake's UTC times."""
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            field = field.with_type(pa.timestamp("us", tz="UTC"))
        fields.append(field)
    return table.cast(pa.schema(fields))


def duckdb_inputs(
    lake_dir: Path, tables: dict[str, pa.Table], con: Any = None, memory_limit: str | None = None
) -> tuple[Any, Inputs]:
    """Ibis-on-DuckDB tables: lake Parquet read in place, database tables from memory."""
    con = con or ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    if memory_limit:
        con.raw_sql(f"SET memory_limit = '{memory_limit}'")
    lake_tables = {}
    for name, table in LAKE_TABLES.items():
        if lake.has_data(lake_dir, table):
            lake_tables[name] = con.read_parquet(
                lake.parquet_glob(lake_dir, table), table_name=f"lake_{table}"
            )
        else:
            empty = lake.lake_schema(TABLES[table]).empty_table()
            lake_tables[name] = con.create_table(f"lake_{table}", empty, overwrite=True)
    memory = {
        name: con.create_table(f"db_{name}", _utc(t), overwrite=True) for name, t in tables.items()
    }
    return con, Inputs(
        persons=memory["persons"],
        external_loans=memory["external_loans"],
        outcomes=memory["outcomes"],
        **without_revoked(
            without_erased(lake_tables, memory["erased"]), revoked_input(tables, memory)
        ),
    )
