"""``creditgraph events ingest FILE.jsonl``: a file of events through the same door as the API.

One JSON object per line. A line that is not JSON is refused with its line number (rule
``json``); the rest go in batches through ``intake.submit_events``, so a file and ``POST
/v1/events`` validate, pseudonymise, gate and publish alike. Every refusal keeps the line it came
from, so an operator can mend the file and send just those lines again (``event_id`` makes a
repeat harmless: the consumer applies an event once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from creditgraph.monitoring.bus import EventBus
from creditgraph.monitoring.door import Door
from creditgraph.monitoring.intake import submit_events

BATCH = 2000


class EventFileError(ValueError):
    """The file cannot be read at all (missing, a directory, not UTF-8)."""


@dataclass
class FileIntake:
    """What became of a file: counts, refusals by reason, and each refusal with its line."""

    path: Path
    lines: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "lines": self.lines,
            "accepted": self.accepted,
            "refused": sum(self.refused.values()),
            "refused_by_reason": dict(sorted(self.refused.items())),
        }


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
    except FileNotFoundError:
        raise EventFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EventFileError(f"{path}: is a directory, not a JSON Lines file") from None


def ingest_event_file(
    engine: Engine,
    door: Door,
    path: Path,
    *,
    bus: EventBus | None = None,
    now: datetime | None = None,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> FileIntake:
    """Read ``path`` and submit its events in batches of ``batch`` lines."""
    result = FileIntake(path)
    received_at = now or datetime.now(UTC)
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        if not pending:
            return
        outcome = submit_events(engine, door, [obj for _, obj in pending], now=received_at, bus=bus)
        result.accepted += outcome.accepted
        result.refused.update(outcome.refused)
        for error in outcome.errors:
            entry = error.as_dict()
            entry["line"] = pending[error.index][0]
            del entry["index"]
            result.errors.append(entry)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for number, line in _lines(path):
        result.lines += 1
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            result.refused["invalid"] += 1
            result.errors.append(
                {
                    "line": number,
                    "event_id": None,
                    "field": "",
                    "rule": "json",
                    "message": f"not a JSON object: {exc}",
                }
            )
            continue
        pending.append((number, obj))
        if len(pending) >= batch:
            flush()
    flush()
    result.errors.sort(key=lambda entry: (entry["line"], entry["field"]))
    return result
