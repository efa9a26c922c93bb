"""Row validation against the contract, compiled to one DuckDB query per table.

Each chunk of raw rows (text or typed) goes through the query once: values are parsed into their
contract types, every failing field and cross-field rule is named, and the good rows come out
typed and normalised (money in integer fen, times in UTC). Vectorised, so ten million rows cost
seconds, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.contracts.schema import Column, Kind, TableSpec
from creditgraph.duck import arrow_table

ROW = "_row"
ERRORS = "_errors"
NOTES = "_notes"  # "field:rule" of optional values nulled in a stored row
_TRUE_WORDS = ("true", "t", "1", "yes", "y")
_FALSE_WORDS = ("false", "f", "0", "no", "n")
_INT_PATTERN = r"[+-]?[0-9]+"
_MONEY_PATTERN = r"[+-]?[0-9]+(\.[0-9]{0,2}0*)?"
_NUMBER_PATTERN = r"[+-]?[0-9]+(\.[0-9]*)?"


def stored_name(column: Column) -> str:
    """Money is stored in fen, and the column name says so."""
    return f"{column.name}_fen" if column.kind is Kind.MONEY else column.name


def rule_message(spec: TableSpec, field: str, rule: str) -> str:
    """The sentence a person reads in the quarantine next to a failed rule."""
    for row_rule in spec.rules:
        if row_rule.name == rule and row_rule.field == field:
            return row_rule.description
    column = spec.column(field)
    messages = {
        "required": f"{field} is required",
        "type": f"{field} is not a valid {column.kind.value}",
        "allowed": f"{field} must be one of: {', '.join(column.allowed)}",
        "minimum": f"{field} must be at least {column.minimum}",
        "maximum": f"{field} must be at most {column.maximum}",
        "max_length": f"{field} must be at most {column.max_length} characters",
        "nul_character": f"{field} must not contain a NUL character",
        "decimals": f"{field} must have at most 2 decimals",
        "out_of_range": f"{field} {_RANGE_TEXT.get(column.kind, 'is out of range')}",
    }
    return messages.get(rule, f"{field} breaks rule {rule}")


# What a storable value looks like, per kind: int64 for integers and fen, Python's datetime range
# for times (naive times are read in the business zone, so 0001-01-01 can fall before it in UTC).
_RANGE_TEXT = {
    Kind.INT: "is outside the 64-bit integer range",
    Kind.MONEY: "is outside the storable range (at most 92,233,720,368,547,758.07 in absolute value)",
    Kind.DATE: "must be between 0001-01-01 and 9999-12-31",
    Kind.TIMESTAMP: "must be between 0001-01-01 and 9999-12-31 in UTC",
}
_FIRST_TIME = "TIMESTAMP '0001-01-01 00:00:00'"
_LAST_TIME = "TIMESTAMP '9999-12-31 23:59:59.999999'"
_FIRST_DATE = "DATE '0001-01-01'"
_LAST_DATE = "DATE '9999-12-31'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _within(value: str, first: str, last: str) -> str:
    return f"CASE WHEN {value} BETWEEN {first} AND {last} THEN {value} END"


def _cast(column: Column, s: str) -> str | None:
    """SQL reading the trimmed text ``s`` as the column's type, before its range is checked.

    ``None`` for kinds whose every parse is storable (text, enums, booleans).
    """
    kind = column.kind
    if kind is Kind.INT:
        return f"CASE WHEN regexp_full_match({s}, {_lit(_INT_PATTERN)}) THEN TRY_CAST({s} AS BIGINT) END"
    if kind is Kind.MONEY:
        # 18 integer digits hold every int64 fen (and beyond), and times 100 stay inside
        # DECIMAL(38): a wider cast would make the multiplication itself fail on huge values
        return (
            f"CASE WHEN regexp_full_match({s}, {_lit(_MONEY_PATTERN)}) "
            f"THEN TRY_CAST({s} AS DECIMAL(20, 2)) END"
        )
    if kind is Kind.DATE:
        return f"TRY_CAST({s} AS DATE)"
    if kind is Kind.TIMESTAMP:
        return f"timezone('UTC', TRY_CAST({s} AS TIMESTAMPTZ))"
    return None


def _parse(column: Column, s: str) -> str:
    """SQL parsing the trimmed text ``s`` into the column's stored value (NULL if invalid).

    Every cast is a TRY_CAST and every value is range-checked, so no input can make the query
    itself fail: a value too large for int64 fen or a time outside Python's datetime is NULL here
    and named by ``_field_error`` as ``out_of_range``.
    """
    kind = column.kind
    if kind is Kind.STRING:
        return s
    if kind is Kind.ENUM:
        return (
            f"CASE WHEN lower({s}) IN ({', '.join(map(_lit, column.allowed))}) THEN lower({s}) END"
        )
    if kind is Kind.BOOL:
        return (
            f"CASE WHEN lower({s}) IN ({', '.join(map(_lit, _TRUE_WORDS))}) THEN TRUE "
            f"WHEN lower({s}) IN ({', '.join(map(_lit, _FALSE_WORDS))}) THEN FALSE END"
        )
    cast = _cast(column, s)
    if cast is None:
        raise AssertionError(kind)
    if kind is Kind.MONEY:
        return f"TRY_CAST({cast} * 100 AS BIGINT)"
    if kind is Kind.DATE:
        return _within(cast, _FIRST_DATE, _LAST_DATE)
    if kind is Kind.TIMESTAMP:
        return _within(cast, _FIRST_TIME, _LAST_TIME)
    return cast  # INT: BIGINT already, NULL beyond it


def _field_error(column: Column, s: str, v: str) -> str:
    name = column.name
    checks: list[str] = []
    if column.required:
        checks.append(f"WHEN {s} IS NULL THEN {_lit(name + ':required')}")
    cast = _cast(column, s)
    if column.kind is Kind.MONEY:
        checks.append(
            f"WHEN {s} IS NOT NULL AND TRY_CAST({s} AS DECIMAL(38, 10)) IS NULL "
            f"AND NOT regexp_full_match({s}, {_lit(_NUMBER_PATTERN)}) THEN {_lit(name + ':type')}"
        )
        checks.append(
            f"WHEN {s} IS NOT NULL AND NOT regexp_full_match({s}, {_lit(_MONEY_PATTERN)}) "
            f"THEN {_lit(name + ':decimals')}"
        )
        checks.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(name + ':out_of_range')}")
    elif column.kind is Kind.ENUM:
        checks.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(name + ':allowed')}")
    elif column.kind is Kind.INT:
        checks.append(
            f"WHEN {s} IS NOT NULL AND NOT regexp_full_match({s}, {_lit(_INT_PATTERN)}) "
            f"THEN {_lit(name + ':type')}"
        )
        checks.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(name + ':out_of_range')}")
    elif cast is not None:
        checks.append(f"WHEN {s} IS NOT NULL AND {cast} IS NULL THEN {_lit(name + ':type')}")
        checks.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(name + ':out_of_range')}")
    else:
        checks.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(name + ':type')}")
    if column.kind is Kind.STRING:
        # PostgreSQL text cannot hold NUL; refused everywhere so both databases and the lake agree
        checks.append(f"WHEN contains({s}, chr(0)) THEN {_lit(name + ':nul_character')}")
    if column.max_length is not None:
        checks.append(f"WHEN length({s}) > {column.max_length} THEN {_lit(name + ':max_length')}")
    scale = 100 if column.kind is Kind.MONEY else 1
    if column.minimum is not None:
        checks.append(f"WHEN {v} < {column.minimum * scale} THEN {_lit(name + ':minimum')}")
    if column.maximum is not None:
        checks.append(f"WHEN {v} > {column.maximum * scale} THEN {_lit(name + ':maximum')}")
    return "CASE " + " ".join(checks) + " END"


@dataclass(frozen=True)
class ValidationQuery:
    """The compiled query for one table and one set of input columns."""

    spec: TableSpec
    sql: str
    output_columns: tuple[str, ...]


def compile_query(spec: TableSpec, present: set[str], relation: str = "chunk") -> ValidationQuery:
    """One query: parse, check fields, null invalid optional values, then check the row rules.

    Stages: ``parsed`` holds each value and its field error; ``cleaned`` nulls an optional
    value whose field check failed (a note, not an error); ``ruled`` notes a rule failing on
    such an optional field, and ``final`` nulls that value too; the row rules are then checked
    on the values as stored, so a nulled value can never let a row break a rule.
    """
    raw_parts = [ROW]
    parsed_parts = [ROW]
    outputs: list[str] = []
    error_parts: list[str] = []
    note_parts: list[str] = []
    for column in spec.all_columns:
        q = _q(column.name)
        if column.name in present:
            raw_parts.append(f"NULLIF(trim(CAST({q} AS VARCHAR)), '') AS {q}")
        else:
            raw_parts.append(f"CAST(NULL AS VARCHAR) AS {q}")
        value = _parse(column, q)
        out = _q(stored_name(column))
        parsed_parts.append(f"{value} AS {out}")
        parsed_parts.append(f"{_field_error(column, q, value)} AS {_q('_e_' + column.name)}")
        (note_parts if column.nulls_when_invalid else error_parts).append(_q("_e_" + column.name))
        outputs.append(stored_name(column))
    error_columns = [_q("_e_" + c.name) for c in spec.all_columns]
    cleaned_parts = [ROW, *error_columns]
    for column in spec.all_columns:
        out = _q(stored_name(column))
        if column.nulls_when_invalid:
            cleaned_parts.append(
                f"CASE WHEN {_q('_e_' + column.name)} IS NULL THEN {out} END AS {out}"
            )
        else:
            cleaned_parts.append(out)
    lenient = {c.name for c in spec.all_columns if c.nulls_when_invalid}
    rule_notes: dict[str, list[str]] = {}  # lenient field -> its rule-note columns
    ruled_parts = ["*"]
    rule_parts = []
    for index, rule in enumerate(spec.rules):
        expression = _rule_sql(spec, rule.expression)
        label = _lit(rule.field + ":" + rule.name)
        if rule.field in lenient:
            note = _q(f"_n_{index}")
            ruled_parts.append(
                f"CASE WHEN {_q('_e_' + rule.field)} IS NULL AND NOT coalesce(({expression}), "
                f"TRUE) THEN {label} END AS {note}"
            )
            rule_notes.setdefault(rule.field, []).append(note)
            note_parts.append(note)
            rule_parts.append(f"CASE WHEN NOT coalesce(({expression}), TRUE) THEN {label} END")
        else:
            rule_parts.append(
                f"CASE WHEN {_q('_e_' + rule.field)} IS NULL AND NOT coalesce(({expression}), "
                f"TRUE) THEN {label} END"
            )
    final_parts = ["*"]
    replaced = []
    for field_name, notes in rule_notes.items():
        out = _q(stored_name(spec.column(field_name)))
        nulled = " OR ".join(f"{n} IS NOT NULL" for n in notes)
        replaced.append(f"CASE WHEN {nulled} THEN NULL ELSE {out} END AS {out}")
    if replaced:
        final_parts = [f"* REPLACE ({', '.join(replaced)})"]
    sql = (
        f"WITH raw AS (SELECT {', '.join(raw_parts)} FROM {relation}), "
        f"parsed AS (SELECT {', '.join(parsed_parts)} FROM raw), "
        f"cleaned AS (SELECT {', '.join(cleaned_parts)} FROM parsed), "
        f"ruled AS (SELECT {', '.join(ruled_parts)} FROM cleaned), "
        f"final AS (SELECT {', '.join(final_parts)} FROM ruled) "
        f"SELECT {ROW}, {', '.join(_q(o) for o in outputs)}, "
        f"{_present(error_parts + rule_parts)} AS {ERRORS}, {_present(note_parts)} AS {NOTES} "
        "FROM final"
    )
    return ValidationQuery(spec, sql, tuple(outputs))


def _present(labels: list[str]) -> str:
    """The non-null labels as a list of text (empty when there are none)."""
    if not labels:
        return "CAST([] AS VARCHAR[])"
    return f"list_filter([{', '.join(labels)}], lambda x: x IS NOT NULL)"


def _rule_sql(spec: TableSpec, expression: str) -> str:
    """A row rule over stored values: money columns hold fen, the rule speaks of CNY."""
    for column in spec.all_columns:
        if column.kind is Kind.MONEY:
            expression = _replace_word(expression, column.name, f"({stored_name(column)} / 100)")
    return expression


def _replace_word(expression: str, word: str, replacement: str) -> str:
    import re

    return re.sub(rf"\b{re.escape(word)}\b", replacement, expression)


@dataclass
class ValidationResult:
    valid: pa.Table  # typed rows that passed, with _row; invalid optional values are null
    invalid_rows: pa.Array  # _row numbers of rows that failed
    invalid_errors: list[list[str]]  # "field:rule" per failed row (its notes included)
    noted_rows: pa.Array  # _row numbers of valid rows with a nulled value
    noted: list[list[str]]  # "field:rule" of each value nulled, per noted row


def validate_chunk(
    con: duckdb.DuckDBPyConnection, query: ValidationQuery, chunk: pa.Table
) -> ValidationResult:
    """Run the compiled query on one chunk of raw rows."""
    con.register("chunk", chunk)
    try:
        result = arrow_table(con, query.sql)
    finally:
        con.unregister("chunk")
    ok = pc.equal(pc.list_value_length(result[ERRORS]), 0)
    good = result.filter(ok)
    valid = good.drop_columns([ERRORS, NOTES])
    bad = result.filter(pc.invert(ok))
    noted = good.filter(pc.greater(pc.list_value_length(good[NOTES]), 0))
    return ValidationResult(
        valid=valid,
        invalid_rows=bad[ROW].combine_chunks(),
        invalid_errors=[
            errors + notes
            for errors, notes in zip(bad[ERRORS].to_pylist(), bad[NOTES].to_pylist(), strict=True)
        ],
        noted_rows=noted[ROW].combine_chunks(),
        noted=noted[NOTES].to_pylist(),
    )
