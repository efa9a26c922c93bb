"""The Spark engine: the same feature definitions and graph features as the embedded engine.

Relational features are the Ibis expressions of ``relational.py`` run on Ibis's PySpark backend;
graph features are the DataFrame algorithms of ``creditgraph.graph.spark``. Both are tested to give
the embedded engine's numbers on the same data (tests/test_engine_parity.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyspark.sql import DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from creditgraph.contracts.schema import TABLES
from creditgraph.features.graph_features import (
    ALPHA,
    PPR_TOL,
    STRONG_TIE_QUANTILE,
    GraphInputs,
    LapClock,
    community_labels,
    compute,
)
from creditgraph.features.inputs import (
    LAKE_TABLES,
    _utc,
    revoked_input,
    without_erased,
    without_revoked,
)
from creditgraph.features.labels import FOLDS, Seeds, canonical_order
from creditgraph.features.relational import Inputs
from creditgraph.graph import spark as sg
from creditgraph.graph.csr import build_graph
from creditgraph.store import lake

Arrays = dict[str, npt.NDArray[Any]]


# A local driver lives for one build: the quick JIT compiler and a single-threaded collector
# halve start-up and first-query time on two cores; the optimising JIT never pays back here.
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def spark_session(app_name: str = "creditgraph", partitions: int = 4) -> SparkSession:
    """A local session on two cores, in UTC, with few shuffle partitions; reused if one exists.

    Adaptive execution is off: it re-plans every stage as its own job, which on small data costs
    more than it saves, and the graph iterations are planned by hand. JVM options only apply to
    the first session of the process (the one that starts the JVM).
    """
    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", LOCAL_JAVA_OPTIONS)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "large_string": T.StringType(),
    "int64": T.LongType(),
    "int32": T.IntegerType(),
    "bool": T.BooleanType(),
    "date32[day]": T.DateType(),
    "double": T.DoubleType(),
    # Spark reads Parquet's unsigned 64-bit integers as decimal(20, 0)
    "uint64": T.DecimalType(20, 0),
}


def spark_schema(schema: pa.Schema) -> T.StructType:
    """The Spark schema Spark itself gives an Arrow/Parquet schema (timestamps as instants)."""
    fields = []
    for f in schema:
        if pa.types.is_timestamp(f.type):
            kind: T.DataType = T.TimestampType()
        else:
            kind = _SPARK_TYPES[str(f.type)]
        fields.append(T.StructField(f.name, kind, nullable=True))
    return T.StructType(fields)


def lake_frame(spark: SparkSession, lake_dir: Path, table: str) -> DataFrame:
    """One lake table read in place with the lake schema; ``batch=`` only names the directory.

    Reading with the declared schema skips schema inference over every file and keeps the hive
    partition column out, so both engines see exactly the lake's columns.
    """
    schema = lake.lake_schema(TABLES[table])
    struct = spark_schema(schema)
    if not lake.has_data(lake_dir, table):
        return spark.createDataFrame([], struct)
    frame = spark.read.schema(struct).parquet(lake.parquet_glob(lake_dir, table))
    return frame.select(*schema.names)


def arrow_frame(spark: SparkSession, table: pa.Table) -> DataFrame:
    """An Arrow table as a DataFrame; naive database times are UTC (as on DuckDB)."""
    table = _utc(table)
    return spark.createDataFrame(table, schema=spark_schema(table.schema))


def spark_inputs(
    lake_dir: Path, tables: dict[str, pa.Table], spark: SparkSession | None = None
) -> tuple[Any, Inputs]:
    """Ibis-on-PySpark tables: lake Parquet read by Spark, database tables from Arrow.

    Views get a per-call suffix so two builds in one session never see each other's data.
    """
    spark = spark or spark_session()
    con = ibis.pyspark.connect(spark)
    tag = uuid.uuid4().hex[:8]

    def view(name: str, frame: DataFrame) -> Any:
        frame.createOrReplaceTempView(f"cg_{name}_{tag}")
        return con.table(f"cg_{name}_{tag}")

    lake_tables = {
        name: view(name, lake_frame(spark, lake_dir, table)) for name, table in LAKE_TABLES.items()
    }
    memory = {name: view(name, arrow_frame(spark, t)) for name, t in tables.items()}
    return con, Inputs(
        persons=memory["persons"],
        external_loans=memory["external_loans"],
        outcomes=memory["outcomes"],
        **without_revoked(
            without_erased(lake_tables, memory["erased"]), revoked_input(tables, memory)
        ),
    )


# ---------------------------------------------------------------------------------------------
# Graph features


class _SparkGraphEngine:
    """``assemble``'s graph step on Spark (a ``build.GraphEngine``)."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def __call__(
        self, inputs: GraphInputs, seeds: Seeds, *, timings: dict[str, float] | None = None
    ) -> Arrays:
        return spark_graph_features(self.spark, inputs, seeds, timings=timings)


