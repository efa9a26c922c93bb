"""What the decision service knows of an applicant when it decides: features and consent.

Plain values, apart from ``lookup`` (which reads them) so the pure record builders and the scorer
can name them without reaching the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class ConsentState:
    valid: bool
    sources: int


@dataclass
class Applicant:
    """What the service read for one person (features row and consents)."""

    person_id: str
    features: dict[str, Any]
    as_of: date
    snapshot_id: str
    consent: ConsentState
