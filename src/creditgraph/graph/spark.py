"""Graph algorithms on Spark DataFrames, giving the numbers of the scipy versions.

Conventions. Nodes are long ids in a column ``node``. An undirected weighted graph is an *arc*
frame ``(src, dst, weight)`` holding every tie in both directions (:func:`undirected_arcs` builds
it with the rules of :func:`creditgraph.graph.csr.build_graph`). Functions take and return
DataFrames; rows exist only for nodes the result says something about (a node with no ties gets
no row, and reads as zero). Nothing is collected to the driver except the scalars an iteration
needs to decide when to stop.

Iterations. A power-iteration step is a join of the state with the arcs and an aggregation by
target. Spark plans are trees, so a step that read its state twice would double the plan with
every step; here each step reads the state once (a node's own old value travels on a self-arc),
and the restart mass of dangling nodes is a scalar the driver computes ahead. That lets many
steps run as one Spark job, with the L1 change observed at the block's end and blocks placed so
that every walk stops at exactly the step the scipy loop stops at.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from creditgraph.graph.pagerank import DEFAULT_TOL, ConvergenceError

SMALL_GRAPH_ARCS = (
    2_000_000  # below this, one partition: a shuffle per step costs more than it saves
)
MAX_BLOCK = 25  # power-iteration steps planned as one Spark job


def undirected_arcs(
    edges: DataFrame,
    index: DataFrame,
    *,
    a: str = "a",
    b: str = "b",
    weight: str | None = "weight",
    duplicates: str = "max",
) -> DataFrame:
    """Both directions of every tie, as ``build_graph(directed=False, nodes=...)`` keeps them.

    ``index`` maps external ids to nodes (columns ``id``, ``node``). Edges touching an id outside
    it and self-loops are dropped; duplicate ties (either direction) merge by ``max`` or ``sum``;
    ties whose merged weight is zero are dropped. ``weight=None`` gives every tie weight 1.
    """
    if duplicates not in ("max", "sum"):
        raise ValueError(f"duplicates must be 'max' or 'sum', got {duplicates!r}")
    left = index.select(F.col("id").alias("_a"), F.col("node").alias("u"))
    right = index.select(F.col("id").alias("_b"), F.col("node").alias("v"))
    w = F.col(weight).cast("double") if weight else F.lit(1.0)
    raw = edges.select(F.col(a).alias("_a"), F.col(b).alias("_b"), w.alias("w"))
    known = raw.join(left, "_a").join(right, "_b").filter(F.col("u") != F.col("v"))
    pairs = known.select(
        F.least("u", "v").alias("lo"), F.greatest("u", "v").alias("hi"), F.col("w")
    )
    merge = F.max if duplicates == "max" else F.sum
    ties = pairs.groupBy("lo", "hi").agg(merge("w").alias("weight")).filter(F.col("weight") != 0)
    forward = ties.select(F.col("lo").alias("src"), F.col("hi").alias("dst"), "weight")
    backward = ties.select(F.col("hi").alias("src"), F.col("lo").alias("dst"), "weight")
    return forward.unionByName(backward)


def degree_strength(arcs: DataFrame) -> DataFrame:
    """``(node, degree, strength, strength_mean, strength_max)`` of every node with a tie."""
    return arcs.groupBy(F.col("src").alias("node")).agg(
        F.count("*").alias("degree"),
        F.sum("weight").alias("strength"),
        F.avg("weight").alias("strength_mean"),
        F.max("weight").alias("strength_max"),
    )


def quantile(frame: DataFrame, column: str, q: float, rows: int | None = None) -> float:
    """``numpy.quantile(values, q)`` (method ``linear``) of a column, exactly, NaN when empty.

    Spark's interpolating ``percentile`` rounds differently from numpy, and a threshold one ulp
    off changes which ties count as strong; so the two order statistics come from Spark and the
    interpolation is numpy's own arithmetic. ``rows``: the row count, when already known.
    """
    n = frame.count() if rows is None else rows
    if n == 0:
        return math.nan
    virtual = np.float64(n - 1) * np.float64(q)
    lo = int(np.floor(virtual))
    hi = min(lo + 1, n - 1)
    if virtual >= n - 1:
        lo = hi = n - 1

    def rank(k: int) -> Column:  # the k-th smallest (0-based): the first whose CDF >= (k+½)/n
        return F.expr(f"percentile_disc({(k + 0.5) / n!r}) WITHIN GROUP (ORDER BY `{column}`)")

    row = frame.agg(rank(lo).alias("a"), rank(hi).alias("b")).first()
    assert row is not None
    a, b = np.float64(row["a"]), np.float64(row["b"])
    gamma = virtual - np.floor(virtual) if lo != hi else np.float64(0.0)
    diff = b - a
    value = b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma
    return float(value)


def strong_ties(arcs: DataFrame, threshold: float) -> DataFrame:
    """``(node, strong_ties)``: ties at least as strong as ``threshold``."""
    return arcs.groupBy(F.col("src").alias("node")).agg(
        F.sum((F.col("weight") >= F.lit(threshold)).cast("long")).alias("strong_ties")
    )


def _pattern(arcs: DataFrame) -> DataFrame:
    return arcs.select("src", "dst").distinct()


def triangles(arcs: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Triangles through each node and through each tie, each triangle found once.

    Every tie is oriented from the endpoint of lower (degree, id) to the higher one; a triangle is
    then a pair of ties leaving its lowest vertex closed by a third tie, so high-degree hubs never
    pair up their own neighbours. Returns ``(node, triangles)`` and, for every arc,
    ``(src, dst, common)``: the common neighbours of the two endpoints, which is the number of
    triangles on that tie.
    """
    pattern = _pattern(arcs)
    degree = pattern.groupBy(F.col("src").alias("node")).agg(F.count("*").alias("d"))
    ranked = pattern.join(
        degree.withColumnRenamed("node", "src").withColumnRenamed("d", "ds"), "src"
    )
    ranked = ranked.join(
        degree.withColumnRenamed("node", "dst").withColumnRenamed("d", "dd"), "dst"
    )
    up = ranked.filter(
        (F.col("ds") < F.col("dd")) | ((F.col("ds") == F.col("dd")) & (F.col("src") < F.col("dst")))
    ).select(F.col("src").alias("u"), F.col("dst").alias("v"), F.col("dd").alias("dv"))
    first = up.select("u", F.col("v").alias("x"), F.col("dv").alias("dx"))
    second = up.select("u", F.col("v").alias("y"), F.col("dv").alias("dy"))
    wedges = first.join(second, "u").filter(
        (F.col("dx") < F.col("dy")) | ((F.col("dx") == F.col("dy")) & (F.col("x") < F.col("y")))
    )
    closing = up.select(F.col("u").alias("x"), F.col("v").alias("y"))
    found = wedges.join(closing, ["x", "y"]).select("u", "x", "y")
    per_node = (
        found.select(F.explode(F.array("u", "x", "y")).alias("node"))
        .groupBy("node")
        .agg(F.count("*").alias("triangles"))
    )
    sides = found.select(
        F.explode(
            F.array(
                F.struct(F.least("u", "x").alias("lo"), F.greatest("u", "x").alias("hi")),
                F.struct(F.least("u", "y").alias("lo"), F.greatest("u", "y").alias("hi")),
                F.struct(F.least("x", "y").alias("lo"), F.greatest("x", "y").alias("hi")),
            )
        ).alias("tie")
    ).select("tie.lo", "tie.hi")
    per_tie = sides.groupBy("lo", "hi").agg(F.count("*").alias("common"))
    per_arc = (
        pattern.withColumn("lo", F.least("src", "dst"))
        .withColumn("hi", F.greatest("src", "dst"))
        .join(per_tie, ["lo", "hi"], "left")
        .select("src", "dst", F.coalesce(F.col("common"), F.lit(0)).cast("long").alias("common"))
    )
    return per_node, per_arc