def spark_graph_engine(spark: SparkSession) -> _SparkGraphEngine:
    """``assemble(..., graph_engine=spark_graph_engine(spark))``: graph features on Spark."""
    return _SparkGraphEngine(spark)


def _gather(frame: DataFrame, n: int, dtypes: dict[str, Any]) -> Arrays:
    """Collect ``(node, ...)`` into arrays by node position; nodes without a row read zero."""
    table = frame.select("node", *dtypes).toArrow()
    nodes = table["node"].to_numpy(zero_copy_only=False).astype(np.int64)
    inside = nodes < n
    out: Arrays = {}
    for name, dtype in dtypes.items():
        values = np.zeros(n, dtype=dtype)
        column = table[name].to_numpy(zero_copy_only=False)
        values[nodes[inside]] = np.nan_to_num(column[inside].astype(np.float64)).astype(dtype)
        out[name] = values
    return out


def spark_graph_features(
    spark: SparkSession,
    inputs: GraphInputs,
    seeds: Seeds,
    *,
    leiden_seed: int = 0,
    timings: dict[str, float] | None = None,
) -> Arrays:
    """Every graph feature of ``graph_features.compute``, computed with Spark DataFrames.

    Same keys in the same order, aligned with ``inputs.node_ids``. Degree, strength, strong ties,
    triangles, mutual friends, 2-hop reach, neighbour-label sums, shared devices, community
    statistics and every PageRank (plain, personalised, multilayer) run in Spark. Leiden runs
    on the driver, as in the embedded engine: a Spark label propagation would find a different
    partition and could not be held to the same numbers.
    """
    ids = inputs.node_ids
    n = len(ids)
    if n == 0:  # nothing to distribute
        return compute(inputs, seeds, leiden_seed=leiden_seed, timings=timings)
    clock = LapClock(timings)
    positions = np.arange(n, dtype=np.int64)
    index = arrow_frame(
        spark,
        pa.table(
            {
                "id": positions,  # the inputs are integer-coded: a node's id is its position
                "node": positions,
                "fold": seeds.fold.astype(np.int64),
                "bad": seeds.bad.astype(np.int64),
                "good": seeds.good.astype(np.int64),
            }
        ),
    ).localCheckpoint()
    edges = arrow_frame(
        spark,
        pa.table(
            {
                "a": inputs.edge_a.astype(np.int64),
                "b": inputs.edge_b.astype(np.int64),
                "weight": inputs.strength.astype(np.float64),
            }
        ),
    )
    counted = Observation(f"arcs_{uuid.uuid4().hex}")
    arcs = (
        sg.undirected_arcs(edges, index, duplicates="max")
        .observe(counted, F.count("*").alias("rows"))
        .localCheckpoint()
    )
    labels = index.select("node", "fold", "bad", "good")
    links = _device_links(spark, index, inputs).localCheckpoint()
    out: Arrays = {}
    out.update(_structure(arcs, int(counted.get["rows"]), n))
    clock.lap("graph.structure")
    out.update(_walks(spark, arcs, index, links, seeds))  # the multilayer walk included
    clock.lap("graph.pagerank_exposure")
    out.update(_neighbour_labels(arcs, labels, n))
    clock.lap("graph.neighbour_labels")
    out.update(_communities(spark, arcs, labels, inputs, leiden_seed, seeds))
    clock.lap("graph.communities")
    out.update(_devices(links, labels, n))
    clock.lap("graph.devices_multilayer")
    return {name: out[name] for name in _ORDER}


_ORDER = (
    "graph_degree",
    "tie_strength_sum",
    "tie_strength_mean",
    "tie_strength_max",
    "strong_ties",
    "strong_tie_share",
    "mutual_friends_mean",
    "mutual_friends_median",
    "reach_2hop",
    "clustering",
    "pagerank",
    "default_exposure",
    "good_exposure",
    "default_exposure_ratio",
    "defaulted_contacts",
    "defaulted_share_1hop",
    "defaulted_share_2hop",
    "community",
    "community_size",
    "communities_reached",
    "community_default_rate",
    "device_sharers",
    "device_defaulters",
    "multilayer_exposure",
)


