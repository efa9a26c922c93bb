"""Neighbour aggregates: hand-computed values, the reference definition, and no self-leakage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from creditgraph.features import catalogue
from creditgraph.features.catalogue import (
    NEIGHBOUR_COLUMNS,
    NEIGHBOUR_FEATURES,
    STATS,
    output_names,
)
from creditgraph.features.neighbours import NeighbourInputError, neighbour_aggregates

# p1-p2-p3 is a triangle, p3-p4-x1-p5 a path; x1 is a contact outside the book (no feature row),
# p6 has no tie. p3's x is unknown. One self-loop and one duplicate pair must change nothing.
NODES = pa.array(["p1", "p2", "p3", "p4", "p5", "p6", "x1"])
EDGES = pa.table(
    {
        "a": ["p1", "p1", "p2", "p3", "p4", "x1", "p1", "p2"],
        "b": ["p2", "p3", "p3", "p4", "x1", "p5", "p1", "p1"],
        "strength": [2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 0.5],
    }
)
FEATURES = pa.table(
    {
        "person_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
        "x": pa.array([10, 20, None, 40, 50, 60], pa.int64()),
        "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }
)
N = None  # missing
# person -> (nbr1_mean, nbr1_max, nbr2_mean, nbr2_max) of x, then of y
EXPECTED: dict[str, tuple[Any, ...]] = {
    "p1": (20.0, 20.0, 40.0, 40.0, 7 / 3, 3.0, 4.0, 4.0),
    "p2": (10.0, 10.0, 40.0, 40.0, 5 / 3, 3.0, 4.0, 4.0),
    "p3": (70 / 3, 40.0, N, N, 7 / 3, 4.0, N, N),
    "p4": (N, N, 80 / 3, 50.0, 3.0, 3.0, 8 / 3, 5.0),
    "p5": (N, N, 40.0, 40.0, N, N, 4.0, 4.0),
    "p6": (N, N, N, N, N, N, N, N),
    "x1": (45.0, 50.0, N, N, 4.5, 5.0, 3.0, 3.0),
}


def _rows(table: pa.Table, columns: list[str]) -> dict[Any, tuple[Any, ...]]:
    names = output_names(columns)
    return {
        pid: tuple(table[name][i].as_py() for name in names)
        for i, pid in enumerate(table["person_id"].to_pylist())
    }


def _same(got: tuple[Any, ...], want: tuple[Any, ...]) -> bool:
    return all(
        (g is None and w is None)
        or (g is not None and w is not None and math.isclose(g, w, rel_tol=1e-12))
        for g, w in zip(got, want, strict=True)
    )


def test_hand_computed_small_graph() -> None:
    table = neighbour_aggregates(NODES, EDGES, FEATURES, ["x", "y"])
    assert table.column_names == ["person_id", *output_names(["x", "y"])]
    assert table["person_id"].to_pylist() == NODES.to_pylist()
    assert all(table.schema.field(n).type == pa.float64() for n in output_names(["x", "y"]))
    for pid, got in _rows(table, ["x", "y"]).items():
        assert _same(got, EXPECTED[pid]), (pid, got, EXPECTED[pid])


def test_hub_cap_stops_paths_through_busy_contacts() -> None:
    """p3 has three ties: with a cap of two, nothing is reached through it."""
    table = neighbour_aggregates(NODES, EDGES, FEATURES, ["x"], hub_cap=2)
    rows = _rows(table, ["x"])
    assert rows["p1"][2:] == (None, None)  # p4 was reached only through p3
    assert rows["p4"][2:] == (50.0, 50.0)  # p5 through x1; p1 and p2 only through p3
    assert rows["p1"][:2] == (20.0, 20.0)  # direct contacts are never capped


def test_unweighted_and_blocked_give_the_same_definition() -> None:
    plain = _rows(neighbour_aggregates(NODES, EDGES, FEATURES, ["y"], weight=None), ["y"])
    assert math.isclose(plain["p1"][0], 2.5)  # (2 + 3) / 2
    tiny_blocks = neighbour_aggregates(NODES, EDGES, FEATURES, ["x", "y"], block_work=1)
    assert tiny_blocks.equals(neighbour_aggregates(NODES, EDGES, FEATURES, ["x", "y"]))


def test_id_types_and_chunks_are_taken_as_given() -> None:
    chunked = pa.chunked_array([NODES.slice(0, 3), NODES.slice(3)])
    large = EDGES.set_column(0, "a", pa.array(EDGES["a"].to_pylist(), pa.large_string()))
    table = neighbour_aggregates(chunked, large, FEATURES, ["x", "y"])
    assert table["person_id"].type == pa.string()
    assert table.equals(neighbour_aggregates(NODES, EDGES, FEATURES, ["x", "y"]))
    numbers = pa.array([7, 8, 9], pa.int32())
    ints = neighbour_aggregates(
        numbers,
        pa.table({"a": pa.array([7, 8], pa.int64()), "b": [8, 9], "strength": [1.0, 1.0]}),
        pa.table({"person_id": pa.array([7, 9], pa.int16()), "v": [1.0, 3.0]}),
        ["v"],
    )
    assert ints["nbr2_mean_v"].to_pylist() == [3.0, None, 1.0]
    assert ints["nbr1_max_v"].to_pylist() == [None, 3.0, None]


def test_empty_graph_and_no_columns() -> None:
    no_edges = EDGES.slice(0, 0)
    table = neighbour_aggregates(NODES, no_edges, FEATURES, ["x"])
    assert table.num_rows == 7
    assert all(table[name].null_count == 7 for name in output_names(["x"]))
    empty = neighbour_aggregates(pa.array([], pa.string()), no_edges, FEATURES.slice(0, 0), ["x"])
    assert empty.num_rows == 0
    assert neighbour_aggregates(NODES, EDGES, FEATURES, []).column_names == ["person_id"]


# --- the reference definition, on random graphs -------------------------------------------------


def reference(
    n: int, edges: list[tuple[int, int, float]], values: np.ndarray, hub_cap: int | None
) -> dict[str, np.ndarray]:
    """The definition, written out with sets and loops."""
    adj: list[dict[int, float]] = [{} for _ in range(n)]
    for a, b, w in edges:
        if a != b and w > 0:
            adj[a][b] = adj[b][a] = max(adj[a].get(b, 0.0), w)
    out = {stat: np.full(values.shape, np.nan) for stat in STATS}
    for i in range(n):
        second: set[int] = set()
        for j in adj[i]:
            if hub_cap is None or len(adj[j]) <= hub_cap:
                second |= set(adj[j])
        second -= set(adj[i]) | {i}
        for c in range(values.shape[1]):
            known = [(w, values[j, c]) for j, w in adj[i].items() if not np.isnan(values[j, c])]
            if known:
                out["nbr1_mean"][i, c] = sum(w * v for w, v in known) / sum(w for w, _ in known)
                out["nbr1_max"][i, c] = max(v for _, v in known)
            far = [values[k, c] for k in second if not np.isnan(values[k, c])]
            if far:
                out["nbr2_mean"][i, c] = sum(far) / len(far)
                out["nbr2_max"][i, c] = max(far)
    return out


def random_case(seed: int, n: int = 80, m: int = 240) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    a[: m // 8] = 0  # one hub
    w = np.round(rng.random(m) * 3, 1)  # some zero weights, some duplicates
    values = np.round(rng.normal(0, 5, (n, 3)), 2)  # negatives too
    values[rng.random((n, 3)) < 0.2] = np.nan
    values[:, 2] = np.where(np.isnan(values[:, 2]), 1.0, values[:, 2])  # one column without gaps
    return rng, a, b, w, values


@pytest.mark.parametrize(("seed", "hub_cap"), [(0, None), (1, 10), (2, 3), (3, 200)])
def test_random_graphs_match_the_reference(seed: int, hub_cap: int | None) -> None:
    _, a, b, w, values = random_case(seed)
    n = values.shape[0]
    booked = np.arange(n - 5)  # the last five are outside contacts without a row
    features = pa.table(
        {"person_id": booked}
        | {f"c{c}": pa.array(values[booked, c], from_pandas=True) for c in range(3)}
    )
    table = neighbour_aggregates(
        pa.array(np.arange(n)),
        pa.table({"a": a, "b": b, "weight": w}),
        features,
        ["c0", "c1", "c2"],
        weight="weight",
        hub_cap=hub_cap,
        block_work=50,
    )
    seen = values.copy()
    seen[n - 5 :] = np.nan
    want = reference(n, list(zip(a, b, w, strict=True)), seen, hub_cap)
    for c in range(3):
        for stat in STATS:
            got = table[f"{stat}_c{c}"].to_numpy(zero_copy_only=False)
            np.testing.assert_allclose(
                got, want[stat][:, c], rtol=1e-12, atol=1e-12, equal_nan=True
            )


def test_own_value_never_reaches_own_aggregates() -> None:
    """Changing one person's value changes nobody's row at that person but their neighbours'."""
    rng, a, b, w, values = random_case(7, n=40, m=150)
    ids = pa.array(np.arange(40))
    edges = pa.table({"a": a, "b": b, "weight": w})

    def run(v: np.ndarray) -> np.ndarray:
        features = pa.table(
            {"person_id": np.arange(40)}
            | {f"c{c}": pa.array(v[:, c], from_pandas=True) for c in range(3)}
        )
        table = neighbour_aggregates(ids, edges, features, ["c0", "c1", "c2"], weight="weight")
        return np.column_stack(
            [table[n].to_numpy(zero_copy_only=False) for n in table.column_names[1:]]
        )

    base = run(values)
    for person in rng.choice(40, 8, replace=False):
        changed = values.copy()
        changed[person] = 1e6
        after = run(changed)
        np.testing.assert_array_equal(after[person], base[person])
        assert not np.array_equal(after, base) or np.isnan(base).all()


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "edges", "message"),
    [
        (FEATURES, EDGES, "no column 'z'"),
        (FEATURES.append_column("z", pa.array(list("abcdef"))), EDGES, "'z' must be numeric"),
        (
            FEATURES.set_column(0, "person_id", pa.array(list("abcdef"))).append_column(
                "z", pa.array([1] * 6)
            ),
            EDGES,
            "not in node_ids",
        ),
        (
            FEATURES.append_column("z", pa.array([1] * 6)),
            EDGES.set_column(2, "strength", pa.array([-1.0] * 8)),
            "finite and >= 0",
        ),
        (
            pa.concat_tables([FEATURES, FEATURES.slice(0, 1)]).append_column(
                "z", pa.array([1] * 7)
            ),
            EDGES,
            "more than once",
        ),
    ],
)
def test_bad_input_is_named(features: pa.Table, edges: pa.Table, message: str) -> None:
    with pytest.raises(NeighbourInputError, match=message):
        neighbour_aggregates(NODES, edges, features, ["z"])


