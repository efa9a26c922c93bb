"""One definition, two engines: the Spark engine gives the embedded engine's numbers.

Every feature column of a build is compared between ``engine="duckdb"`` (DuckDB + scipy) and
``engine="spark"`` (Ibis on PySpark + Spark DataFrame graph algorithms): counts and strings
exactly, floats to 1e-6 relative. The graph algorithms are also compared one by one on a real
social graph (SNAP ego-Facebook). One Spark session serves the whole module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from creditgraph.features.graph_features import _row_stat
from creditgraph.features.service import compute_features
from creditgraph.features.spark_engine import arrow_frame, spark_session
from creditgraph.graph import spark as sg
from creditgraph.graph.csr import build_graph
from creditgraph.graph.pagerank import pagerank, personalized_pagerank, transition
from creditgraph.graph.structure import clustering, triangles, two_hop_reach, two_hop_summary
from creditgraph.ingest.service import ingest
from creditgraph.settings import Settings
from tests import world
from tests.conftest import shared_path

pytestmark = pytest.mark.spark

REL = 1e-6


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session("creditgraph-parity")
    yield session
    session.stop()


def _settings(root: Path) -> Settings:
    """A home with a fixed pseudonym key, so both engines read the same pseudonyms."""
    settings = Settings(home=root / "home")
    settings.key_file.parent.mkdir(parents=True)
    settings.key_file.write_text((b"k" * 32).hex() + "\n")
    settings.key_file.chmod(0o600)
    return settings


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=0.0)
    return bool(a == b)


def assert_same_table(a: pa.Table, b: pa.Table, keys: list[str]) -> None:
    """Same columns and types, same rows (ordered by ``keys``), values equal or within 1e-6."""
    assert a.schema.names == b.schema.names
    for fa, fb in zip(a.schema, b.schema, strict=True):
        assert fa.type == fb.type, f"{fa.name}: {fa.type} != {fb.type}"
    order = [(k, "ascending") for k in keys]
    a, b = a.sort_by(order), b.sort_by(order)
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        left, right = a[name].to_pylist(), b[name].to_pylist()
        bad = [
            (i, x, y)
            for i, (x, y) in enumerate(zip(left, right, strict=True))
            if not _same_value(x, y)
        ]
        assert not bad, f"{name}: {len(bad)} rows differ, first {bad[:3]}"


def _both_engines(settings: Settings, as_of: date, spark: SparkSession) -> tuple[Any, Any]:
    embedded = compute_features(settings, as_of)
    scaled = compute_features(settings, as_of, engine="spark", spark=spark)
    return embedded, scaled


def test_tiny_world_every_feature_equal(spark: SparkSession, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    embedded, scaled = _both_engines(settings, date(2025, 4, 1), spark)
    assert embedded.features.num_rows == 4
    assert_same_table(embedded.features, scaled.features, ["person_id"])
    assert_same_table(embedded.edges, scaled.edges, ["a", "b"])
    assert embedded.graph_nodes == scaled.graph_nodes


def test_an_erased_person_is_gone_on_both_engines(spark: SparkSession, tmp_path: Path) -> None:
    from creditgraph.privacy.erasure import erase
    from creditgraph.store.db import make_engine

    settings = _settings(tmp_path)
    ingest(world.write_world(tmp_path / "in"), settings)
    engine = make_engine(settings.database_url)
    before = compute_features(settings, date(2025, 4, 1)).features
    erased = before["person_id"][1].as_py()
    erase(engine, erased, "DSR-parity")
    engine.dispose()
    embedded, scaled = _both_engines(settings, date(2025, 4, 1), spark)
    assert erased not in embedded.features["person_id"].to_pylist()
    assert embedded.features.num_rows == before.num_rows - 1
    assert_same_table(embedded.features, scaled.features, ["person_id"])
    assert_same_table(embedded.edges, scaled.edges, ["a", "b"])
    for edges in (embedded.edges, scaled.edges):
        assert erased not in edges["a"].to_pylist() + edges["b"].to_pylist()


def test_simulated_population_every_feature_equal(spark: SparkSession, tmp_path: Path) -> None:
    from creditgraph.simulate import SimulationConfig, simulate

    result = simulate(SimulationConfig(people=400, seed=7), tmp_path / "sim")
    settings = _settings(tmp_path)
    ingest(sorted(result.files.values()), settings)
    embedded, scaled = _both_engines(settings, date(2026, 6, 15), spark)
    features = embedded.features
    assert features.num_rows > 300 and embedded.edges.num_rows > 500
    for name in ("default_exposure", "good_exposure", "multilayer_exposure", "device_sharers"):
        assert pa.compute.sum(features[name]).as_py() > 0, f"{name} is all zero: nothing tested"
    assert_same_table(features, scaled.features, ["person_id"])
    assert_same_table(embedded.edges, scaled.edges, ["a", "b"])


# --- the algorithms one by one, on a real social graph ---------------------------------------

FACEBOOK_SEEDS = [0, 107, 348, 414, 686, 698, 1684, 1912, 3437, 3980]


@pytest.fixture(scope="module")
def facebook(spark: SparkSession) -> tuple[Any, Any, Any]:
    """(scipy graph, Spark arcs, Spark nodes) of SNAP ego-Facebook (4,039 nodes, 88,234 ties)."""
    path = shared_path("data", "ego_facebook", "facebook_combined.txt")
    edges = np.loadtxt(path, dtype=np.int64)
    graph = build_graph(edges[:, 0], edges[:, 1], directed=False)
    n = graph.n_nodes
    index = spark.range(n).select(F.col("id"), F.col("id").alias("node"))
    frame = arrow_frame(spark, pa.table({"a": edges[:, 0], "b": edges[:, 1]}))
    arcs = sg.undirected_arcs(frame, index, weight=None).localCheckpoint()
    return graph, arcs, index.select("node")


def _by_node(frame: Any, column: str, n: int, dtype: Any = np.float64) -> np.ndarray:
    table = frame.select("node", column).toArrow()
    out = np.zeros(n, dtype=dtype)
    out[table["node"].to_numpy()] = table[column].to_numpy(zero_copy_only=False)
    return out


@pytest.mark.shared
def test_facebook_pagerank_and_personalised_pagerank(facebook: tuple[Any, Any, Any]) -> None:
    graph, arcs, nodes = facebook
    op = transition(graph)
    plain = pagerank(op)
    personal = personalized_pagerank(op, FACEBOOK_SEEDS)
    seeds = nodes.select("node", F.col("node").isin(FACEBOOK_SEEDS).cast("double").alias("ppr"))
    uniform = nodes.select("node", F.lit(1.0).alias("pagerank"))
    run = sg.pagerank_batches(arcs, nodes, {"plain": uniform, "personal": seeds})
    # the same stopping step, so the same iterate, not merely two converged answers
    assert run.iterations == {"plain": plain.iterations, "personal": personal.iterations}
    table = run.scores.toArrow().sort_by("node")
    np.testing.assert_allclose(table["pagerank"].to_numpy(), plain.scores, rtol=REL, atol=0)
    got = table["ppr"].to_numpy()
    want = np.asarray(personal.scores)
    np.testing.assert_array_equal(got == 0, want == 0)
    np.testing.assert_allclose(got, want, rtol=REL, atol=0)


@pytest.mark.shared
def test_facebook_structure(facebook: tuple[Any, Any, Any]) -> None:
    graph, arcs, _ = facebook
    n = graph.n_nodes
    per_node, per_arc = (frame.localCheckpoint() for frame in sg.triangles(arcs))
    np.testing.assert_array_equal(_by_node(per_node, "triangles", n, np.int64), triangles(graph))
    np.testing.assert_allclose(
        _by_node(sg.clustering(arcs, per_node), "clustering", n),
        clustering(graph),
        rtol=REL,
        atol=0,
    )
    np.testing.assert_array_equal(
        _by_node(sg.two_hop_reach(arcs), "reach_2hop", n, np.int64), two_hop_reach(graph)
    )
    # common neighbours of every tie, in CSR order, and their mean and median per node
    b = graph.adjacency.copy()
    b.data[:] = 1.0
    common = two_hop_summary(b).common
    rows = np.repeat(np.arange(n), np.diff(b.indptr))
    table = per_arc.toArrow()
    got = dict(
        zip(
            zip(table["src"].to_pylist(), table["dst"].to_pylist(), strict=True),
            table["common"].to_pylist(),
            strict=True,
        )
    )
    want = dict(
        zip(zip(rows.tolist(), b.indices.tolist(), strict=True), common.tolist(), strict=True)
    )
    assert got == want
    friends = sg.mutual_friends(per_arc)
    for name, how in (("mutual_friends_mean", "mean"), ("mutual_friends_median", "median")):
        np.testing.assert_allclose(
            _by_node(friends, name, n), _row_stat(b, common, how), rtol=REL, atol=0
        )


def test_quantile_is_numpys(spark: SparkSession) -> None:
    values = np.round(np.random.default_rng(3).random(101) * 4, 1)  # many ties
    frame = arrow_frame(spark, pa.table({"weight": values})).localCheckpoint()
    for q in (0.3, 0.75, 1.0):
        assert sg.quantile(frame, "weight", q, rows=101) == float(np.quantile(values, q))


def test_pagerank_stops_at_the_embedded_step_without_ties(spark: SparkSession) -> None:
    """No arcs: every node dangles and the first step already converges (the bisection path)."""
    nodes = spark.range(7).select(F.col("id").alias("node"))
    arcs = spark.createDataFrame([], "src long, dst long, weight double")
    seeds = nodes.select("node", (F.col("node") < 2).cast("double").alias("ppr"))
    run = sg.pagerank_batches(arcs, nodes, {"ppr": seeds})
    scipy_run = personalized_pagerank(np.zeros((7, 7)), [0, 1])
    assert run.iterations == {"ppr": scipy_run.iterations}
    got = run.scores.toArrow().sort_by("node")["ppr"].to_numpy()
    np.testing.assert_allclose(got, scipy_run.scores, rtol=REL, atol=0)


def test_dangling_nodes_with_in_arcs_are_refused(spark: SparkSession) -> None:
    nodes = spark.range(3).select(F.col("id").alias("node"))
    arcs = spark.createDataFrame([(0, 1, 1.0), (1, 2, 1.0)], "src long, dst long, weight double")
    with pytest.raises(ValueError, match="dangling"):
        sg.pagerank(arcs, nodes)
