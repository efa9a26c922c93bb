"""Neighbour-aggregated features: what a person's contacts look like, by sparse matrix products.

For a few key columns, each person gets four numbers per column:

- ``nbr1_mean_<col>``: the tie-strength-weighted mean over direct contacts (1 hop);
- ``nbr1_max_<col>``: the largest value among direct contacts;
- ``nbr2_mean_<col>``: the plain mean over the distinct people at distance exactly two, that is
  reached through a contact and neither the person nor a direct contact. Each such person counts
  once however many mutual contacts lead there: tie strengths are not multiplied along paths,
  because two ties in a row say little about how close a friend of a friend is, and counting paths
  would let one dense group drown everyone else;
- ``nbr2_max_<col>``: the largest value among them.

Missing values (null or NaN) are skipped in both the mean and the max; a person with no contact
(or no contact with a known value) gets null. Contacts outside the lender's book are nodes of
the graph without a feature row: they carry no value but still lead to 2-hop people.

**No person's own outcome can come back to them.** Only columns that describe the neighbours
themselves and are *not* derived from anyone's default outcome are aggregated (income, debt and
arrears on other platforms from bureau-like reports, activity, account age). Label-based features
(``default_exposure``, ``defaulted_contacts``, ``community_default_rate``...) are excluded on
purpose: a contact's out-of-fold exposure is computed from the labels of people outside the
contact's fold, and that includes the person themself, so averaging it back over the person's
contacts would return the person's own default to them. The person's own value never enters
their own aggregate either: self-loops are dropped and the 2-hop set excludes the person.
Aggregates are computed from one as-of build (its features and its edge list), so they obey the
same point-in-time rule as every other feature.

**Hub cap.** A 2-hop neighbourhood costs the sum over contacts of their degree, and a heavy tail
makes that explode (a merchant or an agent account with 20,000 ties puts 20,000 strangers in
the 2-hop set of each of its contacts). Paths are therefore not followed *through* a contact
with more than ``hub_cap`` ties (default 200: beyond the size of a personal circle). The hub
itself still counts as a direct contact and can be reached at distance two through someone
else. The 2-hop pattern is built in row blocks of bounded work, never as the whole ``A @ A``.

Both engines apply the same rules: ``neighbour_aggregates`` (scipy) and
``spark_neighbour_aggregates`` (Spark DataFrames) are tested to agree (tests/test_neighbours*).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from creditgraph.features.catalogue import (
    DEFAULT_HUB_CAP,
    NEIGHBOUR_COLUMNS,
    STATS,
    output_names,
)
from creditgraph.graph.csr import build_graph

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# 2-hop paths expanded per block: bounds the block's product to a few hundred MB
DEFAULT_BLOCK_WORK = 1 << 24


class NeighbourInputError(ValueError):
    """Inputs the aggregation cannot use; the message names the column or id at fault."""


# --- the pure core: a CSR adjacency and a value matrix in, arrays out -------------------------


def _canonical(adjacency: Any) -> Any:
    """Float64 CSR with sorted int32 indices (when they fit), no diagonal and no zeros."""
    a = sp.csr_array(adjacency, dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {a.shape}")
    if not a.has_canonical_format:
        a = a.copy()  # never reorder the caller's arrays in place
        a.sum_duplicates()
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    drop = (a.indices == rows) | (a.data == 0)
    if drop.any():
        a = sp.csr_array((a.data[~drop], (rows[~drop], a.indices[~drop])), shape=a.shape)
    if a.data.size and float(a.data.min()) < 0:
        raise ValueError("adjacency has negative weights")
    index = np.int32 if a.nnz < 2**31 and a.shape[0] < 2**31 else np.int64
    return sp.csr_array(
        (a.data, a.indices.astype(index), a.indptr.astype(index)), shape=a.shape, copy=False
    )


def _reduce_rows(
    indptr: npt.NDArray[Any],
    indices: npt.NDArray[Any],
    weights: FloatArray | None,
    columns: Sequence[FloatArray],
    gaps: Sequence[bool],
    mean: FloatArray,
    peak: FloatArray,
) -> None:
    """Per row of a CSR block: weighted mean and max of ``columns`` over its entries.

    ``mean`` and ``peak`` (rows x columns) are filled in place; rows without an entry holding a
    value stay NaN. Missing values are NaN in ``columns``; ``gaps[c]`` says whether column ``c``
    has any (a column without gaps skips the masking).
    """
    lengths = np.diff(indptr)
    rows = np.flatnonzero(lengths)
    if rows.size == 0:
        return
    starts = (indptr[:-1] - indptr[0])[rows]
    # np.take with native-width indices: the gathers are most of the cost
    entries = indices[indptr[0] : indptr[-1]].astype(np.intp, copy=False)
    w = weights[indptr[0] : indptr[-1]] if weights is not None else None
    full_weight = lengths[rows].astype(np.float64) if w is None else np.add.reduceat(w, starts)
    for c, values in enumerate(columns):
        got = np.take(values, entries)
        peak[rows, c] = np.fmax.reduceat(got, starts)  # NaN only when every value is missing
        weight = full_weight
        if gaps[c]:
            missing = np.isnan(got)
            np.copyto(got, 0.0, where=missing)
            if w is None:
                weight = full_weight - np.add.reduceat(missing, starts, dtype=np.float64)
            else:
                weight = np.add.reduceat(np.where(missing, 0.0, w), starts)
        total = np.add.reduceat(got if w is None else got * w, starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[rows, c] = np.where(weight > 0, total / weight, np.nan)


def _columns(values: FloatArray) -> tuple[list[FloatArray], list[bool]]:
    """Contiguous value columns (gathers stay fast) and whether each has a missing value."""
    columns = [np.ascontiguousarray(values[:, c], dtype=np.float64) for c in range(values.shape[1])]
    return columns, [bool(np.isnan(column).any()) for column in columns]


def _blocks(work: FloatArray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges whose summed work stays within ``budget`` (one row at least)."""
    n = work.size
    cumulative = np.cumsum(work + 1.0)
    start = 0
    while start < n:
        before = cumulative[start - 1] if start else 0.0
        end = int(np.searchsorted(cumulative, before + budget, side="right"))
        end = min(max(end, start + 1), n)
        yield start, end
        start = end


