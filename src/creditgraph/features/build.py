"""Build every feature of every person as of a date: relational on an Ibis backend, graph on scipy.

This is the service behind ``creditgraph features build`` and ``graph build``; it loads, computes
and hands back Arrow tables. Writing snapshots and the online table is ``store.py``'s job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.features import relational as rel
from creditgraph.features.asof import as_of_epoch
from creditgraph.features.graph_features import GraphInputs, compute
from creditgraph.features.labels import Seeds, seeds_as_of
from creditgraph.features.neighbours import neighbour_aggregates

FEATURE_SET_VERSION = "1"
Step = Callable[[str], None]


class NeighbourEngine(Protocol):
    """Neighbour aggregates of (nodes, edges, features): embedded scipy or Spark."""

    def __call__(self, node_ids: pa.Array, edges: pa.Table, features: pa.Table) -> pa.Table: ...


class GraphEngine(Protocol):
    """Graph features of (graph inputs, seeds): the embedded ``compute`` or the Spark engine's."""

    def __call__(
        self, inputs: GraphInputs, seeds: Seeds, *, timings: dict[str, float] | None = None
    ) -> dict[str, Any]: ...


@dataclass
class FeatureBuild:
    as_of: date
    features: pa.Table  # one row per person registered before the as-of date
    edges: pa.Table  # the weighted as-of edge list
    timings: dict[str, float] = field(default_factory=dict)
    graph_nodes: int = 0


def _arrow(backend: Any, expr: Any) -> pa.Table:
    table: pa.Table = backend.to_pyarrow(expr)
    return table


def relational_tables(
    backend: Any,
    inputs: rel.Inputs,
    as_of: date,
    timezone: str,
    half_life: float,
    timings: dict[str, float] | None = None,
) -> dict[str, pa.Table]:
    """Every relational feature family and the edge list, materialised as Arrow."""
    t = as_of_epoch(as_of, timezone)
    exprs = {
        "base": rel.person_base(inputs, t, as_of.year),
        "activity": rel.activity_features(inputs, t),
        "daily": rel.daily_activity_features(inputs, as_of),
        "ties": rel.tie_features(inputs, t),
        "external": rel.external_loan_features(inputs, t),
        "devices": rel.device_features(inputs, t),
        "edges": rel.weighted_edges(inputs, t, half_life),
        "device_links": rel.device_links(inputs, t),
    }
    out: dict[str, pa.Table] = {}
    for name, expr in exprs.items():
        started = time.perf_counter()
        out[name] = _arrow(backend, expr)
        if timings is not None:
            timings[f"relational.{name}"] = time.perf_counter() - started
    return out


def assemble(
    tables: dict[str, pa.Table],
    outcomes: pa.Table,
    as_of: date,
    timezone: str,
    graph_engine: GraphEngine = compute,
    neighbour_engine: NeighbourEngine = neighbour_aggregates,
) -> FeatureBuild:
    """Join the families on person, add the graph features (by ``graph_engine``) and what the
    person's contacts look like (by ``neighbour_engine``)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    base = tables["base"].sort_by("person_id")
    hidden = [c for c in ("fold", "order_key") if c in base.column_names]
    folds = base.select(["person_id", *hidden]) if "fold" in hidden else None
    base = base.drop_columns(hidden)
    persons = base["person_id"].combine_chunks()
    edges = tables["edges"]
    edge_a, edge_b = edges["a"].combine_chunks(), edges["b"].combine_chunks()
    endpoints = pc.unique(pa.concat_arrays([edge_a, edge_b]))
    outsiders = pc.filter(endpoints, pc.invert(pc.is_in(endpoints, value_set=persons)))
    nodes = pa.concat_arrays([persons, outsiders.sort()])
    node_ids = nodes.to_numpy(zero_copy_only=False).astype(object)
    seeds = seeds_as_of(outcomes, nodes, as_of_epoch(as_of, timezone), folds)
    links = tables["device_links"]
    device_ids = links["device_id"].combine_chunks()
    graph = graph_engine(
        GraphInputs(
            node_ids=node_ids,
            edge_a=_positions(edge_a, nodes),
            edge_b=_positions(edge_b, nodes),
            strength=edges["strength"].to_numpy(zero_copy_only=False).astype(np.float64),
            device_person=_positions(links["person_id"].combine_chunks(), nodes),
            device_id=_positions(device_ids, pc.unique(device_ids).sort()),
        ),
        seeds,
        timings=timings,
    )
    timings["graph"] = time.perf_counter() - started
    started = time.perf_counter()
    n = len(persons)
    features = base
    for name in ("activity", "daily", "ties", "external", "devices"):
        features = features.join(tables[name], "person_id", join_type="left outer")
    features = features.sort_by("person_id")
    for name, values in graph.items():
        features = features.append_column(name, pa.array(values[:n]))
    features = _fill_counts(features)
    started_neighbours = time.perf_counter()
    around = neighbour_engine(nodes, edges, features).slice(0, n)
    if not around["person_id"].equals(features["person_id"]):
        raise RuntimeError("neighbour aggregates are not aligned with the people")
    for name in around.column_names[1:]:
        features = features.append_column(name, around[name])  # missing stays missing
    timings["neighbours"] = time.perf_counter() - started_neighbours
    features = features.append_column("as_of", pa.array([as_of] * n, type=pa.date32()))
    timings["assemble"] = time.perf_counter() - started
    return FeatureBuild(as_of, features, edges, timings, graph_nodes=len(node_ids))


def _positions(values: pa.Array, universe: pa.Array) -> npt.NDArray[np.int64]:
    """Each value's position in ``universe`` (-1 when absent), by Arrow's hash lookup."""
    found = pc.index_in(values, value_set=universe)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _fill_counts(table: pa.Table) -> pa.Table:
    """A person with no rows in a family has zero of it, not an unknown amount."""
    for i, column in enumerate(table.schema):
        numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        if numeric and column.name not in ("age_years", "social_age_days"):
            table = table.set_column(i, column.name, pc.fill_null(table[column.name], 0))
    return table
