"""Render the data contract as Markdown, so the documentation cannot drift from the code."""

from __future__ import annotations

from creditgraph.contracts.schema import CONTRACT_VERSION, TABLES, Column, Kind

_KIND_TEXT = {
    Kind.STRING: "text",
    Kind.ENUM: "one of the allowed values (case-insensitive, stored lower-case)",
    Kind.INT: "integer",
    Kind.MONEY: "CNY decimal, at most 2 decimals; stored as integer fen",
    Kind.DATE: "ISO date `YYYY-MM-DD`",
    Kind.TIMESTAMP: "ISO 8601 date-time; without an offset it is read in the business time zone; stored in UTC",
    Kind.BOOL: "`true/false`, `t/f`, `1/0`, `yes/no`, `y/n`",
}


def _column_row(column: Column) -> str:
    notes = []
    if column.allowed:
        notes.append("allowed: " + ", ".join(f"`{v}`" for v in column.allowed))
    if column.minimum is not None:
        notes.append(f"min {column.minimum}")
    if column.maximum is not None:
        notes.append(f"max {column.maximum}")
    if column.max_length is not None:
        notes.append(f"at most {column.max_length} characters")
    if column.pseudonymise is not None:
        notes.append(f"pseudonymised ({column.pseudonymise.value})")
    if column.personal:
        notes.append("personal: identity table only, never in the lake")
    if column.description:
        notes.append(column.description)
    if column.nulls_when_invalid:
        required = "no (invalid: nulled)"
    else:
        required = "yes" if column.required else "no (invalid: row refused)"
    return f"| `{column.name}` | {column.kind.value} | {required} | {'; '.join(notes)} |"


def render_markdown() -> str:
    lines = [
        f"# Input data contract v{CONTRACT_VERSION}",
        "",
        "Generated from `src/creditgraph/contracts/schema.py` by `creditgraph contract docs`;",
        "a test keeps this page equal to the code.",
        "",
        "## Files",
        "",
        "One file per table, CSV (UTF-8, header row, optionally `.gz`), JSONL (one object per line,",
        "optionally `.gz`) or Parquet; a UTF-8 byte-order mark at the start is accepted. The table is",
        "taken from the file name (`ties.csv`, `ties-2026-06.parquet`, `ties.part1.jsonl`) or from",
        "`--table`. Columns not in the contract are ignored and reported, never stored (there is no",
        "column for message content, and none is read). A gzip file is decompressed once while it is",
        "hashed, so a truncated or corrupt one stops the batch before anything is written.",
        "",
        "## Types",
        "",
        "| type | accepted text |",
        "|---|---|",
        *(f"| {k.value} | {v} |" for k, v in _KIND_TEXT.items()),
        "",
        "Empty cells and whitespace are missing values. Row numbers in the quarantine count data rows",
        "from 1 (the CSV header is row 0; for JSONL, the line number).",
        "",
        "## What happens to a row",
        "",
        "1. A missing file, unknown table or format, unreadable file or missing required column stops",
        "   the whole batch before anything is written (exit code 2, one line naming file and cause).",
        "2. Each row is checked against its table below; a row that breaks any rule goes to",
        "   `<home>/quarantine/<batch>/<nn>-<file>.jsonl` with file, row, field, rule and message",
        "   (personal fields redacted). Lines that cannot be split into fields are `malformed_row`",
        "   (CSV; also a field over 16 MiB) or `malformed_json` (JSONL); undecodable bytes are",
        "   `encoding`. No value, however long, large or strange, stops the file: its row is",
        "   quarantined and the other rows are kept. In the quarantine a value over 1,000 characters",
        "   is cut to its first 200 plus `…[truncated: <length> characters, sha256 <hex>]`.",
        "   An invalid value of an optional column marked *invalid: nulled* below does not refuse",
        "   the row: the value is stored as null and the quarantine file gets a note for the row",
        '   (`"stored": true`, `nulled`: field, rule, message; personal fields redacted). Such notes',
        "   are counted as `nulled_fields`, not as quarantined rows; a rule on such a column",
        "   (`phone_format`, `reported_after_opened`) nulls it too. Optional columns marked",
        "   *invalid: row refused* (a consent's end or revocation, a tie's end, a source, an amount",
        "   a rule requires) refuse the row, since dropping the value would change what it says.",
        "3. Identifiers are replaced by keyed HMAC-SHA256 pseudonyms (person, device and phone each",
        "   in their own domain). Only `person_identities` in the database maps them back.",
        "4. Social rows (ties, interactions, devices, activity_daily) pass the consent gate: their",
        "   subject needs a `credit_assessment` consent for the row's source, granted at or before",
        "   the row's time and neither expired nor revoked by then; otherwise `no_consent`. Rows with",
        "   no source (no column, and no `--source` given) accept a consent from any source.",
        "5. Rows of database tables must reference a known person, else `unknown_person`.",
        "6. Re-ingested rows are recognised by their natural key and counted as duplicates; a changed",
        "   row under the same key (e.g. a consent now revoked) updates the stored one.",
        "7. An external-loan report without `reported_at` is dated at the ingest time, so no as-of",
        "   date before the ingest sees it; the batch counts them (`dated_at_ingest`) and the CLI says",
        "   so. For historical loads `--reported-at-default opened_at` dates them at their `opened_at`",
        "   (`dated_at_opened`).",
        "8. `creditgraph ingest` exits 3 when more than `--max-quarantined-share` (default 1) of a",
        "   file's rows were quarantined, and always when every row of a non-empty file was; the rows",
        "   that passed are stored all the same.",
        "",
    ]
    for spec in TABLES.values():
        lines += [
            f"## `{spec.name}`",
            "",
            spec.description,
            "",
            f"Stored in the {'Parquet lake' if spec.destination == 'lake' else 'database'}; "
            f"natural key: {', '.join(f'`{k}`' for k in spec.natural_key)}.",
            "",
        ]
        if spec.consent_subject:
            lines += [
                f"Consent gate: subject `{spec.consent_subject}`, at time `{spec.consent_time}`.",
                "",
            ]
        lines += ["| column | type | required | notes |", "|---|---|---|---|"]
        lines += [_column_row(c) for c in spec.all_columns]
        lines.append("")
        if spec.rules:
            lines += ["| rule | field | must hold |", "|---|---|---|"]
            lines += [f"| `{r.name}` | `{r.field}` | {r.description} |" for r in spec.rules]
            lines.append("")
    lines += [
        "## Field rules",
        "",
        "| rule | meaning |",
        "|---|---|",
        "| `required` | a required value is missing |",
        "| `type` | the text is not a value of the column's type |",
        "| `allowed` | not one of the allowed values |",
        "| `minimum` / `maximum` | outside the column's declared range |",
        "| `max_length` | text longer than the column's declared maximum (in characters) |",
        "| `nul_character` | text containing a NUL character, which PostgreSQL cannot store |",
        "| `out_of_range` | a number or time that cannot be stored: integers and money in fen "
        "beyond 64 bits (money above 92,233,720,368,547,758.07), dates and times (in UTC) outside "
        "0001-01-01 to 9999-12-31 |",
        "| `decimals` | money with more than 2 decimals |",
        "| `no_consent` | the consent gate refused the row |",
        "| `unknown_person` | the person is not in the database |",
        "",
    ]
    return "\n".join(lines)
