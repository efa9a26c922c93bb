"""Point-in-time training sets: each application joined to its person's features as of its date.

Features are computed as of the application's calendar day (events strictly before it) or, to
build fewer snapshots, as of the start of its week or month: never later than the application,
so nothing after it can leak in. The label is the application's own outcome.

A person who registered after the start of the week or month they applied in is not in that
snapshot; their row is built again as of the application's own day (one build per distinct day
of such rows). A row that has no features even then (the person registered on the day they
applied, or was erased) is not silently lost: it is listed in ``TrainingSet.dropped`` with why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.features.build import FeatureBuild

Granularity = Literal["day", "week", "month"]

NOT_REGISTERED = "no_features_before_application_day"
REASONS = {
    NOT_REGISTERED: (
        "no features as of the application's own day: the person registered on that day or "
        "later, or was erased"
    ),
}
DROPPED_SCHEMA = pa.schema(
    [
        ("loan_id", pa.string()),
        ("applied_at", pa.timestamp("us")),
        ("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class TrainingSet:
    """The joined rows, and every application that could not be joined, with the reason."""

    table: pa.Table
    dropped: pa.Table  # DROPPED_SCHEMA: no person id (a report may show it)
    own_day_rows: int = 0  # rows built as of their own day because the snapshot missed them

    def dropped_by_reason(self) -> dict[str, int]:
        counts = pc.value_counts(self.dropped["reason"]).to_pylist() if self.dropped else []
        return {str(c["values"]): int(c["counts"]) for c in counts}


def snapshot_date(applied_local: date, granularity: Granularity) -> date:
    """The as-of date of an application's features for the given granularity."""
    if granularity == "day":
        return applied_local
    if granularity == "week":
        return applied_local - timedelta(days=applied_local.weekday())
    return applied_local.replace(day=1)


def local_days(outcomes: pa.Table, timezone: str) -> list[date]:
    """Each application's calendar day in the business time zone."""
    zone, utc = ZoneInfo(timezone), ZoneInfo("UTC")
    return [
        a.replace(tzinfo=utc).astimezone(zone).date() for a in outcomes["applied_at"].to_pylist()
    ]


def application_dates(outcomes: pa.Table, timezone: str, granularity: Granularity) -> list[date]:
    return [snapshot_date(d, granularity) for d in local_days(outcomes, timezone)]


def _join_by_date(
    apps: pa.Table,
    build_at: Callable[[date], FeatureBuild],
    tick: Callable[[], None],
) -> tuple[list[pa.Table], pa.Table]:
    """(joined parts, the application rows no build had a person for)."""
    parts, missing = [], []
    for day in sorted(set(apps["as_of"].to_pylist())):
        features = build_at(day).features.drop_columns(["as_of"])
        these = apps.filter(pc.equal(apps["as_of"], pa.scalar(day, pa.date32())))
        parts.append(these.join(features, "person_id", join_type="inner"))
        missing.append(
            these.join(features.select(["person_id"]), "person_id", join_type="left anti")
        )
        tick()
    return parts, pa.concat_tables(missing) if missing else apps.slice(0, 0)


def build_training_set(
    outcomes: pa.Table,
    timezone: str,
    granularity: Granularity,
    build_at: Callable[[date], FeatureBuild],
    progress: Callable[[int, int], None] | None = None,
) -> TrainingSet:
    """Join every application with features built by ``build_at`` for its as-of date."""
    days = local_days(outcomes, timezone)
    apps = outcomes.append_column(
        "as_of", pa.array([snapshot_date(d, granularity) for d in days], type=pa.date32())
    )
    apps = apps.append_column("_day", pa.array(days, type=pa.date32()))
    done, total = [0], [len(set(apps["as_of"].to_pylist()))]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total[0])

    parts, missing = _join_by_date(apps, build_at, tick)
    own_day = 0
    if missing.num_rows and granularity != "day":
        # the snapshot was taken before the person registered: try the application's own day
        retry = missing.set_column(
            missing.schema.get_field_index("as_of"), "as_of", missing["_day"]
        )
        total[0] += len(set(retry["as_of"].to_pylist()))
        more, missing = _join_by_date(retry, build_at, tick)
        own_day = sum(p.num_rows for p in more)
        parts += more
    dropped = pa.table(
        {
            "loan_id": pc.cast(missing["loan_id"], pa.string()),
            "applied_at": pc.cast(missing["applied_at"], pa.timestamp("us")),
            "reason": pa.array([NOT_REGISTERED] * missing.num_rows, pa.string()),
        },
        schema=DROPPED_SCHEMA,
    )
    if not any(p.num_rows for p in parts):
        return TrainingSet(apps.drop_columns(["_day"]).slice(0, 0), dropped, own_day)
    table = pa.concat_tables(parts, promote_options="default").drop_columns(["_day"])
    table = table.rename_columns(
        ["label_defaulted" if c == "defaulted" else c for c in table.column_names]
    ).sort_by([("applied_at", "ascending"), ("loan_id", "ascending")])
    return TrainingSet(table, dropped.sort_by([("applied_at", "ascending")]), own_day)


def assemble_training_set(
    outcomes: pa.Table,
    timezone: str,
    granularity: Granularity,
    build_at: Callable[[date], FeatureBuild],
    progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """The joined rows of ``build_training_set`` (callers that need the drops use that)."""
    return build_training_set(outcomes, timezone, granularity, build_at, progress).table
