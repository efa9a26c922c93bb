"""CSR builder: every edge case has a defined, counted outcome."""

from __future__ import annotations

import numpy as np
import pytest

from creditgraph.graph.csr import (
    InvalidWeightError,
    NegativeWeightError,
    NodeIndex,
    UnknownNodeError,
    build_graph,
)
from creditgraph.graph.pagerank import pagerank


def dense(graph: object) -> np.ndarray:
    return np.asarray(graph.adjacency.toarray())  # type: ignore[attr-defined]


def test_directed_weights_and_index() -> None:
    g = build_graph(["b", "a", "c"], ["a", "c", "b"], [2.0, 3.0, 0.5])
    assert g.index.ids.tolist() == ["a", "b", "c"]
    a, b, c = g.index.positions(["a", "b", "c"])
    m = dense(g)
    assert m[b, a] == 2.0 and m[a, c] == 3.0 and m[c, b] == 0.5
    assert m.sum() == 5.5
    assert g.n_nodes == 3 and g.n_edges == 3 and g.directed


def test_self_loops_dropped_and_counted() -> None:
    g = build_graph([1, 1, 2], [1, 2, 2])
    assert g.report.self_loops == 2
    assert g.n_edges == 1
    assert np.all(dense(g).diagonal() == 0)
    assert g.n_nodes == 2  # nodes of dropped loops stay in the universe


@pytest.mark.parametrize(("how", "expected"), [("sum", 5.0), ("max", 3.0)])
def test_duplicates_merged(how: str, expected: float) -> None:
    g = build_graph([1, 1], [2, 2], [2.0, 3.0], duplicates=how)  # type: ignore[arg-type]
    assert g.report.duplicates == 1
    assert g.n_edges == 1
    assert dense(g)[0, 1] == expected


def test_undirected_both_orientations_are_one_tie() -> None:
    g = build_graph([1, 2, 3], [2, 1, 1], [1.0, 4.0, 1.0], directed=False)
    m = dense(g)
    assert g.report.duplicates == 1
    assert g.n_edges == 2
    assert np.array_equal(m, m.T)
    assert m[0, 1] == 5.0


def test_unknown_nodes_dropped_and_counted() -> None:
    g = build_graph([1, 2, 9], [2, 7, 1], nodes=[3, 2, 1])
    assert g.index.ids.tolist() == [3, 2, 1]  # caller's order kept
    assert g.report.unknown == 2
    assert g.n_edges == 1
    assert dense(g)[2, 1] == 1.0
    assert dense(g)[0].sum() == 0  # isolated node from the universe


def test_unknown_nodes_can_be_rejected_with_row() -> None:
    with pytest.raises(UnknownNodeError) as info:
        build_graph([1, 2, 9], [2, 1, 1], nodes=[1, 2], on_unknown="raise")
    assert info.value.row == 2
    assert "9" in str(info.value)


def test_empty_graph() -> None:
    g = build_graph([], [])
    assert g.adjacency.shape == (0, 0)
    assert g.n_edges == 0 and g.report.edges_in == 0
    result = pagerank(g)
    assert result.scores.shape == (0,) and result.converged
    iso = build_graph([], [], nodes=["x", "y"])
    assert iso.adjacency.shape == (2, 2) and iso.adjacency.nnz == 0
    assert np.allclose(pagerank(iso).scores, 0.5)


def test_negative_weights_rejected_unless_signed() -> None:
    with pytest.raises(NegativeWeightError) as info:
        build_graph([1, 2, 3], [2, 3, 1], [1.0, -2.0, 1.0])
    assert info.value.row == 1
    g = build_graph([1, 2, 3], [2, 3, 1], [1.0, -2.0, 1.0], signed=True)
    assert g.signed and g.report.negative == 1
    pos, neg = g.positive(), g.negative()
    assert pos.n_edges == 2 and neg.n_edges == 1
    assert dense(neg)[1, 2] == 2.0 and dense(pos).min() >= 0
    with pytest.raises(ValueError, match="negative"):
        pagerank(g)


def test_non_finite_weight_rejected_with_row() -> None:
    with pytest.raises(InvalidWeightError) as info:
        build_graph([1, 2], [2, 1], [1.0, np.nan])
    assert info.value.row == 1


def test_zero_weights_dropped_and_counted() -> None:
    g = build_graph([1, 2, 3, 3], [2, 3, 1, 1], [0.0, 1.0, 2.0, -2.0], signed=True)
    assert g.report.zero_weight == 2  # one given, one from summing +2 and -2
    assert g.n_edges == 1


def test_id_kinds_checked() -> None:
    with pytest.raises(TypeError):
        build_graph([1, 2], ["a", "b"])
    with pytest.raises(TypeError):
        build_graph([1.5, 2.0], [2.0, 1.5])
    with pytest.raises(ValueError, match="more than once"):
        NodeIndex.from_ids([1, 2, 1])


def test_lookup_is_exact_for_strings_of_other_lengths() -> None:
    idx = NodeIndex.from_ids(["12345", "a"])
    assert idx.lookup(["123456", "1234", "12345", "a"]).tolist() == [-1, -1, 0, 1]
    assert idx.lookup([12345]).tolist() == [-1]  # integers never match text ids
    with pytest.raises(KeyError, match="123456"):
        idx.positions(["123456"])
