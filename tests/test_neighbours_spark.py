"""One definition, two engines: neighbour aggregates on Spark equal the scipy ones.

Maxima exactly, means to 1e-6 relative; on a random graph with string ids, outside contacts,
missing values, duplicate pairs and self-loops, and on SNAP ego-Facebook with synthetic values.
One Spark session serves the module.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from pyspark.sql import SparkSession

from creditgraph.features.catalogue import STATS
from creditgraph.features.neighbours import neighbour_aggregates, spark_neighbour_aggregates
from creditgraph.features.spark_engine import spark_session
from tests.conftest import shared_path

pytestmark = pytest.mark.spark

REL = 1e-6


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session("creditgraph-neighbours")
    yield session
    session.stop()


def assert_same(left: pa.Table, right: pa.Table, columns: list[str]) -> None:
    assert left.column_names == right.column_names
    assert left.schema == right.schema
    assert left["person_id"].equals(right["person_id"])
    for col in columns:
        for stat in STATS:
            name = f"{stat}_{col}"
            a = left[name].to_numpy(zero_copy_only=False)
            b = right[name].to_numpy(zero_copy_only=False)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
            if "max" in stat:
                np.testing.assert_array_equal(a, b, err_msg=name)
            else:
                np.testing.assert_allclose(a, b, rtol=REL, atol=0, equal_nan=True, err_msg=name)


def test_random_graph(spark: SparkSession) -> None:
    rng = np.random.default_rng(11)
    n, m = 300, 1500
    ids = np.array([f"p{i:04d}" for i in range(n)], dtype=object)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    a[:60] = 5  # a hub above the cap
    edges = pa.table(
        {
            "a": pa.array(ids[a]),
            "b": pa.array(ids[b]),
            "strength": rng.gamma(2.0, 1.0, m),
        }
    )
    booked = rng.permutation(n)[: n - 20]  # twenty outside contacts without a row
    values = rng.gamma(2.0, 1000.0, (booked.size, 3))
    values[rng.random(values.shape) < 0.15] = np.nan
    features = pa.table(
        {"person_id": pa.array(ids[booked])}
        | {f"c{c}": pa.array(values[:, c], from_pandas=True) for c in range(2)}
        | {"count": pa.array(rng.integers(0, 50, booked.size))}
    )
    columns = ["c0", "c1", "count"]
    for cap in (None, 20):
        embedded = neighbour_aggregates(pa.array(ids), edges, features, columns, hub_cap=cap)
        scaled = spark_neighbour_aggregates(
            spark, pa.array(ids), edges, features, columns, hub_cap=cap
        )
        assert embedded["nbr2_mean_c0"].null_count < n // 4  # something was compared
        assert_same(embedded, scaled, columns)


@pytest.mark.shared
def test_facebook(spark: SparkSession) -> None:
    path = shared_path("data", "ego_facebook", "facebook_combined.txt")
    pairs = np.loadtxt(path, dtype=np.int64)
    n = int(pairs.max()) + 1
    rng = np.random.default_rng(5)
    edges = pa.table({"a": pairs[:, 0], "b": pairs[:, 1], "weight": rng.random(len(pairs)) + 0.1})
    values = rng.lognormal(8.0, 1.0, n)
    values[rng.random(n) < 0.05] = np.nan
    features = pa.table(
        {
            "person_id": np.arange(n),
            "income": pa.array(values, from_pandas=True),
            "logins": rng.poisson(20, n),
        }
    )
    node_ids = pa.array(np.arange(n))
    columns = ["income", "logins"]
    # a cap of 100 skips 481 hubs of this graph, so the cap is exercised on both engines
    embedded = neighbour_aggregates(
        node_ids, edges, features, columns, weight="weight", hub_cap=100
    )
    scaled = spark_neighbour_aggregates(
        spark, node_ids, edges, features, columns, weight="weight", hub_cap=100
    )
    assert embedded["nbr2_max_logins"].null_count < n // 20
    assert_same(embedded, scaled, columns)
