"""Forget an erased person in the ingest quarantine (``<home>/quarantine/<batch>/*.jsonl``).

The quarantine keeps refused rows so a lender can fix them: file, row number, field, rule and the
record as read, with personal fields and money redacted and identifiers pseudonymised (see
``ingest.quarantine``). After an erasure the rest of such a record (segment, occupation, birth
year, the ties it names) is still about the person, so every line whose record names the
person's pseudonym loses its record. The file, the row number in the lender's own file and the
rules it broke stay: they say nothing about the person and keep the report's counts whole.

Each file that changes is rewritten beside itself (private, synced) and renamed over the old
one, so a crash leaves the old file or the new one, never half of either; running it again is
harmless. Files staged by an ingest still running (``*.part``) are not touched: ingest refuses
rows of erased people when its file starts, and a repeated erasure forgets what it wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORGOTTEN = "erased"
"""The value of ``record_forgotten`` in a line whose record was removed at an erasure."""


def forget(quarantine_dir: Path, person_id: str) -> int:
    """Remove the record from every quarantine line naming ``person_id``; how many lines."""
    if not quarantine_dir.is_dir():
        return 0
    changed = 0
    for path in sorted(quarantine_dir.glob("*/*.jsonl")):
        changed += _rewrite(path, person_id)
    return changed


def _rewrite(path: Path, person_id: str) -> int:
    text = path.read_text(encoding="utf-8")
    if person_id not in text:
        return 0
    lines = text.splitlines()
    changed = 0
    for index, line in enumerate(lines):
        if person_id not in line:
            continue
        entry = json.loads(line)
        if person_id not in json.dumps(entry.get("record"), ensure_ascii=False):
            continue
        entry.pop("record", None)
        entry["record_forgotten"] = FORGOTTEN
        lines[index] = json.dumps(entry, ensure_ascii=False)
        changed += 1
    if changed:
        _replace(path, "\n".join(lines) + "\n")
    return changed


def _replace(path: Path, content: str) -> None:
    staging = path.with_name(path.name + ".forget")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    staging.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