def one_hop(
    adjacency: Any, values: FloatArray, block_work: int = DEFAULT_BLOCK_WORK
) -> tuple[FloatArray, FloatArray]:
    """(weighted mean, max) of each value column over each node's direct neighbours."""
    a = _canonical(adjacency)
    n, k = a.shape[0], values.shape[1]
    mean = np.full((n, k), np.nan)
    peak = np.full((n, k), np.nan)
    columns, gaps = _columns(values)
    for start, end in _blocks(np.diff(a.indptr).astype(np.float64), block_work):
        _reduce_rows(
            a.indptr[start : end + 1],
            a.indices,
            a.data,
            columns,
            gaps,
            mean[start:end],
            peak[start:end],
        )
    return mean, peak


def two_hop_blocks(
    adjacency: Any, hub_cap: int | None = DEFAULT_HUB_CAP, block_work: int = DEFAULT_BLOCK_WORK
) -> Iterator[tuple[int, Any]]:
    """(first row, CSR pattern of the rows' distance-2 people) for blocks of consecutive rows.

    One sparse product per block: ``(B + c I) @ (P + c I)``, with ``P`` the tie pattern, ``B``
    the same without columns of hubs, and ``c`` larger than any path count. An entry stays below
    ``c`` exactly when it is reached by a path through a non-hub and is neither the row itself
    nor a direct neighbour, so one comparison keeps the distance-2 people.
    """
    a = _canonical(adjacency)
    n = a.shape[0]
    degree = np.diff(a.indptr)
    big = np.float32(2.0**32)  # above any path count, and exact in float32 with its square
    ones = np.ones(a.nnz, dtype=np.float32)
    pattern = sp.csr_array((ones, a.indices, a.indptr), shape=a.shape)
    eye = sp.eye_array(n, dtype=np.float32, format="csr") * big
    target = (pattern + eye).tocsr()
    through = np.ones(n, dtype=bool) if hub_cap is None else degree <= hub_cap
    via = pattern.copy()
    via.data = through[a.indices].astype(np.float32)
    via.eliminate_zeros()
    work = via @ np.where(through, degree, 0).astype(np.float64)
    for start, end in _blocks(np.asarray(work, dtype=np.float64), block_work):
        rows = end - start
        span = np.arange(start, end + 1, dtype=via.indices.dtype)
        diagonal = sp.csr_array((np.full(rows, big), span[:-1], span - start), shape=(rows, n))
        product = (via[start:end] + diagonal) @ target
        product.data[product.data >= big] = 0
        product.eliminate_zeros()
        yield start, product


