"""A small simulated world, ingested, for the monitoring intake and runner tests: who exists,
which monitoring consents they gave (raw ids and sources), and event builders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from creditgraph.settings import Settings


@dataclass
class MonitorWorld:
    settings: Settings
    people: list[str]
    grants: dict[str, list[tuple[str, datetime, datetime | None, datetime | None]]]
    """Raw person id -> (source, granted_at, expires_at, revoked_at) of monitoring consents."""

    def consented(self, at: datetime) -> list[tuple[str, str]]:
        """(person, source) pairs with a monitoring consent valid at ``at``."""
        out = []
        for person, rows in sorted(self.grants.items()):
            for source, granted, expires, revoked in rows:
                if (
                    granted <= at
                    and (expires is None or expires > at)
                    and (revoked is None or revoked > at)
                ):
                    out.append((person, source))
                    break
        return out


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def monitor_world(root: Path, people: int = 80, seed: int = 5) -> MonitorWorld:
    from creditgraph.ingest.service import ingest
    from creditgraph.simulate import SimulationConfig, simulate

    result = simulate(SimulationConfig(people=people, seed=seed), root / "world")
    settings = Settings(home=root / "home")
    ingest(sorted(result.files.values()), settings)
    persons = pq.read_table(result.files["persons"]).column("person_id").to_pylist()
    grants: dict[str, list[tuple[str, datetime, datetime | None, datetime | None]]] = {}
    for row in pq.read_table(result.files["consents"]).to_pylist():
        if row["purpose"] != "monitoring":
            continue
        granted = _aware(row["granted_at"])
        assert granted is not None
        grants.setdefault(row["person_id"], []).append(
            (row["source"], granted, _aware(row["expires_at"]), _aware(row["revoked_at"]))
        )
    return MonitorWorld(settings, sorted(persons), grants)


class Events:
    """Builds contract-v1 events with unique ids."""

    def __init__(self, prefix: str = "ev") -> None:
        self.prefix = prefix
        self.n = 0

    def __call__(self, type_: str, person: str, at: datetime, source: str, **fields: Any) -> dict:
        self.n += 1
        return {
            "event_id": f"{self.prefix}-{self.n}",
            "type": type_,
            "person_id": person,
            "occurred_at": at.astimezone(UTC).isoformat(),
            "source": source,
            "version": 1,
            **fields,
        }

    def activity(self, person: str, at: datetime, source: str, minutes: int = 30) -> dict:
        return self(
            "activity_day",
            person,
            at,
            source,
            date=(at - timedelta(days=1)).date().isoformat(),
            active_minutes=minutes,
            posts=1 if minutes else 0,
            logins=1 if minutes else 0,
        )