def clustering(arcs: DataFrame, per_node_triangles: DataFrame) -> DataFrame:
    """``(node, clustering)``: ``2 t / (d (d - 1))``, 0 below degree 2, as networkx defines it."""
    degree = _pattern(arcs).groupBy(F.col("src").alias("node")).agg(F.count("*").alias("d"))
    joined = degree.join(per_node_triangles, "node", "left")
    t = F.coalesce(F.col("triangles"), F.lit(0)).cast("double")
    pairs = (F.col("d") * (F.col("d") - 1)).cast("double")
    return joined.select(
        "node",
        F.when(pairs > 0, (F.lit(2.0) * t) / pairs).otherwise(F.lit(0.0)).alias("clustering"),
    )


def mutual_friends(per_arc_common: DataFrame) -> DataFrame:
    """``(node, mutual_friends_mean, mutual_friends_median)`` over a node's ties."""
    common = F.col("common").cast("double")
    return per_arc_common.groupBy(F.col("src").alias("node")).agg(
        F.avg(common).alias("mutual_friends_mean"),
        F.percentile(common, F.lit(0.5)).alias("mutual_friends_median"),
    )


def two_hop_reach(arcs: DataFrame) -> DataFrame:
    """``(node, reach_2hop)``: distinct nodes within two hops, the node itself excluded.

    Each node's closed neighbourhood becomes Spark bitmaps (32,768 ids a bucket); a node's
    two-hop set is the OR of its neighbours' bitmaps. That counts distinct nodes without ever
    materialising the Σ degree² two-hop paths.
    """
    pattern = _pattern(arcs)
    itself = pattern.select(F.col("src").alias("x"), F.col("src").alias("v")).distinct()
    closed = pattern.select(F.col("src").alias("x"), F.col("dst").alias("v")).unionByName(itself)
    bitmaps = closed.groupBy("x", F.expr("bitmap_bucket_number(v + 1)").alias("bucket")).agg(
        F.expr("bitmap_construct_agg(bitmap_bit_position(v + 1))").alias("bits")
    )
    reached = (
        pattern.select(F.col("src").alias("u"), F.col("dst").alias("x"))
        .join(bitmaps, "x")
        .groupBy("u", "bucket")
        .agg(F.expr("bitmap_or_agg(bits)").alias("bits"))
    )
    # every neighbour's closed neighbourhood holds the node itself: count it out
    return reached.groupBy(F.col("u").alias("node")).agg(
        (F.sum(F.expr("bitmap_count(bits)")) - 1).alias("reach_2hop")
    )