def two_hop(
    adjacency: Any,
    values: FloatArray,
    hub_cap: int | None = DEFAULT_HUB_CAP,
    block_work: int = DEFAULT_BLOCK_WORK,
) -> tuple[FloatArray, FloatArray]:
    """(mean, max) of each value column over each node's distinct distance-2 people."""
    n, k = values.shape
    mean = np.full((n, k), np.nan)
    peak = np.full((n, k), np.nan)
    columns, gaps = _columns(values)
    for start, block in two_hop_blocks(adjacency, hub_cap, block_work):
        end = start + block.shape[0]
        _reduce_rows(
            block.indptr, block.indices, None, columns, gaps, mean[start:end], peak[start:end]
        )
    return mean, peak


def aggregate(
    adjacency: Any,
    values: FloatArray,
    hub_cap: int | None = DEFAULT_HUB_CAP,
    block_work: int = DEFAULT_BLOCK_WORK,
) -> dict[str, FloatArray]:
    """``{stat: (nodes x columns)}`` for every stat of ``STATS``; NaN means missing."""
    values = np.asarray(values, dtype=np.float64)
    values = np.where(np.isfinite(values), values, np.nan)
    if values.ndim != 2 or values.shape[0] != adjacency.shape[0]:
        raise ValueError(f"values must have shape ({adjacency.shape[0]}, k), got {values.shape}")
    mean1, max1 = one_hop(adjacency, values, block_work)
    mean2, max2 = two_hop(adjacency, values, hub_cap, block_work)
    return {"nbr1_mean": mean1, "nbr1_max": max1, "nbr2_mean": mean2, "nbr2_max": max2}


# --- Arrow in, Arrow out ------------------------------------------------------------------------


def _id_array(array: pa.Array | pa.ChunkedArray, what: str) -> pa.Array:
    """Ids as one int64 or large-string array (one type, so hash lookups match)."""
    kind = array.type
    if array.null_count:
        raise NeighbourInputError(f"{what} has {array.null_count} null id(s)")
    if pa.types.is_integer(kind):
        target = pa.int64()
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        target = pa.large_string()
    else:
        raise NeighbourInputError(f"{what} must be integers or strings, got {kind}")
    combined = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    return pc.cast(combined, target)


