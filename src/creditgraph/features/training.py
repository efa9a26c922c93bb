"""Point-in-time training sets: each application joined to its person's features as of its date.

Features are computed as of the application's calendar day (events strictly before it) or, to
build fewer snapshots, as of the start of its week or month: never later than the application,
so nothing after it can leak in. The label is the application's own outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.features.build import FeatureBuild

Granularity = Literal["day", "week", "month"]


def snapshot_date(applied_local: date, granularity: Granularity) -> date:
    """The as-of date of an application's features for the given granularity."""
    if granularity == "day":
        return applied_local
    if granularity == "week":
        return applied_local - timedelta(days=applied_local.weekday())
    return applied_local.replace(day=1)


def application_dates(outcomes: pa.Table, timezone: str, granularity: Granularity) -> list[date]:
    zone = ZoneInfo(timezone)
    days = []
    for applied in outcomes["applied_at"].to_pylist():
        local = applied.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()
        days.append(snapshot_date(local, granularity))
    return days


def assemble_training_set(
    outcomes: pa.Table,
    timezone: str,
    granularity: Granularity,
    build_at: Callable[[date], FeatureBuild],
    progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """Join every application with features built by ``build_at`` for its as-of date."""
    as_of = application_dates(outcomes, timezone, granularity)
    apps = outcomes.append_column("as_of", pa.array(as_of, type=pa.date32()))
    parts = []
    dates = sorted(set(as_of))
    for i, day in enumerate(dates):
        features = build_at(day).features.drop_columns(["as_of"])
        these = apps.filter(pc.equal(apps["as_of"], pa.scalar(day, pa.date32())))
        joined = these.join(features, "person_id", join_type="inner")
        parts.append(joined)
        if progress:
            progress(i + 1, len(dates))
    if not parts:
        return apps.slice(0, 0)
    table = pa.concat_tables(parts, promote_options="default")
    return table.rename_columns(
        ["label_defaulted" if c == "defaulted" else c for c in table.column_names]
    ).sort_by([("applied_at", "ascending"), ("loan_id", "ascending")])
