"""Validate a batch of events against contract v1: typed events plus one error per broken rule.

Validation is all this does: nothing is stored, counted or pseudonymised here, so a caller can
refuse a whole batch (nothing half-applied) or keep the valid events, and the error list says
exactly which event (index and ``event_id``), field and rule failed. Values are never echoed in
messages, so an error report cannot leak an identifier or content.

Plain checks driven by the contract data rather than generated models: one pass over each
event's keys with a parser per field kind, fast enough for 100k-event batches.

Pure: no I/O; the caller passes ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from creditgraph.monitoring.events import (
    CONTENT_WORDS,
    EVENT_CONTRACT_VERSION,
    EVENT_SPECS,
    Event,
    EventField,
    EventSpec,
    EventType,
    FieldKind,
)

INT64_MAX = 2**63 - 1

RULES: dict[str, str] = {
    "not_an_object": "the event is not a JSON object",
    "unknown_type": "type is not an event type of contract v1",
    "required": "a required field is missing or empty",
    "type": "the value is not of the field's type",
    "timezone": "a time without an offset: send `Z` or `+08:00`",
    "allowed": "not one of the allowed values",
    "minimum": "below the field's minimum",
    "maximum": "above the field's maximum",
    "max_length": "text longer than the field's maximum",
    "pattern": "text not of the field's format",
    "nul_character": "text containing a NUL character",
    "decimals": "money with more than 2 decimals",
    "out_of_range": "a number beyond 64 bits (money in fen), or a time outside years 1-9999 in UTC",
    "version": "an event version this contract does not describe",
    "extra_field": "a field the event type does not have",
    "content": "a field named like message content: events carry counts, never content",
    "future": "occurred_at is after the time the batch was received",
    "source": "a source this event type does not accept",
    "duplicate_event_id": "the event_id already appears earlier in the batch",
}
"""Every field-level rule with what it means; cross-field rules are the contract's own."""

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_MONEY = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")
_PLAIN_MONEY = re.compile(r"([0-9]{1,18})(?:\.([0-9]{0,2}))?")


@dataclass(frozen=True, slots=True)
class EventError:
    """One broken rule of one event; ``index`` is its position in the batch, from 0."""

    index: int
    event_id: str | None
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The valid events in batch order, and every error of the others."""

    events: tuple[Event, ...]
    errors: tuple[EventError, ...]
    received: int

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def refused_indexes(self) -> frozenset[int]:
        return frozenset(error.index for error in self.errors)


class _Bad(Exception):
    """A field's value broke ``rule``; ``detail`` says how, without repeating the value."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail


@lru_cache(maxsize=4096)
def is_content_name(name: str) -> bool:
    """Whether a field name reads like message content (``text``, ``msgBody``, ``content_1``)."""
    return any(word.lower() in CONTENT_WORDS for word in _WORD.findall(name))


def _text(value: object, spec: EventField) -> str:
    if not isinstance(value, str):
        raise _Bad("type", f"must be a string, not {_json_type(value)}")
    return value.strip()


def _string(value: object, spec: EventField) -> str:
    text = _text(value, spec)
    if "\x00" in text:
        raise _Bad("nul_character", "must not contain a NUL character")
    if spec.max_length is not None and len(text) > spec.max_length:
        raise _Bad("max_length", f"must be at most {spec.max_length} characters")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise _Bad("pattern", f"must match {spec.pattern}")
    return text


@lru_cache(maxsize=256)
def _spellings(allowed: tuple[str, ...]) -> dict[str, str]:
    return {value.lower(): str(value) for value in allowed}


def _enum(value: object, spec: EventField) -> str:
    text = _spellings(spec.allowed).get(_text(value, spec).lower())
    if text is None:
        raise _Bad("allowed", "must be one of " + ", ".join(spec.allowed))
    return text


def _int(value: object, spec: EventField) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("type", f"must be an integer, not {_json_type(value)}")
    if not -INT64_MAX <= value <= INT64_MAX:
        raise _Bad("out_of_range", "must fit in 64 bits")
    _range(value, spec)
    return value