def _structure(arcs: DataFrame, rows: int, n: int) -> Arrays:
    """Degree, strength, strong ties, mutual friends, 2-hop reach and clustering: one collect."""
    threshold = sg.quantile(arcs, "weight", STRONG_TIE_QUANTILE, rows)
    threshold = 0.0 if np.isnan(threshold) else threshold
    per_node, per_arc = sg.triangles(arcs)
    frame = (
        sg.degree_strength(arcs)
        .join(sg.strong_ties(arcs, threshold), "node", "full")
        .join(sg.mutual_friends(per_arc), "node", "full")
        .join(sg.two_hop_reach(arcs), "node", "full")
        .join(sg.clustering(arcs, per_node), "node", "full")
    )
    got = _gather(
        frame,
        n,
        {
            "degree": np.int64,
            "strength": np.float64,
            "strength_mean": np.float64,
            "strength_max": np.float64,
            "strong_ties": np.int64,
            "mutual_friends_mean": np.float64,
            "mutual_friends_median": np.float64,
            "reach_2hop": np.int64,
            "clustering": np.float64,
        },
    )
    degree = got["degree"]
    strong = got["strong_ties"]
    return {
        "graph_degree": degree,
        "tie_strength_sum": got["strength"],
        "tie_strength_mean": got["strength_mean"],
        "tie_strength_max": got["strength_max"],
        "strong_ties": strong,
        "strong_tie_share": np.divide(
            strong.astype(np.float64), degree, out=np.zeros(n), where=degree > 0
        ),
        "mutual_friends_mean": got["mutual_friends_mean"],
        "mutual_friends_median": got["mutual_friends_median"],
        "reach_2hop": got["reach_2hop"],
        "clustering": got["clustering"],
    }


def _device_links(spark: SparkSession, index: DataFrame, inputs: GraphInputs) -> DataFrame:
    """``(node, device)`` links of known nodes, distinct; devices numbered in sorted order."""
    links = arrow_frame(
        spark,
        pa.table(
            {
                "id": inputs.device_person.astype(np.int64),
                "device_id": inputs.device_id.astype(np.int64),
            }
        ),
    )
    known = links.join(index.select("id", "node"), "id").select("node", "device_id").distinct()
    numbered = (
        known.select("device_id")
        .distinct()
        .withColumn("device", F.dense_rank().over(Window.orderBy("device_id")) - 1)
    )
    return known.join(numbered, "device_id").select("node", F.col("device").cast("long"))


def _walks(
    spark: SparkSession,
    arcs: DataFrame,
    index: DataFrame,
    links: DataFrame,
    seeds: Seeds,
) -> Arrays:
    """Every PageRank of the build in one Spark loop over a disjoint union of two graphs.

    Nodes ``0..n-1`` are the social graph; from ``n`` on, the social/device supra-graph of
    ``multilayer.py`` (person copies at ``n+k`` and ``2n+k``, devices from ``3n``). The walks
    never cross between the parts, so each batch is exactly the embedded engine's call: plain
    PageRank, exposure to defaulters, to good payers, and the multilayer exposure.
    """
    n = len(seeds.fold)
    shifted = arcs.select(
        (F.col("src") + n).alias("src"), (F.col("dst") + n).alias("dst"), "weight"
    )
    person = (F.col("node") + 2 * n).alias("src")
    device = (F.col("device") + 3 * n).alias("dst")
    device_layer = links.select(person, device, F.lit(1.0).alias("weight"))
    device_back = device_layer.select(
        F.col("dst").alias("src"), F.col("src").alias("dst"), "weight"
    )
    social_copy = index.select(
        (F.col("node") + n).alias("src"),
        (F.col("node") + 2 * n).alias("dst"),
        F.lit(1.0).alias("weight"),
    )
    coupling = social_copy.unionByName(
        social_copy.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "weight")
    )
    union = arcs.unionByName(shifted).unionByName(device_layer).unionByName(device_back)
    union = union.unionByName(coupling)
    devices = links.select((F.col("device") + 3 * n).alias("node")).distinct()
    nodes = spark.range(3 * n).select(F.col("id").alias("node")).unionByName(devices)

    bad_cols = seeds.out_of_fold(seeds.bad)
    good_cols = seeds.out_of_fold(seeds.good)
    batches: dict[str, DataFrame] = {
        "pagerank": index.select("node", F.lit(1.0).alias("pagerank")),
    }

    def folds(
        prefix: str, flag: str, columns: npt.NDArray[np.float64], value: float
    ) -> DataFrame | None:
        live = [k for k in range(FOLDS) if columns[:, k].sum() > 0]
        if not live:
            return None
        picked = [
            F.when((F.col(flag) > 0) & (F.col("fold") != k), F.lit(value))
            .otherwise(F.lit(0.0))
            .alias(f"{prefix}{k}")
            for k in live
        ]
        return index.select("node", *picked)

    for name, frame in (
        ("default", folds("default", "bad", bad_cols, 1.0)),
        ("good", folds("good", "good", good_cols, 1.0)),
    ):
        if frame is not None:
            batches[name] = frame
    multilayer = folds("multilayer", "bad", bad_cols, 2.0)
    if multilayer is not None:
        copies = [c for c in multilayer.columns if c != "node"]
        layer_one = multilayer.select((F.col("node") + n).alias("node"), *copies)
        layer_two = multilayer.select((F.col("node") + 2 * n).alias("node"), *copies)
        batches["multilayer"] = layer_one.unionByName(layer_two)

    run = sg.pagerank_batches(union, nodes, batches, alpha=ALPHA, tol=PPR_TOL)
    table = run.scores.toArrow()
    order = np.argsort(table["node"].to_numpy())
    scores = {c: table[c].to_numpy()[order] for c in table.column_names if c != "node"}

    def matrix(prefix: str, start: int) -> npt.NDArray[np.float64]:
        m = np.zeros((n, FOLDS), dtype=np.float64)
        for k in range(FOLDS):
            column = scores.get(f"{prefix}{k}")
            if column is not None:
                m[:, k] = column[start : start + n]
        return m

    uniform = np.asarray(scores["pagerank"][:n], dtype=np.float64)
    exposure = matrix("default", 0)
    support = matrix("good", 0)
    ml = matrix("multilayer", n) + matrix("multilayer", 2 * n)
    return {
        "pagerank": uniform * n,
        "default_exposure": seeds.pick(exposure) * n,
        "good_exposure": seeds.pick(support) * n,
        "default_exposure_ratio": np.divide(
            seeds.pick(exposure), uniform, out=np.zeros(n), where=uniform > 0
        ),
        "multilayer_exposure": seeds.pick(ml) * n,
    }


