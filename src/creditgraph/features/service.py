"""Feature builds end to end: load the inputs on the chosen engine, compute, store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pyarrow as pa

from creditgraph.features.build import (
    FeatureBuild,
    GraphEngine,
    NeighbourEngine,
    assemble,
    relational_tables,
)
from creditgraph.features.graph_features import compute
from creditgraph.features.inputs import database_tables, duckdb_inputs
from creditgraph.features.neighbours import neighbour_aggregates
from creditgraph.features.store import SnapshotInfo, update_online, write_snapshot
from creditgraph.features.tie_weights import DEFAULT_HALF_LIFE_DAYS
from creditgraph.features.training import Granularity, assemble_training_set
from creditgraph.settings import Settings
from creditgraph.store.db import migrated_engine

Engine = Literal["duckdb", "spark"]


@dataclass
class BuildResult:
    build: FeatureBuild
    snapshot: SnapshotInfo | None
    online_rows: int
    seconds: float


def compute_features(
    settings: Settings,
    as_of: date,
    engine: Engine = "duckdb",
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    spark: Any = None,
) -> FeatureBuild:
    """Features as of ``as_of`` from the lake and database, without storing them."""
    with migrated_engine(settings.database_url) as db:
        started = time.perf_counter()
        tables = database_tables(db)
        load = time.perf_counter() - started
    started = time.perf_counter()
    graph_engine: GraphEngine = compute
    neighbour_engine: NeighbourEngine = neighbour_aggregates
    if engine == "duckdb":
        backend, inputs = duckdb_inputs(
            settings.lake_dir, tables, memory_limit=settings.duckdb_memory_limit
        )
    else:
        from creditgraph.features.neighbours import spark_neighbour_engine
        from creditgraph.features.spark_engine import (
            spark_graph_engine,
            spark_inputs,
            spark_session,
        )

        spark = spark or spark_session()
        backend, inputs = spark_inputs(settings.lake_dir, tables, spark)
        graph_engine = spark_graph_engine(spark)
        neighbour_engine = spark_neighbour_engine(spark)
    timings: dict[str, float] = {}
    relational = relational_tables(
        backend, inputs, as_of, settings.timezone, half_life_days, timings
    )
    rel_seconds = time.perf_counter() - started
    build = assemble(
        relational,
        tables["outcomes"],
        as_of,
        settings.timezone,
        graph_engine,
        neighbour_engine,
    )
    build.timings = {
        "load_database": load,
        "relational": rel_seconds,
        **timings,
        **build.timings,
    }
    return build


def build_and_store(
    settings: Settings,
    as_of: date,
    engine: Engine = "duckdb",
    *,
    online: bool = True,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> BuildResult:
    started = time.perf_counter()
    build = compute_features(settings, as_of, engine, half_life_days)
    with migrated_engine(settings.database_url) as db:
        t0 = time.perf_counter()
        snapshot = write_snapshot(settings.home_dir, db, build, engine)
        build.timings["snapshot"] = time.perf_counter() - t0
        rows = 0
        if online:
            t0 = time.perf_counter()
            rows = update_online(db, build.features, snapshot.id, as_of)
            build.timings["online_table"] = time.perf_counter() - t0
    return BuildResult(build, snapshot, rows, time.perf_counter() - started)


def training_set(
    settings: Settings,
    granularity: Granularity = "day",
    engine: Engine = "duckdb",
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    progress: Any = None,
) -> pa.Table:
    """Every historical application with its person's features as of its own date."""
    with migrated_engine(settings.database_url) as db:
        outcomes = database_tables(db)["outcomes"]
    return assemble_training_set(
        outcomes,
        settings.timezone,
        granularity,
        lambda day: compute_features(settings, day, engine, half_life_days),
        progress,
    )
