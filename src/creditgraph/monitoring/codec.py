"""A validated event to the JSON the bus carries, and back.

The bus stores events after the door (pseudonyms, never raw identifiers) as plain JSON. Typed
values do not survive JSON, so ``to_payload`` writes money as integer fen, dates as ``YYYY-MM-DD``
and times as ISO 8601 in UTC, and ``from_payload`` reads them back by the contract's field kinds.
Servicing writes its own events in the contract's wire form (money as decimal yuan text), which
``from_payload`` reads too: an integer is fen, a string is yuan.

A payload that does not decode (an unknown type, a missing field, a value of the wrong shape)
raises ``PayloadError``: the consumer sets it aside as a poison event with that reason.

Pure: the contract and the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from creditgraph.monitoring.events import EVENT_SPECS, Event, EventType, FieldKind


class PayloadError(ValueError):
    """A stored event that cannot be read back."""


def _time_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_payload(event: Event) -> dict[str, Any]:
    """The event as JSON-safe values: fen as int, dates ISO, times ISO UTC with ``Z``."""
    out: dict[str, Any] = {}
    for name, value in event.values.items():
        if isinstance(value, datetime):
            out[name] = _time_text(value)
        elif isinstance(value, date):
            out[name] = value.isoformat()
        elif isinstance(value, EventType):
            out[name] = value.value
        else:
            out[name] = value
    out["event_id"] = event.event_id
    out["type"] = event.type.value
    out["person_id"] = event.person_id
    out["occurred_at"] = _time_text(event.occurred_at)
    out["source"] = event.source
    out["version"] = event.version
    return out


def _fen(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not money")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip()) * 100
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
        if amount != amount.to_integral_value():
            raise ValueError(f"more than two decimals: {value!r}")
        return int(amount)
    raise ValueError(f"not an amount: {value!r}")


def _timestamp(value: object) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"a time without an offset: {value!r}")
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _int(value: object) -> int:
    if type(value) is not int:  # not a bool, not a float
        raise ValueError(f"not an integer: {value!r}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"not a boolean: {value!r}")
    return value


def _text(value: object) -> str:
    return value if type(value) is str else str(value)


_READERS: dict[FieldKind, Any] = {
    FieldKind.MONEY: _fen,
    FieldKind.TIMESTAMP: _timestamp,
    FieldKind.DATE: _date,
    FieldKind.INT: _int,
    FieldKind.BOOL: _bool,
    FieldKind.STRING: _text,
    FieldKind.ENUM: _text,
}
_PLANS = {
    name: (spec, tuple((f.name, _READERS[f.kind], f.required) for f in spec.all_fields))
    for name, spec in EVENT_SPECS.items()
}
"""Per type: its spec and, per field, the name, the reader of its kind and whether required
(worked out once: decoding runs for every event the monitor reads)."""


def from_payload(payload: Mapping[str, Any]) -> Event:
    """The typed event of a stored payload; ``PayloadError`` names the field that fails."""
    kind = payload.get("type")
    plan = _PLANS.get(kind if type(kind) is str else str(kind))
    if plan is None:
        raise PayloadError(f"unknown event type {kind!r}")
    spec, fields = plan
    values: dict[str, object] = {}
    get = payload.get
    for name, read, required in fields:
        raw = get(name)
        if raw is None:
            if required:
                raise PayloadError(f"{spec.type.value}: field {name!r} is missing")
            continue
        try:
            values[name] = read(raw)
        except ValueError as exc:
            raise PayloadError(f"{spec.type.value}: field {name!r}: {exc}") from None
    occurred_at = values["occurred_at"]
    assert isinstance(occurred_at, datetime)
    return Event(
        event_id=str(values["event_id"]),
        type=spec.type,
        person_id=str(values["person_id"]),
        occurred_at=occurred_at,
        source=str(values["source"]),
        version=int(str(values["version"])),
        values=values,
    )
