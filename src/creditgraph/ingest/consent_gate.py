"""The consent gate: social rows are kept only while their subject consents to credit assessment,
and a fed consent is kept only when its text can back it.

A row passes when its subject (``src`` of a tie or interaction, ``person_id`` otherwise) holds a
``credit_assessment`` consent for the row's source that was granted at or before the row's time
and had neither expired nor been revoked by then. History from before the consent is not used:
data minimisation, and the conservative reading of PIPL. A sensitive row (money moved between
people, a device link: ``privacy.purpose.SENSITIVE_ROWS``) needs that consent to be a separate
consent to sensitive personal information (PIPL Art. 29); without one it is not collected.

A consent row from the lender's feed passes the same text checks as one granted through the API
or the CLI (``ConsentTexts.for_grant``): a known text version of its purpose, in force when the
consent was given, and one that asks separately for sensitive information when the row is
sensitive. A row that fails is quarantined with the rule, never stored without its text's hash.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, select

from creditgraph.contracts.schema import Kind, TableSpec
from creditgraph.contracts.validate import ROW
from creditgraph.duck import arrow_table
from creditgraph.ingest.quarantine import Problem, problems_json
from creditgraph.privacy.consent_texts import ConsentTexts, TextRefusal, consent_texts
from creditgraph.privacy.purpose import SENSITIVE_ROWS
from creditgraph.store.models import Consent

CONSENT_RELATION = "consent_valid"
GATE_PURPOSE = "credit_assessment"
OK = "_consented"

_CONSENT_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("source", pa.string()),
        ("granted_at", pa.timestamp("us")),
        ("expires_at", pa.timestamp("us")),
        ("revoked_at", pa.timestamp("us")),
        ("sensitive", pa.bool_()),
    ]
)


def load_consents(connection: Connection) -> pa.Table:
    """Every credit-assessment consent, as an Arrow table (streamed from the database)."""
    stmt = select(
        Consent.person_id,
        Consent.source,
        Consent.granted_at,
        Consent.expires_at,
        Consent.revoked_at,
        Consent.sensitive,
    ).where(Consent.purpose == GATE_PURPOSE)
    columns: list[list[object]] = [[] for _ in _CONSENT_SCHEMA]
    for row in connection.execute(stmt.execution_options(yield_per=50_000)):
        for out, value in zip(columns, row, strict=True):
            out.append(value)
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, _CONSENT_SCHEMA, strict=True)],
        schema=_CONSENT_SCHEMA,
    )


def gate_sql(spec: TableSpec, relation: str) -> str:
    """SQL adding the boolean column ``_consented`` to ``relation``, rows in input order.

    DuckDB runs the ``EXISTS`` as a parallel join, which returns rows in whatever order its
    threads finish; the ``ORDER BY`` on the input row number keeps the lake's rows in the input
    file's order, so the same file always writes the same Parquet and every floating-point sum
    over it (tie strengths, PageRank) comes out bit for bit the same.
    """
    assert spec.consent_subject and spec.consent_time
    time_column = spec.column(spec.consent_time)
    t = f'r."{spec.consent_time}"'
    if time_column.kind is Kind.DATE:
        t = f"timezone('UTC', CAST({t} AS TIMESTAMPTZ))"
    sensitive = SENSITIVE_ROWS.get(spec.name)
    separately = f"AND (NOT ({sensitive}) OR k.sensitive) " if sensitive else ""
    return (
        f"SELECT r.*, EXISTS (SELECT 1 FROM {CONSENT_RELATION} k "
        f'WHERE k.person_id = r."{spec.consent_subject}" '
        "AND (r.source IS NULL OR k.source = r.source) "
        f"AND k.granted_at <= {t} "
        f"AND (k.expires_at IS NULL OR {t} < k.expires_at) "
        f"AND (k.revoked_at IS NULL OR {t} < k.revoked_at) {separately}) AS {OK} "
        f'FROM {relation} r ORDER BY r."{ROW}"'
    )


def refusal(spec: TableSpec) -> str:
    """Why the gate refused a row of ``spec``, for the quarantine."""
    assert spec.consent_subject and spec.consent_time
    message = (
        f"{spec.consent_subject} had no valid credit_assessment consent for this source at "
        f"{spec.consent_time}"
    )
    if spec.name in SENSITIVE_ROWS:
        message += (
            " (a money interaction or device link needs a separate consent to sensitive "
            "personal information)"
        )
    return message


def apply_gate(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pa.Table) -> pa.Table:
    con.register("gate_rows", rows)
    try:
        return arrow_table(con, gate_sql(spec, "gate_rows"))
    finally:
        con.unregister("gate_rows")


def text_refusals(
    rows: pa.Table, texts: ConsentTexts | None = None
) -> tuple[pa.Array, list[str], pa.Array]:
    """The ``_row`` of every consent row whose text cannot back it, its rule, and its problems
    as JSON (for the quarantine)."""
    texts = texts or consent_texts()
    refused: list[int] = []
    rules: list[str] = []
    problems: list[str] = []
    for row, version, purpose, sensitive, granted_at in zip(
        rows[ROW].to_pylist(),
        rows["text_version"].to_pylist(),
        rows["purpose"].to_pylist(),
        rows["sensitive"].to_pylist(),
        rows["granted_at"].to_pylist(),
        strict=True,
    ):
        outcome = texts.for_grant(version, purpose, bool(sensitive), granted_at)
        if isinstance(outcome, TextRefusal):
            refused.append(row)
            rules.append(outcome.rule)
            problems.append(problems_json([Problem(outcome.field, outcome.rule, outcome.en)]))
    return pa.array(refused, type=pa.int64()), rules, pa.array(problems, type=pa.string())
