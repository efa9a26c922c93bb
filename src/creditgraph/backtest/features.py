"""Everyone's features as of each application's own date, built once per distinct date.

Features "as of" a calendar date use only events strictly before midnight at the start of that
date in the business time zone, so every event on or after ``applied_at`` (and, conservatively,
earlier that same day) is left out. The database tables and the lake are loaded once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.features.build import assemble, relational_tables
from creditgraph.features.tie_weights import DEFAULT_HALF_LIFE_DAYS
from creditgraph.settings import Settings

Progress = Callable[[int, int, int], None]  # (dates done, dates, applications done)


class FeatureSource:
    """Loads the database tables and the lake once; builds everyone's features as of a date.

    ``at(day)`` gives exactly what ``features.service.compute_features(settings, day)`` gives
    (same functions, same engines), without reloading the inputs for every date.
    """

    def __init__(self, settings: Settings, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
        from creditgraph.features.inputs import database_tables, duckdb_inputs
        from creditgraph.store.db import migrated_engine

        with migrated_engine(settings.database_url) as db:
            self.tables = database_tables(db)
        self.backend, self.inputs = duckdb_inputs(
            settings.lake_dir, self.tables, memory_limit=settings.duckdb_memory_limit
        )
        self.timezone = settings.timezone
        self.half_life_days = half_life_days

    @property
    def persons(self) -> pa.Array:
        return self.tables["persons"]["person_id"].combine_chunks()

    def at(self, day: date) -> pa.Table:
        tables = relational_tables(
            self.backend, self.inputs, day, self.timezone, self.half_life_days
        )
        return assemble(tables, self.tables["outcomes"], day, self.timezone).features


def point_in_time_features(
    build_at: Callable[[date], pa.Table],
    persons: list[str],
    days: list[date],
    progress: Progress | None = None,
) -> pa.Table:
    """One row per application, in input order: its person's features as of its own date.

    ``features_as_of`` is null where the person had no features that day (unknown, or not yet
    registered). One build per distinct date.
    """
    rows = pa.table(
        {
            "_row": pa.array(np.arange(len(persons), dtype=np.int64)),
            "person_id": pa.array(persons, pa.string()),
            "_day": pa.array(days, pa.date32()),
        }
    )
    distinct = sorted(set(days))
    parts = []
    done = 0
    for i, day in enumerate(distinct):
        these = rows.filter(pc.equal(rows["_day"], pa.scalar(day, pa.date32())))
        built = build_at(day)
        built = built.filter(pc.is_in(built["person_id"], value_set=these["person_id"]))
        built = built.rename_columns(
            ["features_as_of" if c == "as_of" else c for c in built.column_names]
        )
        parts.append(these.drop_columns(["_day"]).join(built, "person_id", join_type="left outer"))
        done += these.num_rows
        if progress:
            progress(i + 1, len(distinct), done)
    if not parts:
        return rows.drop_columns(["_day"]).append_column(
            "features_as_of", pa.array([], pa.date32())
        )
    table = pa.concat_tables(parts, promote_options="default").sort_by("_row")
    return table.drop_columns(["_row"])