def _node_ids(node_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    ids = _id_array(node_ids, "node_ids")
    if pc.count_distinct(ids).as_py() != len(ids):
        raise NeighbourInputError("node_ids lists an id more than once")
    return ids


def _positions(ids: pa.Array, values: pa.Array | pa.ChunkedArray, what: str) -> IntArray:
    """Position of each value in ``ids`` by Arrow's hash lookup; -1 where it is not there."""
    looked_up = _id_array(values, what)
    if looked_up.type != ids.type:
        raise NeighbourInputError(f"{what} holds {looked_up.type} ids but node_ids {ids.type}")
    found = pc.index_in(looked_up, value_set=ids).fill_null(-1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _value_matrix(
    ids: pa.Array, features: pa.Table, columns: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Feature values by node position (NaN where missing or where the node has no row)."""
    for name in ("person_id", *columns):
        if name not in features.column_names:
            raise NeighbourInputError(f"features has no column {name!r}")
    if len(set(columns)) != len(columns):
        raise NeighbourInputError(f"columns are listed more than once: {list(columns)}")
    where = _positions(ids, features["person_id"], "features.person_id")
    unknown = np.flatnonzero(where < 0)
    if unknown.size:
        first = features["person_id"][int(unknown[0])].as_py()
        raise NeighbourInputError(f"{unknown.size} person_id(s) not in node_ids, first {first!r}")
    if np.unique(where).size != where.size:
        raise NeighbourInputError("features lists a person_id more than once")
    values = np.full((len(ids), len(columns)), np.nan)
    for c, name in enumerate(columns):
        column = features[name]
        kind = column.type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise NeighbourInputError(f"column {name!r} must be numeric, got {kind}")
        as_float = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        values[where, c] = np.where(np.isfinite(as_float), as_float, np.nan)
    return values


def _edge_arrays(
    ids: pa.Array, edges: pa.Table, weight: str | None
) -> tuple[IntArray, IntArray, FloatArray]:
    """Endpoint positions (-1 for an id outside ``ids``) and checked weights."""
    for name in ("a", "b", *([weight] if weight else [])):
        if name not in edges.column_names:
            raise NeighbourInputError(f"edges has no column {name!r}")
    a = _positions(ids, edges["a"], "edges.a")
    b = _positions(ids, edges["b"], "edges.b")
    if weight is None:
        return a, b, np.ones(a.size)
    column = edges[weight]
    if column.null_count:
        raise NeighbourInputError(f"edges.{weight} has {column.null_count} null weight(s)")
    w = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise NeighbourInputError(f"edges.{weight} must be finite and >= 0, got {w[bad[0]]}")
    return a, b, w


def _to_table(
    ids: pa.Array | pa.ChunkedArray, columns: Sequence[str], stats: dict[str, FloatArray]
) -> pa.Table:
    data: dict[str, Any] = {"person_id": ids}
    for c, col in enumerate(columns):
        for stat in STATS:
            data[f"{stat}_{col}"] = pa.array(stats[stat][:, c], type=pa.float64(), from_pandas=True)
    return pa.table(data)


def neighbour_aggregates(
    node_ids: pa.Array | pa.ChunkedArray,
    edges: pa.Table,
    features: pa.Table,
    columns: Sequence[str] = NEIGHBOUR_COLUMNS,
    *,
    weight: str | None = "strength",
    hub_cap: int | None = DEFAULT_HUB_CAP,
    block_work: int = DEFAULT_BLOCK_WORK,
) -> pa.Table:
    """One row per node id (in order): ``person_id`` and ``output_names(columns)``, float64.

    ``node_ids`` is the graph's node universe (people and outside contacts); ``edges`` the
    undirected as-of edge list (``a``, ``b`` and the ``weight`` column, ``strength`` in a
    feature build; ``None`` weighs every tie 1). Edge rules follow the feature graph: self-loops
    and edges to unknown ids are dropped, a pair listed twice keeps its strongest weight, zero
    weights carry nothing. ``features`` holds ``person_id`` and ``columns`` for some nodes.
    """
    ids = _node_ids(node_ids)
    values = _value_matrix(ids, features, columns)
    a, b, w = _edge_arrays(ids, edges, weight)
    nodes = np.arange(len(ids), dtype=np.int64)
    graph = build_graph(a, b, w, directed=False, nodes=nodes, duplicates="max")
    return _to_table(node_ids, columns, aggregate(graph.adjacency, values, hub_cap, block_work))


# --- the Spark engine ---------------------------------------------------------------------------


def spark_aggregate_frame(
    arcs: DataFrame, values: DataFrame, columns: Sequence[str], hub_cap: int | None
) -> DataFrame:
    """``(node, <stat>_<col>...)`` for every node of ``values`` (columns ``node`` + ``columns``).

    ``arcs`` holds both directions of every tie (``src``, ``dst``, ``weight``), as
    ``creditgraph.graph.spark.undirected_arcs`` gives them; missing values are nulls.
    """
    from pyspark.sql import functions as F

    nodes = values.select("node")
    at_dst = values.select(
        F.col("node").alias("dst"), *[F.col(c).alias(f"_v{i}") for i, c in enumerate(columns)]
    )
    one = (
        arcs.join(at_dst, "dst")
        .groupBy(F.col("src").alias("node"))
        .agg(*_spark_stats(columns, "nbr1", F.col("weight")))
    )
    degree = arcs.groupBy(F.col("src").alias("mid")).agg(F.count("*").alias("degree"))
    if hub_cap is not None:
        degree = degree.filter(F.col("degree") <= hub_cap)
    first = arcs.select(F.col("src").alias("i"), F.col("dst").alias("mid"))
    second = arcs.select(F.col("src").alias("mid"), F.col("dst").alias("k"))
    direct = arcs.select(F.col("src").alias("i"), F.col("dst").alias("k"))
    pairs = (
        first.join(degree.select("mid"), "mid")
        .join(second, "mid")
        .filter(F.col("i") != F.col("k"))
        .select("i", "k")
        .distinct()
        .join(direct, ["i", "k"], "left_anti")
    )
    at_k = at_dst.withColumnRenamed("dst", "k")
    two = (
        pairs.join(at_k, "k")
        .groupBy(F.col("i").alias("node"))
        .agg(*_spark_stats(columns, "nbr2", None))
    )
    out = nodes.join(one, "node", "left").join(two, "node", "left")
    return out.select("node", *output_names(columns))


def _spark_stats(columns: Sequence[str], hop: str, weight: Any) -> list[Any]:
    from pyspark.sql import functions as F

    stats = []
    for i, col in enumerate(columns):
        x = F.col(f"_v{i}")
        if weight is None:
            mean = F.avg(x)
        else:
            mean = F.sum(x * weight) / F.sum(F.when(x.isNotNull(), weight))
        stats += [mean.alias(f"{hop}_mean_{col}"), F.max(x).alias(f"{hop}_max_{col}")]
    return stats


def spark_neighbour_aggregates(
    spark: SparkSession,
    node_ids: pa.Array | pa.ChunkedArray,
    edges: pa.Table,
    features: pa.Table,
    columns: Sequence[str] = NEIGHBOUR_COLUMNS,
    *,
    weight: str | None = "strength",
    hub_cap: int | None = DEFAULT_HUB_CAP,
) -> pa.Table:
    """``neighbour_aggregates`` computed with Spark DataFrames: same inputs, same output."""
    from creditgraph.features.spark_engine import arrow_frame
    from creditgraph.graph import spark as sg

    ids = _node_ids(node_ids)
    values = _value_matrix(ids, features, columns)
    _, _, w = _edge_arrays(ids, edges, weight)  # checked here; Spark maps the ids itself
    n = len(ids)
    position = pa.array(np.arange(n, dtype=np.int64))
    index_frame = arrow_frame(spark, pa.table({"id": ids, "node": position}))
    a = _id_array(edges["a"], "edges.a")
    b = _id_array(edges["b"], "edges.b")
    edge_frame = arrow_frame(spark, pa.table({"a": a, "b": b, "weight": pa.array(w)}))
    value_table = pa.table(
        {"node": position}
        | {c: pa.array(values[:, i], from_pandas=True) for i, c in enumerate(columns)}
    )
    arcs = sg.undirected_arcs(edge_frame, index_frame, duplicates="max").localCheckpoint()
    frame = spark_aggregate_frame(arcs, arrow_frame(spark, value_table), columns, hub_cap)
    result = frame.toArrow().sort_by("node")
    stats = {
        stat: np.column_stack(
            [
                result[f"{stat}_{col}"].to_numpy(zero_copy_only=False).astype(np.float64)
                for col in columns
            ]
        )
        if columns
        else np.empty((n, 0))
        for stat in STATS
    }
    return _to_table(node_ids, columns, stats)


def spark_neighbour_engine(spark: SparkSession) -> Any:
    """``assemble``'s neighbour step on Spark (a ``build.NeighbourEngine``)."""

    def run(node_ids: pa.Array, edges: pa.Table, features: pa.Table) -> pa.Table:
        return spark_neighbour_aggregates(spark, node_ids, edges, features)

    return run