def _money(value: object, spec: EventField) -> int:
    if type(value) is str and (plain := _PLAIN_MONEY.fullmatch(value.strip())):
        # the common case, whole yuan and up to two decimals, in integer arithmetic
        whole, cents = plain.groups()
        fen = int(whole) * 100 + (int(cents.ljust(2, "0")) if cents else 0)
    else:
        fen = _money_exact(value)
    if not fen <= INT64_MAX:
        raise _Bad("out_of_range", "is too large to be stored in fen")
    _range(fen, spec, _yuan)
    return fen


def _money_exact(value: object) -> int:
    """Fen of any other money text (signs, trailing zeros, Decimals), refusing fractions of a fen."""
    if isinstance(value, Decimal) and value.is_finite():
        amount = value
    else:
        if not isinstance(value, str):
            raise _Bad(
                "type", f'must be a decimal string of yuan such as "12.50", not {_json_type(value)}'
            )
        text = value.strip()
        if not _MONEY.fullmatch(text):
            raise _Bad("type", 'must be a decimal string of yuan such as "12.50"')
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise _Bad("type", 'must be a decimal string of yuan such as "12.50"') from None
    scaled = amount.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise _Bad("decimals", "must have at most 2 decimals (whole fen)")
    fen = int(scaled)
    if not fen >= -INT64_MAX:
        raise _Bad("out_of_range", "is too large to be stored in fen")
    return fen


def _yuan(fen: int) -> str:
    return f"{Decimal(fen).scaleb(-2):f}"


def _range(value: int, spec: EventField, show: Callable[[int], str] = str) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise _Bad("minimum", f"must be at least {show(spec.minimum)}")
    if spec.maximum is not None and value > spec.maximum:
        raise _Bad("maximum", f"must be at most {show(spec.maximum)}")