def fold_pick(values: Sequence[Column], fold: Column) -> Column:
    """The value of the node's own fold from per-fold columns (``Seeds.pick``)."""
    return F.element_at(F.array(*values), fold.cast("int") + 1)


def out_of_fold_sums(
    arcs: DataFrame, labels: DataFrame, label: str, folds: int, *, two_hop: bool = False
) -> DataFrame:
    """Neighbours' labels seen out of fold: a node in fold ``k`` counts only labels outside ``k``.

    ``labels``: ``(node, fold, <label>)`` with a 0/1 label for every node. Returns ``(node,
    count, weighted)``: labelled neighbours and the weight of ties to them; with ``two_hop``
    also ``weighted_2hop`` (the same one step further, ``W·W·label``) and ``strength_2hop``
    (``W·strength``).
    """
    lab = labels.select(
        F.col("node").alias("dst"), F.col("fold").alias("lf"), F.col(label).alias("lv")
    )
    src_fold = labels.select(F.col("node").alias("src"), F.col("fold").alias("sf"))
    seen = (F.col("lv") > 0) & (F.col("lf") != F.col("sf"))
    one = (
        arcs.join(lab, "dst")
        .join(src_fold, "src")
        .groupBy(F.col("src").alias("node"))
        .agg(
            F.sum(seen.cast("long")).alias("count"),
            F.sum(F.when(seen, F.col("weight")).otherwise(F.lit(0.0))).alias("weighted"),
        )
    )
    if not two_hop:
        return one
    hits = (F.col("lv") > 0).cast("double") * F.col("weight")
    per_fold = (
        arcs.join(lab, "dst")
        .groupBy(F.col("src").alias("dst"))
        .agg(
            F.sum("weight").alias("strength"),
            *[F.sum(hits * (F.col("lf") != k).cast("double")).alias(f"f{k}") for k in range(folds)],
        )
    )
    further = arcs.join(per_fold, "dst").join(src_fold, "src")
    two = further.groupBy(F.col("src").alias("node")).agg(
        F.sum(
            F.col("weight") * fold_pick([F.col(f"f{k}") for k in range(folds)], F.col("sf"))
        ).alias("weighted_2hop"),
        F.sum(F.col("weight") * F.col("strength")).alias("strength_2hop"),
    )
    return one.join(two, "node", "full")


