"""DuckDB connections set up the same way everywhere, across DuckDB 1.x and 2.x APIs."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa


def connect(timezone: str, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection reading naive timestamps in the business time zone."""
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{timezone}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def arrow_table(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pa.Table:
    """Run ``sql`` and return the whole result as an Arrow table."""
    relation = con.sql(sql, params=params) if params is not None else con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    table: pa.Table = fetch()
    return table
