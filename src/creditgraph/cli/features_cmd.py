"""``creditgraph features`` and ``graph build``: the credit graph and features as of a date."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from creditgraph.console.progress import RowProgress
from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
features_app = typer.Typer(
    help="Point-in-time features and the feature store.", no_args_is_help=True
)


def _as_of(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        err.print(f"error: --as-of {value!r} is not a date (YYYY-MM-DD)", markup=False)
        raise typer.Exit(2) from None


@features_app.command("build")
def features_build(
    as_of: str = typer.Option(..., "--as-of", help="Features use only data before this date."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (embedded) or spark."),
    online: bool = typer.Option(
        True, "--online/--no-online", help="Also refresh the online table."
    ),
    half_life: float = typer.Option(60.0, "--half-life-days", min=1.0, help="Interaction decay."),
) -> None:
    """Build every feature of every person as of a date; write the snapshot and online table."""
    from creditgraph.features.service import Engine, build_and_store

    if engine not in ("duckdb", "spark"):
        err.print(f"error: --engine must be duckdb or spark, not {engine!r}", markup=False)
        raise typer.Exit(2)
    day = _as_of(as_of)
    chosen: Engine = "spark" if engine == "spark" else "duckdb"
    import duckdb

    try:
        with console.status(f"building features as of {day} on {engine}…"):
            result = build_and_store(
                get_settings(), day, chosen, online=online, half_life_days=half_life
            )
    except duckdb.OutOfMemoryException as exc:
        err.print(
            f"error: the feature queries ran out of memory ({exc}); raise "
            "CREDITGRAPH_DUCKDB_MEMORY_LIMIT or free memory",
            markup=False,
        )
        raise typer.Exit(1) from None
    build = result.build
    console.print(
        f"{build.features.num_rows:,} people, {build.features.num_columns - 2} features, "
        f"{build.edges.num_rows:,} edges among {build.graph_nodes:,} nodes, in {result.seconds:.1f} s"
    )
    if result.snapshot:
        console.print(f"snapshot {result.snapshot.id}: {result.snapshot.path}")
    if online:
        console.print(f"online table: {result.online_rows:,} people")
    console.print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in build.timings.items()))


@features_app.command("get")
def features_get(
    person: str = typer.Argument(..., help="A person's id (the lender's own, or the pseudonym)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One person's latest features from the online table."""
    from creditgraph.cli.subject_cmd import log_cli_read
    from creditgraph.contracts.schema import Namespace
    from creditgraph.features.store import get_online, resolve_person
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    with migrated_engine(settings.database_url) as db:
        pseudo = Pseudonymiser(load_or_create_key(settings.key_file))
        person_id = resolve_person(db, person, lambda p: pseudo.one(Namespace.PERSON, p))
        started = time.perf_counter()
        record = get_online(db, person_id)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if record is not None:
            log_cli_read(db, person_id, ("features",), "credit_assessment")
    if record is None:
        err.print(
            f"error: no features for person {person!r}; run `creditgraph features build`",
            markup=False,
        )
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    table = Table(
        title=f"person {record['person_id']} as of {record['as_of']} ({elapsed_ms:.1f} ms)"
    )
    table.add_column("feature")
    table.add_column("value", justify="right")
    for name, value in record["features"].items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@features_app.command("training-set")
def features_training_set(
    out: Path = typer.Option(..., "--out", help="Parquet or CSV file to write."),
    granularity: str = typer.Option(
        "day", "--granularity", help="day (exact), week or month: as-of date of each application."
    ),
) -> None:
    """Historical applications with features as of each application date, and their outcomes."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from creditgraph.features.service import training_set
    from creditgraph.features.training import Granularity

    if granularity not in ("day", "week", "month"):
        err.print(f"error: --granularity must be day, week or month, not {granularity!r}")
        raise typer.Exit(2)
    chosen: Granularity = granularity  # type: ignore[assignment]
    with RowProgress(console) as progress:
        table = training_set(
            get_settings(),
            chosen,
            progress=lambda done, total: progress.update("as-of snapshots", done, total),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        pacsv.write_csv(table, out)
    else:
        pq.write_table(table, out)
    bad = pc_sum(table["label_defaulted"]) if table.num_rows else 0
    console.print(f"{table.num_rows:,} applications ({bad:,} defaulted) written to {out}")


def pc_sum(column: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(column.cast("int64")).as_py() or 0)


def graph_build(
    as_of: str = typer.Option(..., "--as-of", help="Ties that existed then, interactions before."),
    half_life: float = typer.Option(60.0, "--half-life-days", min=1.0, help="Interaction decay."),
) -> None:
    """Build the weighted credit graph as of a date and write its edge list to the home folder."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from creditgraph.features.inputs import database_tables, duckdb_inputs
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    day = _as_of(as_of)
    started = time.perf_counter()
    with migrated_engine(settings.database_url) as db:
        tables = database_tables(db)
    backend, inputs = duckdb_inputs(settings.lake_dir, tables)
    from creditgraph.features import relational as rel
    from creditgraph.features.asof import as_of_epoch

    t = as_of_epoch(day, settings.timezone)
    edges = backend.to_pyarrow(rel.weighted_edges(inputs, t, half_life))
    links = backend.to_pyarrow(rel.device_links(inputs, t))
    folder = settings.home_dir / "graph" / f"as_of={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(edges, folder / "edges.parquet")
    pq.write_table(links, folder / "device_links.parquet")
    endpoints = pa.concat_arrays([edges["a"].combine_chunks(), edges["b"].combine_chunks()])
    nodes = pc.count_distinct(endpoints)
    strength = edges["strength"]
    summary = Table(title=f"credit graph as of {day} ({time.perf_counter() - started:.1f} s)")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("nodes with an edge", f"{nodes.as_py():,}")
    summary.add_row("edges (undirected pairs)", f"{edges.num_rows:,}")
    if edges.num_rows:
        summary.add_row("declared ties", f"{pc.sum(edges['declared']).as_py():,}")
        summary.add_row("reciprocal", f"{pc.mean(edges['reciprocal'].cast('float64')).as_py():.1%}")
        q = pc.quantile(strength, q=[0.5, 0.9, 0.99]).to_pylist()
        summary.add_row("tie strength p50 / p90 / p99", " / ".join(f"{v:.2f}" for v in q))
    summary.add_row("person-device links", f"{links.num_rows:,}")
    console.print(summary)
    console.print(f"written to {folder}")


def register(app: typer.Typer) -> None:
    from creditgraph.cli.graph_cmd import graph_app

    graph_app.command("build")(graph_build)
    app.add_typer(features_app, name="features")