def shared_device_arcs(links: DataFrame) -> DataFrame:
    """``(src, dst, weight=1)``: distinct pairs of nodes seen on a common device."""
    a = links.select(F.col("node").alias("src"), "device")
    b = links.select(F.col("node").alias("dst"), "device")
    return (
        a.join(b, "device")
        .filter(F.col("src") != F.col("dst"))
        .select("src", "dst")
        .distinct()
        .withColumn("weight", F.lit(1.0))
    )


def community_stats(arcs: DataFrame, labels: DataFrame, folds: int) -> DataFrame:
    """Size, communities among neighbours and out-of-fold default rate of each node's community.

    ``labels``: ``(node, community, fold, bad, known)`` for every node (communities come from the
    driver). The rate for a node in fold ``k`` counts only members outside ``k``; 0 when none of
    them has a known outcome.
    """
    size = labels.groupBy("community").agg(F.count("*").alias("community_size"))
    rates = labels.groupBy("community").agg(
        *[
            F.sum(F.col("bad") * (F.col("fold") != k).cast("long")).alias(f"b{k}")
            for k in range(folds)
        ],
        *[
            F.sum(F.col("known") * (F.col("fold") != k).cast("long")).alias(f"n{k}")
            for k in range(folds)
        ],
    )
    rate = [
        F.when(F.col(f"n{k}") > 0, F.col(f"b{k}").cast("double") / F.col(f"n{k}")).otherwise(
            F.lit(0.0)
        )
        for k in range(folds)
    ]
    reached = (
        arcs.join(labels.select(F.col("node").alias("dst"), "community"), "dst")
        .groupBy(F.col("src").alias("node"))
        .agg(F.countDistinct("community").alias("communities_reached"))
    )
    return (
        labels.join(size, "community")
        .join(rates, "community")
        .join(reached, "node", "left")
        .select(
            "node",
            "community",
            "community_size",
            F.coalesce(F.col("communities_reached"), F.lit(0)).alias("communities_reached"),
            fold_pick(rate, F.col("fold")).alias("community_default_rate"),
        )
    )


# ---------------------------------------------------------------------------------------------
# PageRank


@dataclass(frozen=True)
class PageRankRun:
    """Scores ``(node, <column>...)``, each column summing to 1, and the steps each batch took."""

    scores: DataFrame
    iterations: dict[str, int]


@dataclass
class _Batch:
    name: str
    columns: list[int]
    points: list[tuple[int, float]] = field(default_factory=list)  # (step, L1 change) seen
    converged_by: int | None = None  # a step known to be converged, the first one not yet known
    iterations: int = 0


@dataclass(frozen=True)
class _Block:
    state: DataFrame  # (node, col, x, p, w0.., d0..): x at the end, w_i/d_i at the window's steps
    first: int  # the step of w0/d0
    changes: list[dict[int, float]]  # per window step: L1 change per column
    sums: list[dict[int, float]]  # per window step: mass per column


