"""Reading past applications and their outcomes (pure): checked ids, UTC instants, as-of dates.

The as-of rule is the feature store's: an application made at ``applied_at`` is scored with
features as of the local calendar date of ``applied_at`` in the business time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from creditgraph.backtest.errors import BacktestError

REQUIRED = ("person_id", "applied_at")
OPTIONAL = ("product", "amount", "term")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def parse_instant(value: object, zone: ZoneInfo) -> datetime | None:
    """A UTC instant from a timestamp, a date or ISO text; naive times are business-zone times."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def feature_date(instant: datetime, zone: ZoneInfo) -> date:
    """The as-of date of an application's features: the local calendar date it was made."""
    return instant.astimezone(zone).date()


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise BacktestError(f"{what}: missing column(s) {', '.join(missing)}")


def _instants(table: pa.Table, zone: ZoneInfo, what: str) -> list[datetime]:
    out = []
    for i, value in enumerate(table.column("applied_at").to_pylist()):
        instant = parse_instant(value, zone)
        if instant is None:
            rule = "required" if value is None or not str(value).strip() else "type"
            raise BacktestError(
                f"{what}: row {i + 1}: applied_at: {value!r} is not a date or time [{rule}]"
            )
        out.append(instant)
    return out


def _ids(table: pa.Table, what: str) -> list[str]:
    out = []
    for i, value in enumerate(table.column("person_id").to_pylist()):
        text = _text(value)
        if text is None:
            raise BacktestError(f"{what}: row {i + 1}: person_id: is required [required]")
        out.append(text)
    return out


@dataclass(frozen=True)
class Applications:
    """Checked applications in input order: the lender's ids, UTC instants, feature dates."""

    person_ids: list[str]
    applied_at: list[datetime]
    feature_dates: list[date]
    product: list[str | None]
    amount: list[str | None]
    term: list[str | None]

    def __len__(self) -> int:
        return len(self.person_ids)


def read_applications(table: pa.Table, timezone: str, what: str = "applications") -> Applications:
    """Applications from a table with person_id, applied_at and optionally product/amount/term."""
    _require(table, REQUIRED, what)
    zone = ZoneInfo(timezone)
    instants = _instants(table, zone, what)
    n = table.num_rows

    def optional(name: str) -> list[str | None]:
        if name not in table.column_names:
            return [None] * n
        return [_text(v) for v in table.column(name).to_pylist()]

    return Applications(
        _ids(table, what),
        instants,
        [feature_date(t, zone) for t in instants],
        optional("product"),
        optional("amount"),
        optional("term"),
    )


def _bad(value: object, row: int, what: str) -> int | None:
    text = _text(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("1", "true", "bad", "yes"):
        return 1
    if lowered in ("0", "false", "good", "no"):
        return 0
    raise BacktestError(f"{what}: row {row}: bad: {value!r} must be 0 or 1 [allowed]")


def match_labels(
    applications: Applications, labels: pa.Table, timezone: str, what: str = "labels"
) -> tuple[npt.NDArray[np.float64], int]:
    """Each application's outcome (1 bad, 0 good, NaN unknown) by person and applied_at, and
    how many label rows matched no application."""
    _require(labels, ("person_id", "applied_at", "bad"), what)
    zone = ZoneInfo(timezone)
    ids, instants = _ids(labels, what), _instants(labels, zone, what)
    outcome: dict[tuple[str, datetime], int] = {}
    for i, value in enumerate(labels.column("bad").to_pylist()):
        bad = _bad(value, i + 1, what)
        if bad is not None:
            outcome[(ids[i], instants[i])] = bad
    y = np.full(len(applications), np.nan)
    used: set[tuple[str, datetime]] = set()
    for i, key in enumerate(zip(applications.person_ids, applications.applied_at, strict=True)):
        found = outcome.get(key)
        if found is not None:
            y[i] = found
            used.add(key)
    return y, len(outcome) - len(used)