def _date(value: object, spec: EventField) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = _text(value, spec)
    if len(text) != 10:
        raise _Bad("type", "must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad("type", "must be a date YYYY-MM-DD") from None


def _timestamp(value: object, spec: EventField) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        text = _text(value, spec)
        if len(text) < 16 or text[4:5] != "-":
            raise _Bad("type", "must be an ISO 8601 date-time with an offset")
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise _Bad("type", "must be an ISO 8601 date-time with an offset") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise _Bad("timezone", "must carry a UTC offset (`Z` or `+08:00`)")
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise _Bad("out_of_range", "must be a time between years 1 and 9999 in UTC") from None


def _bool(value: object, spec: EventField) -> bool:
    if not isinstance(value, bool):
        raise _Bad("type", f"must be true or false, not {_json_type(value)}")
    return value


_PARSERS: dict[FieldKind, Callable[[object, EventField], object]] = {
    FieldKind.STRING: _string,
    FieldKind.ENUM: _enum,
    FieldKind.INT: _int,
    FieldKind.MONEY: _money,
    FieldKind.DATE: _date,
    FieldKind.TIMESTAMP: _timestamp,
    FieldKind.BOOL: _bool,
}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class _Compiled:
    """An event spec prepared for the hot loop: fields by name and their parsers."""

    spec: EventSpec
    fields: dict[str, tuple[EventField, Callable[[object, EventField], object]]]
    required: tuple[str, ...]


_COMPILED: dict[str, _Compiled] = {
    name: _Compiled(
        spec,
        {f.name: (f, _PARSERS[f.kind]) for f in spec.all_fields},
        tuple(f.name for f in spec.all_fields if f.required),
    )
    for name, spec in EVENT_SPECS.items()
}


_CONTRACT_NAMES = frozenset(name for c in _COMPILED.values() for name in c.fields)
"""Every field name of the contract: none reads like content, so the hot loop skips the check."""


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Checker:
    """Collects the errors of one event."""

    __slots__ = ("errors", "event_id", "index")

    def __init__(self, index: int, event_id: str | None) -> None:
        self.index = index
        self.event_id = event_id
        self.errors: list[EventError] = []

    def add(self, field: str, rule: str, message: str) -> None:
        self.errors.append(EventError(self.index, self.event_id, field, rule, message))


def _event_id_of(raw: dict[str, object]) -> str | None:
    value = raw.get("event_id")
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    return None


def _check_one(
    index: int, raw: object, now: datetime, seen: set[str]
) -> tuple[Event | None, list[EventError]]:
    if not isinstance(raw, dict):
        error = EventError(
            index, None, "", "not_an_object", f"event must be an object, not {_json_type(raw)}"
        )
        return None, [error]
    event_id = _event_id_of(raw)
    check = _Checker(index, event_id)
    if event_id is not None:
        if event_id in seen:
            check.add(
                "event_id", "duplicate_event_id", "event_id already appears earlier in the batch"
            )
        seen.add(event_id)
    for name in raw:
        if name not in _CONTRACT_NAMES and isinstance(name, str) and is_content_name(name):
            check.add(name, "content", f"{name}: events carry counts, never content; remove it")
    type_value = raw.get("type")
    compiled = _COMPILED.get(type_value.strip().lower()) if isinstance(type_value, str) else None
    if compiled is None:
        if _missing(type_value):
            check.add("type", "required", "type is required")
        else:
            check.add("type", "unknown_type", "type must be one of " + ", ".join(EVENT_SPECS))
        return None, check.errors
    version = raw.get("version")
    wrong_version = (
        isinstance(version, int)
        and not isinstance(version, bool)
        and version != EVENT_CONTRACT_VERSION
    )
    if wrong_version:
        check.add(
            "version",
            "version",
            f"version {version} is not described; send {EVENT_CONTRACT_VERSION}",
        )
        return None, check.errors
    values: dict[str, object] = {}
    for name, value in raw.items():
        entry = compiled.fields.get(name) if isinstance(name, str) else None
        if entry is None:
            if not (isinstance(name, str) and is_content_name(name)):
                check.add(
                    str(name), "extra_field", f"{name} is not a field of {compiled.spec.type.value}"
                )
            continue
        if value is None or (type(value) is str and not value.strip()):
            continue  # missing: reported below when required
        field_spec, parse = entry
        try:
            values[name] = parse(value, field_spec)
        except _Bad as bad:
            check.add(name, bad.rule, f"{name} {bad.detail}")
    for name in compiled.required:
        if name not in values and _missing(raw.get(name)):
            check.add(name, "required", f"{name} is required")
    if check.errors:
        return None, check.errors
    spec = compiled.spec
    occurred_at = values["occurred_at"]
    assert isinstance(occurred_at, datetime)
    if occurred_at > now:
        check.add("occurred_at", "future", "occurred_at is after the time the batch was received")
    if spec.sources and values["source"] not in spec.sources:
        check.add("source", "source", "source must be " + " or ".join(spec.sources))
    for rule in spec.rules:
        if not rule.holds(values):
            check.add(rule.field, rule.name, rule.description)
    if check.errors:
        return None, check.errors
    event = Event(
        event_id=str(values["event_id"]),
        type=EventType(str(values["type"])),
        person_id=str(values["person_id"]),
        occurred_at=occurred_at,
        source=str(values["source"]),
        version=EVENT_CONTRACT_VERSION,
        values=values,
    )
    return event, []


def validate_batch(
    batch: Sequence[object], now: datetime, *, clock_tolerance: timedelta = timedelta(0)
) -> ValidationResult:
    """Check every event of ``batch``; ``now`` (aware) is when it was received.

    An event whose ``occurred_at`` is later than ``now + clock_tolerance`` is refused as
    ``future``. A repeated ``event_id`` is refused from its second appearance on.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    latest = now + clock_tolerance
    seen: set[str] = set()
    events: list[Event] = []
    errors: list[EventError] = []
    for index, raw in enumerate(batch):
        event, problems = _check_one(index, raw, latest, seen)
        if event is not None:
            events.append(event)
        else:
            errors.extend(problems)
    return ValidationResult(tuple(events), tuple(errors), len(batch))
