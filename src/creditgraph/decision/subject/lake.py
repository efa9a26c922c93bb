"""What the lake holds about one person: their social rows, summarised per table and source.

The lake's rows (ties, interactions, devices, daily activity) are the bulk of what is held, and
each names other people too, so the export summarises them rather than listing them: per table,
per source and per role (the person's own rows, gathered under their consent; rows of others
that name them), how many rows and the time they span. Erased people's and revoked sources' rows
may still sit in a part until compaction, so this shows what the files hold, not what the
feature build reads.

One DuckDB query per table over its Parquet parts, filtered on the person's pseudonym.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from creditgraph.contracts.schema import SOCIAL_TABLES, Namespace, table_spec
from creditgraph.duck import arrow_table, connect
from creditgraph.store.lake import has_data, parquet_glob


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def social_section(lake_dir: Path, person_id: str) -> list[dict[str, Any]]:
    """Per table, source and role: rows held and the first and last time they cover."""
    out: list[dict[str, Any]] = []
    con = connect("UTC", threads=1)
    try:
        for table in SOCIAL_TABLES:
            if not has_data(lake_dir, table):
                continue
            spec = table_spec(table)
            subject = spec.consent_subject
            time = spec.consent_time
            assert subject is not None and time is not None
            people = [c.name for c in spec.all_columns if c.pseudonymise is Namespace.PERSON]
            others = [name for name in people if name != subject]
            mentioned = " OR ".join(f"{_quote(n)} = $person" for n in others) or "FALSE"
            sql = (
                f"SELECT CASE WHEN {_quote(subject)} = $person THEN 'own' ELSE 'mentioned' END "
                f"AS role, source, count(*) AS rows, min({_quote(time)}) AS first, "
                f"max({_quote(time)}) AS last "
                f"FROM read_parquet({_literal(parquet_glob(lake_dir, table))}, "
                "union_by_name = true) "
                f"WHERE {_quote(subject)} = $person OR {mentioned} "
                "GROUP BY ALL ORDER BY role, source"
            )
            for row in arrow_table(con, sql, {"person": person_id}).to_pylist():
                out.append(
                    {
                        "table": table,
                        "source": row["source"],
                        "role": row["role"],
                        "rows": int(row["rows"]),
                        "first": _iso(row["first"]),
                        "last": _iso(row["last"]),
                    }
                )
    finally:
        con.close()
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