@contextmanager
def _conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    before: dict[str, str | None] = {key: spark.conf.get(key) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _double(value: float) -> str:
    """A double literal that round-trips exactly (Java parses Python's repr)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def pagerank_batches(
    arcs: DataFrame,
    nodes: DataFrame,
    batches: Mapping[str, DataFrame],
    *,
    alpha: float = 0.85,
    tol: float | None = None,
    max_iter: int = 1000,
    partitions: int | None = None,
) -> PageRankRun:
    """Personalised PageRank, several seed sets per batch and several batches in one loop.

    Each batch ``name -> (node, col, ...)`` (non-negative seed weights, absent = 0) is one call of
    :func:`creditgraph.graph.pagerank.pagerank` with an ``(n, k)`` personalisation: each column
    normalised to 1, dangling mass sent along the personalisation (networkx semantics), start at
    the personalisation, stop at the first step whose largest L1 change over the batch's columns
    is below ``tol``; so the steps and the scores match it. Plain PageRank is a batch with weight
    1 on every node. Dangling nodes (no out-weight) must have no in-arcs, which holds for every
    undirected graph; ``arcs`` weights must be non-negative. Graphs under
    ``SMALL_GRAPH_ARCS`` arcs run in one partition with the arcs broadcast (``partitions=None``).
    """
    spark = arcs.sparkSession
    tol = DEFAULT_TOL[np.dtype(np.float64)] if tol is None else float(tol)
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    names = [c for frame in batches.values() for c in frame.columns if c != "node"]
    if len(set(names)) != len(names):
        raise ValueError("personalisation columns must be unique across batches")
    if not names:
        return PageRankRun(nodes.select("node"), {})
    ids = {name: i for i, name in enumerate(names)}

    positive = arcs.filter(F.col("weight") > 0)
    out = positive.groupBy("src").agg(F.sum("weight").alias("out"))
    fed = out.select(F.col("src").alias("dst"), F.lit(False).alias("fed_dangling"))
    moves = (
        positive.join(out, "src")
        .join(fed, "dst", "left")
        .select(
            "src",
            "dst",
            (F.col("weight") * (F.lit(1.0) / F.col("out"))).alias("w"),
            F.lit(0.0).alias("own"),
            F.col("fed_dangling").isNull().alias("fed_dangling"),
        )
    )
    # every node keeps its own row alive and carries its old value and restart weight on a self-arc
    selves = nodes.select(
        F.col("node").alias("src"),
        F.col("node").alias("dst"),
        F.lit(0.0).alias("w"),
        F.lit(1.0).alias("own"),
        F.lit(False).alias("fed_dangling"),
    )
    counted = Observation(f"arcs_{uuid.uuid4().hex}")
    pe = (
        moves.unionByName(selves)
        .observe(
            counted,
            F.count("*").alias("rows"),
            F.sum(F.col("fed_dangling").cast("long")).alias("fed"),
        )
        .drop("fed_dangling")
        .localCheckpoint()
    )
    if counted.get["fed"]:
        raise ValueError(
            "a dangling node has in-arcs; only graphs without such nodes are supported"
        )
    if partitions is None and int(counted.get["rows"]) < SMALL_GRAPH_ARCS:
        partitions = 1

    dangling = nodes.join(out.withColumnRenamed("src", "node"), "node", "left_anti")
    long = [
        frame.select(
            "node", F.lit(ids[c]).alias("col"), F.col(f"`{c}`").cast("double").alias("v")
        ).filter(F.col("v") != 0)
        for frame in batches.values()
        for c in frame.columns
        if c != "node"
    ]
    weights = long[0]
    for frame in long[1:]:
        weights = weights.unionByName(frame)
    weights = (
        weights.join(nodes.select("node"), "node").groupBy("node", "col").agg(F.sum("v").alias("v"))
    )
    is_dangling = F.col("dangling").isNotNull()
    flagged = weights.join(dangling.withColumn("dangling", F.lit(1)), "node", "left")
    stats = {
        row["col"]: row
        for row in flagged.groupBy("col")
        .agg(
            F.sum("v").alias("total"),
            F.min("v").alias("least"),
            F.sum(F.when(is_dangling, F.col("v")).otherwise(F.lit(0.0))).alias("dangling"),
        )
        .collect()
    }
    totals: dict[int, float] = {}
    share: dict[int, float] = {}
    for name, i in ids.items():
        row = stats.get(i)
        if row is None or not row["total"] > 0 or row["least"] < 0:
            raise ValueError(f"personalisation {name!r} must be non-negative with positive mass")
        totals[i] = float(row["total"])
        share[i] = float(row["dangling"]) / totals[i]
    p = weights.select("node", "col", (F.col("v") / _by_column(totals)).alias("p"))
    start = p.select("node", "col", F.col("p").alias("x"), "p")
    if partitions == 1:
        # one partition stays one partition through every step (the arcs are broadcast): no
        # shuffle at all; splitting the state by seed set across cores measured slower
        start = start.coalesce(1)
    loop = _Loop(
        spark, pe.hint("broadcast") if partitions == 1 else pe, alpha, tol, max_iter, share
    )
    plan = [
        _Batch(name, [ids[c] for c in frame.columns if c != "node"])
        for name, frame in batches.items()
    ]
    settings = {} if partitions is None else {"spark.sql.shuffle.partitions": str(partitions)}
    with _conf(spark, settings):
        finished = loop.run(start, plan)
    by_column = finished[0]
    for frame in finished[1:]:
        by_column = by_column.unionByName(frame)
    wide = by_column.groupBy("node").pivot("col", list(ids.values())).agg(F.first("x"))
    scores = (
        nodes.select("node")
        .join(wide, "node", "left")
        .select(
            "node",
            *[F.coalesce(F.col(f"`{i}`"), F.lit(0.0)).alias(name) for name, i in ids.items()],
        )
    )
    return PageRankRun(scores, {b.name: b.iterations for b in plan})


def _by_column(values: Mapping[int, float]) -> Column:
    """A per-column constant: ``CASE col WHEN i THEN values[i] ... END``."""
    expr = F.when(F.lit(False), F.lit(0.0))
    for i, value in values.items():
        expr = expr.when(F.col("col") == i, F.lit(float(value)))
    return expr.otherwise(F.lit(None).cast("double"))


WINDOW = 5  # steps at the end of each block whose L1 change is observed


class _Loop:
    """The power iteration of :func:`pagerank_batches`, planned in blocks of steps.

    Each block is one query; its last ``WINDOW`` steps keep their state and L1 change, so a
    batch that converges inside the window is read off exactly. Blocks are placed by the
    observed rate of decay so that convergence falls inside a window; when it falls before one,
    the block is discarded and the interval bisected. The L1 change never grows from one step to
    the next (the iteration contracts by ``α`` in L1 on mass-preserving differences), which is
    what makes reading it only at some steps exact.
    """

    def __init__(
        self,
        spark: SparkSession,
        pe: DataFrame,
        alpha: float,
        tol: float,
        max_iter: int,
        share: Mapping[int, float],
    ) -> None:
        self.spark = spark
        self.pe = pe
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.share = dict(share)
        self.coef: dict[int, list[float]] = {c: [] for c in self.share}

    def coefficient(self, column: int, step: int) -> float:
        """``1 - α + α·(dangling mass)`` of ``step`` (1-based), as the scipy loop computes it.

        A dangling node without in-arcs holds only restart mass, so the dangling mass before step
        ``k`` is the previous coefficient times the seeds' dangling share: known in advance.
        """
        series = self.coef[column]
        a = np.float64(self.alpha)
        share = np.float64(self.share[column])
        while len(series) < step:
            previous = np.float64(1.0) if not series else np.float64(series[-1])
            series.append(float((1 - a) + a * (previous * share)))
        return series[step - 1]

    def run(self, state: DataFrame, batches: list[_Batch]) -> list[DataFrame]:
        finished: list[DataFrame] = []
        active = list(batches)
        k = 0
        while active:
            end = min(self.max_iter, min(self._plan(b, k) for b in active))
            block = self._block(state, [c for b in active for c in b.columns], k, end)
            early = [
                b for b in active if self._change(b, block, 0) < self.tol and block.first > k + 1
            ]
            if early:  # converged before the window: discard the block, bisect
                for b in early:
                    b.converged_by = block.first
                continue
            for b in list(active):
                changes = [self._change(b, block, i) for i in range(len(block.changes))]
                hit = next((i for i, r in enumerate(changes) if r < self.tol), None)
                if hit is None:
                    b.points = [(block.first + i, r) for i, r in enumerate(changes)]
                    continue
                b.iterations = block.first + hit
                sums = block.sums[hit]
                mass = _by_column({c: sums[c] for c in b.columns})
                finished.append(
                    block.state.filter(F.col("col").isin(b.columns)).select(
                        "node", "col", (F.col(f"w{hit}") / mass).alias("x")
                    )
                )
                active.remove(b)
            k = end
            live = [c for b in active for c in b.columns]
            state = block.state.filter(F.col("col").isin(live)).select("node", "col", "x", "p")
            if active and k >= self.max_iter:
                worst = max(b.points[-1][1] for b in active)
                raise ConvergenceError(k, worst, self.tol, np.dtype(np.float64))
        return finished

    @staticmethod
    def _change(batch: _Batch, block: _Block, i: int) -> float:
        return max(block.changes[i][c] for c in batch.columns)

    def _plan(self, batch: _Batch, k: int) -> int:
        """The next block end for one batch: bisect a known convergence, else extrapolate."""
        if batch.converged_by is not None:
            if batch.converged_by - k <= WINDOW:
                return batch.converged_by
            return k + (batch.converged_by - k) // 2
        if len(batch.points) < 2:
            return k + WINDOW
        (k1, r1), (k2, r2) = batch.points[0], batch.points[-1]
        if not 0 < r2 < r1:
            return k + WINDOW
        rate = min((r2 / r1) ** (1.0 / (k2 - k1)), self.alpha)
        ahead = math.ceil(math.log(self.tol / r2) / math.log(rate))  # first step predicted below
        return k + max(1, min(MAX_BLOCK, ahead + 1))

    def _block(self, state: DataFrame, columns: list[int], k: int, end: int) -> _Block:
        """Steps ``k+1..end`` as one query, the last ``WINDOW`` of them kept and measured."""
        first = max(k + 1, end - WINDOW + 1)
        kept: list[str] = []
        ctes = []
        previous = "{s0}"
        for step in range(k + 1, end + 1):
            coef = _by_column_sql({c: self.coefficient(c, step) for c in columns})
            x = f"{_double(self.alpha)} * SUM(e.w * s.x) + {coef} * SUM(e.own * s.p)"
            outputs = [f"{x} AS x", "SUM(e.own * s.p) AS p"]
            outputs += [f"SUM(e.own * s.{name}) AS {name}" for name in kept]
            if step >= first:
                i = step - first
                outputs += [f"{x} AS w{i}", f"ABS({x} - SUM(e.own * s.x)) AS d{i}"]
                kept += [f"w{i}", f"d{i}"]
            ctes.append(
                f"s{step} AS (SELECT e.dst AS node, s.col, {', '.join(outputs)} "
                f"FROM {{pe}} e JOIN {previous} s ON e.src = s.node GROUP BY e.dst, s.col)"
            )
            previous = f"s{step}"
        query = f"WITH {', '.join(ctes)} SELECT * FROM s{end}"
        done = self.spark.sql(query, pe=self.pe, s0=state).localCheckpoint()
        width = end - first + 1
        rows = (
            done.groupBy("col")
            .agg(
                *[F.sum(f"d{i}").alias(f"d{i}") for i in range(width)],
                *[F.sum(f"w{i}").alias(f"w{i}") for i in range(width)],
            )
            .collect()
        )
        changes = [{c: 0.0 for c in columns} for _ in range(width)]
        sums = [{c: 0.0 for c in columns} for _ in range(width)]
        for row in rows:
            for i in range(width):
                changes[i][row["col"]] = float(row[f"d{i}"])
                sums[i][row["col"]] = float(row[f"w{i}"])
        return _Block(done, first, changes, sums)


def _by_column_sql(values: Mapping[int, float]) -> str:
    if len(set(values.values())) == 1:
        return _double(next(iter(values.values())))
    cases = " ".join(f"WHEN {c} THEN {_double(v)}" for c, v in values.items())
    return f"(CASE s.col {cases} END)"


def pagerank(arcs: DataFrame, nodes: DataFrame, **kwargs: Any) -> DataFrame:
    """``(node, pagerank)``: plain PageRank, summing to 1."""
    uniform = nodes.select("node", F.lit(1.0).alias("pagerank"))
    return pagerank_batches(arcs, nodes, {"pagerank": uniform}, **kwargs).scores


def personalized_pagerank(
    arcs: DataFrame, nodes: DataFrame, seeds: DataFrame, **kwargs: Any
) -> DataFrame:
    """``(node, ppr)``: PageRank restarting at ``seeds`` (``(node)`` or ``(node, weight)``)."""
    weight = F.col("weight") if "weight" in seeds.columns else F.lit(1.0)
    p = seeds.groupBy("node").agg(F.sum(weight).alias("ppr"))
    return pagerank_batches(arcs, nodes, {"ppr": p}, **kwargs).scores