def test_bad_ids_are_named() -> None:
    with pytest.raises(NeighbourInputError, match="more than once"):
        neighbour_aggregates(pa.array(["p1", "p1"]), EDGES, FEATURES.slice(0, 1), ["y"])
    no_rows = pa.table({"person_id": pa.array([], pa.int64()), "y": pa.array([], pa.float64())})
    with pytest.raises(NeighbourInputError, match=r"edges\.a holds large_string ids"):
        neighbour_aggregates(pa.array(range(7)), EDGES, no_rows, ["y"])
    with pytest.raises(NeighbourInputError, match="integers or strings"):
        neighbour_aggregates(pa.array([1.5]), EDGES, FEATURES, ["y"])


# --- the catalogue ------------------------------------------------------------------------------

LABEL_BASED = {"risk exposure", "community"}


def test_catalogue_names_every_output_and_uses_no_label() -> None:
    assert [f.name for f in NEIGHBOUR_FEATURES] == output_names(NEIGHBOUR_COLUMNS)
    assert all(f.definition and f.why and f.family == "neighbours" for f in NEIGHBOUR_FEATURES)
    own = {f.name: f for f in catalogue.FEATURES}
    for column in NEIGHBOUR_COLUMNS:
        feature = own[column]  # a feature the build produces
        assert feature.family not in LABEL_BASED
        assert "out of fold" not in feature.definition and "default" not in feature.definition
