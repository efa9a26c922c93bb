"""Render the event contract as Markdown, so ``docs/events.md`` cannot drift from the code.

Pure: builds text from ``monitoring.events`` and the validator's rule list; writing the file is
the caller's (``make docs``).
"""

from __future__ import annotations

from creditgraph.monitoring.events import (
    COMMON_FIELDS,
    CONTENT_WORDS,
    EVENT_CONTRACT_VERSION,
    SPECS,
    Category,
    EventField,
    EventSpec,
    FieldKind,
)
from creditgraph.monitoring.validate import RULES

_KIND_TEXT = {
    FieldKind.STRING: "JSON string, trimmed",
    FieldKind.ENUM: "JSON string, one of the allowed values (case-insensitive, kept as spelled here)",
    FieldKind.INT: "JSON integer (not a boolean, not a float)",
    FieldKind.MONEY: 'JSON string of CNY, at most 2 decimals (`"12.50"`); kept as integer fen; '
    "a JSON number is refused",
    FieldKind.DATE: "JSON string `YYYY-MM-DD`",
    FieldKind.TIMESTAMP: "JSON string, ISO 8601 date-time with an offset (`Z`, `+08:00`); kept in UTC",
    FieldKind.BOOL: "JSON `true` or `false`",
}


def _money_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _field_row(field: EventField) -> str:
    notes = []
    if field.allowed:
        notes.append("allowed: " + ", ".join(f"`{v}`" for v in field.allowed))
    money = field.kind is FieldKind.MONEY
    if field.minimum is not None and field.minimum == field.maximum:
        notes.append(f"must be {field.minimum}")
    else:
        if field.minimum is not None:
            notes.append(f"min {_money_text(field.minimum) if money else field.minimum}")
        if field.maximum is not None:
            notes.append(f"max {_money_text(field.maximum) if money else field.maximum}")
    if field.max_length is not None:
        notes.append(f"at most {field.max_length} characters")
    if field.pattern is not None:
        notes.append(f"format `{field.pattern}`")
    if field.pseudonymise is not None:
        notes.append(f"pseudonymised ({field.pseudonymise.value})")
    notes.append(field.description)
    required = "yes" if field.required else "no"
    return f"| `{field.name}` | {field.kind.value} | {required} | {'; '.join(notes)} |"


def _gate_text(spec: EventSpec) -> str:
    if spec.gate is None:
        return f"Consent gate: none; {spec.gate_note}."
    source = "of the event's own `source`" if spec.gate.same_source else "of any source"
    return (
        f"Consent gate: `{spec.gate.subject}` needs a valid `{spec.gate.purpose}` consent "
        f"{source} at `{spec.gate.time}`."
    )


def _spec_section(spec: EventSpec) -> list[str]:
    lines = [f"### `{spec.type.value}`", "", spec.description, "", _gate_text(spec), ""]
    if spec.sources:
        lines += ["Accepted sources: " + ", ".join(f"`{s}`" for s in spec.sources) + ".", ""]
    lines += ["| field | type | required | notes |", "|---|---|---|---|"]
    lines += [_field_row(f) for f in spec.fields]
    lines.append("")
    if spec.rules:
        lines += ["| rule | field | must hold |", "|---|---|---|"]
        lines += [f"| `{r.name}` | `{r.field}` | {r.description} |" for r in spec.rules]
        lines.append("")
    return lines


def render_markdown() -> str:
    lines = [
        f"# Event contract v{EVENT_CONTRACT_VERSION}",
        "",
        "Generated from `src/creditgraph/monitoring/events.py` by `make docs`;",
        "a test keeps this page equal to the code.",
        "",
        "Events tell monitoring what happened to a person after the credit decision: social",
        "activity, finances reported by others, and servicing's own postings and delinquency.",
        "A batch is a JSON array of objects (or JSONL, one object per line).",
        "",
        "## What happens to a batch",
        "",
        "1. Every event is checked against its type below. Each broken rule gives one error with",
        "   the event's `index` in the batch (from 0), its `event_id` (when it has one), the",
        "   `field`, the `rule` and a message; values are never repeated in errors. An event with",
        "   any error is not kept, and validation stores nothing, so a refused batch leaves nothing",
        "   half-applied.",
        "2. Fields named like message content are refused (`content`): events carry counts and",
        "   amounts, never what was said. A field name is split into words (`msgBody` is `msg`,",
        "   `body`) and refused when a word is one of "
        + ", ".join(f"`{w}`" for w in sorted(CONTENT_WORDS))
        + ".",
        "3. Identifiers (the fields marked *pseudonymised*) are replaced by the keyed HMAC-SHA256",
        "   pseudonyms ingest gives them, with the same key and namespace (person, device, phone;",
        "   a phone by its digits), so events join the people, devices and phones already stored.",
        "4. The consent gate of each type applies at `occurred_at`; a refused event is counted by",
        "   reason and not stored. Events about unknown or erased people are counted and dropped.",
        "",
        "## Types",
        "",
        "| type | accepted JSON |",
        "|---|---|",
        *(f"| {k.value} | {v} |" for k, v in _KIND_TEXT.items()),
        "",
        "A missing field, JSON `null` and an empty or blank string are all *missing*.",
        "",
        "## Fields of every event",
        "",
        "| field | type | required | notes |",
        "|---|---|---|---|",
        *(_field_row(f) for f in COMMON_FIELDS),
        "",
    ]
    for category in Category:
        specs = [spec for spec in SPECS if spec.category is category]
        lines += [f"## {category.value.capitalize()} events", ""]
        for spec in specs:
            lines += _spec_section(spec)
    lines += [
        "## Rules",
        "",
        "Besides the rules of each type above:",
        "",
        "| rule | meaning |",
        "|---|---|",
        *(f"| `{name}` | {meaning} |" for name, meaning in RULES.items()),
        "",
    ]
    return "\n".join(lines)