def _neighbour_labels(arcs: DataFrame, labels: DataFrame, n: int) -> Arrays:
    """Defaulted contacts and the defaulted share of tie weight at one and two hops."""
    sums = sg.out_of_fold_sums(arcs, labels, "bad", FOLDS, two_hop=True)
    strength = sg.degree_strength(arcs).select("node", "strength")
    frame = sums.join(strength, "node", "full").select(
        "node",
        F.col("count").alias("defaulted_contacts"),
        F.when(F.col("strength") > 0, F.col("weighted") / F.col("strength"))
        .otherwise(F.lit(0.0))
        .alias("defaulted_share_1hop"),
        F.when(F.col("strength_2hop") > 0, F.col("weighted_2hop") / F.col("strength_2hop"))
        .otherwise(F.lit(0.0))
        .alias("defaulted_share_2hop"),
    )
    return _gather(
        frame,
        n,
        {
            "defaulted_contacts": np.int64,
            "defaulted_share_1hop": np.float64,
            "defaulted_share_2hop": np.float64,
        },
    )


def _communities(
    spark: SparkSession,
    arcs: DataFrame,
    labels: DataFrame,
    inputs: GraphInputs,
    leiden_seed: int,
    seeds: Seeds,
) -> Arrays:
    """Leiden on the driver (the embedded call, same seed and node order), community statistics
    in Spark."""
    n = len(inputs.node_ids)
    graph = build_graph(
        inputs.edge_a,
        inputs.edge_b,
        inputs.strength,
        directed=False,
        nodes=np.arange(n, dtype=np.int64),
        duplicates="max",
    )
    order = None if seeds.order_key is None else canonical_order(seeds.order_key, graph.adjacency)
    communities = community_labels(graph, leiden_seed, order)
    members = arrow_frame(
        spark, pa.table({"node": np.arange(n, dtype=np.int64), "community": communities})
    )
    known = ((F.col("bad") > 0) | (F.col("good") > 0)).cast("long").alias("known")
    table = labels.join(members, "node").select("node", "community", "fold", "bad", known)
    got = _gather(
        sg.community_stats(arcs, table, FOLDS),
        n,
        {
            "community": np.int64,
            "community_size": np.int64,
            "communities_reached": np.int64,
            "community_default_rate": np.float64,
        },
    )
    return got


def _devices(links: DataFrame, labels: DataFrame, n: int) -> Arrays:
    """People sharing a device with the person, and how many of them defaulted (out of fold)."""
    shared = sg.shared_device_arcs(links)
    sharers = shared.groupBy(F.col("src").alias("node")).agg(F.count("*").alias("device_sharers"))
    defaulters = sg.out_of_fold_sums(shared, labels, "bad", FOLDS).select(
        "node", F.col("count").alias("device_defaulters")
    )
    frame = sharers.join(defaulters, "node", "full")
    return _gather(frame, n, {"device_sharers": np.int64, "device_defaulters": np.int64})
