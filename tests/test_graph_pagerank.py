"""PageRank: agreement with networkx (real and random graphs), batches, dtypes, properties."""

from __future__ import annotations

import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import breadth_first_order

from creditgraph.graph.csr import Graph, build_graph
from creditgraph.graph.pagerank import (
    ConvergenceError,
    ConvergenceWarning,
    pagerank,
    personalized_pagerank,
    seed_matrix,
    transition,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def to_networkx(g: Graph) -> nx.DiGraph:
    coo = g.adjacency.tocoo()
    out = nx.DiGraph()
    out.add_nodes_from(range(g.n_nodes))
    out.add_weighted_edges_from(
        zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True)
    )
    return out


def random_graph(seed: int, n: int = 300, m: int = 1200) -> Graph:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n // 2, m)  # nodes >= n/2 receive nothing; many are dangling
    weights = rng.uniform(0.1, 5.0, m)
    return build_graph(src, dst, weights, nodes=np.arange(n))


@pytest.mark.shared
def test_wiki_vote_matches_networkx() -> None:
    path = shared_file("wiki_vote", "Wiki-Vote.txt")
    edges = np.loadtxt(path, dtype=np.int64, comments="#")
    g = build_graph(edges[:, 0], edges[:, 1])
    assert g.n_nodes == 7115 and g.n_edges == 103_689
    ours = pagerank(g, tol=1e-13)
    ref = nx.pagerank(to_networkx(g), tol=1e-15, max_iter=1000)
    expected = np.array([ref[i] for i in range(g.n_nodes)])
    assert np.max(np.abs(ours.scores - expected)) < 1e-8
    assert ours.converged and abs(ours.scores.sum() - 1) < 1e-12


def test_personalised_matches_networkx_on_random_graph() -> None:
    g = random_graph(7)
    ref_graph = to_networkx(g)
    assert transition(g).has_dangling
    rng = np.random.default_rng(1)
    for seeds in ([0], [3, 10, 200], rng.choice(g.n_nodes, 20, replace=False).tolist()):
        weights = rng.uniform(0.5, 2.0, len(seeds))
        ours = personalized_pagerank(g, seeds, seed_weights=weights, tol=1e-13)
        pers = {int(s): float(w) for s, w in zip(seeds, weights, strict=True)}
        ref = nx.pagerank(ref_graph, personalization=pers, tol=1e-15, max_iter=1000)
        expected = np.array([ref[i] for i in range(g.n_nodes)])
        assert np.max(np.abs(ours.scores - expected)) < 1e-10


def test_custom_dangling_matches_networkx() -> None:
    g = random_graph(3)
    dangling = np.zeros(g.n_nodes)
    dangling[:5] = 1.0
    pers = np.zeros(g.n_nodes)
    pers[[7, 8]] = 1.0
    ours = pagerank(g, personalization=pers, dangling=dangling, tol=1e-13)
    ref = nx.pagerank(
        to_networkx(g),
        personalization={7: 1, 8: 1},
        dangling={i: 1 for i in range(5)},
        tol=1e-15,
        max_iter=1000,
    )
    assert np.max(np.abs(ours.scores - np.array([ref[i] for i in range(g.n_nodes)]))) < 1e-10


def test_batch_equals_one_by_one() -> None:
    g = random_graph(11)
    op = transition(g)
    sets = [[0], [1, 2, 3], [50, 60], list(range(100, 140))]
    batch = pagerank(op, personalization=seed_matrix(g.n_nodes, sets), tol=1e-13)
    assert batch.scores.shape == (g.n_nodes, len(sets))
    for k, seeds in enumerate(sets):
        single = personalized_pagerank(op, seeds, tol=1e-13)
        assert np.max(np.abs(batch.scores[:, k] - single.scores)) < 1e-12


def test_float32_close_to_float64() -> None:
    g = random_graph(5, n=2000, m=10_000)
    r64 = pagerank(g)
    r32 = pagerank(g, dtype=np.float32)
    assert r32.scores.dtype == np.float32
    assert np.max(np.abs(r32.scores - r64.scores)) < 1e-6


def test_non_convergence_raises_or_warns() -> None:
    g = random_graph(2)
    with pytest.raises(ConvergenceError, match="did not converge in 3 iterations"):
        pagerank(g, max_iter=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pagerank(g, max_iter=3, on_no_convergence="warn")
    assert not result.converged and result.iterations == 3
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert abs(result.scores.sum() - 1) < 1e-12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.0}, "alpha"),
        ({"personalization": np.full(300, -1.0)}, "non-negative"),
        ({"personalization": np.zeros(300)}, "positive mass"),
        ({"personalization": np.ones(5)}, "shape"),
        ({"tol": 0.0}, "tol"),
    ],
)
def test_bad_arguments_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pagerank(random_graph(0), **kwargs)  # type: ignore[arg-type]


edge_lists = st.integers(2, 25).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80),
        st.booleans(),
    )
)


def _graph(n: int, edges: list[tuple[int, int]], directed: bool) -> Graph:
    src = np.array([e[0] for e in edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges], dtype=np.int64)
    return build_graph(src, dst, directed=directed, nodes=np.arange(n))


@settings(max_examples=60, deadline=None)
@given(edge_lists, st.floats(0.05, 0.95))
def test_pagerank_is_a_distribution(
    case: tuple[int, list[tuple[int, int]], bool], a: float
) -> None:
    g = _graph(*case)
    scores = pagerank(g, alpha=a).scores
    assert np.all(scores >= 0)
    assert abs(scores.sum() - 1) < 1e-12


@settings(max_examples=60, deadline=None)
@given(edge_lists, st.data())
def test_personalised_is_zero_outside_reach(
    case: tuple[int, list[tuple[int, int]], bool], data: st.DataObject
) -> None:
    g = _graph(*case)
    n = g.n_nodes
    seeds = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
    scores = personalized_pagerank(g, seeds).scores
    reach = np.zeros(n, dtype=bool)
    for s in seeds:
        reach[breadth_first_order(g.adjacency, s, directed=True, return_predecessors=False)] = True
    assert np.all(scores[~reach] == 0.0)
    assert np.all(scores[seeds] > 0)
    assert abs(scores.sum() - 1) < 1e-12


@settings(max_examples=60, deadline=None)
@given(edge_lists, st.randoms(use_true_random=False))
def test_permutation_invariance(case: tuple[int, list[tuple[int, int]], bool], rnd: object) -> None:
    n, edges, directed = case
    perm = np.arange(n)
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    g = _graph(n, edges, directed)
    h = _graph(n, [(int(perm[u]), int(perm[v])) for u, v in edges], directed)
    pers = np.arange(1, n + 1, dtype=np.float64)
    pers_h = np.empty(n)
    pers_h[perm] = pers
    a = pagerank(g, personalization=pers, tol=1e-13).scores
    b = pagerank(h, personalization=pers_h, tol=1e-13).scores
    assert np.max(np.abs(a - b[perm])) < 1e-11


def test_threaded_blocks_give_the_same_result() -> None:
    g = random_graph(9, n=500, m=3000)
    one, three = transition(g, threads=1), transition(g, threads=3)
    assert len(three.blocks) == 3 and len(one.blocks) == 1
    assert (three.matrix_t != one.matrix_t).nnz == 0
    pers = seed_matrix(g.n_nodes, [[0, 1], [7], [100, 200, 300]])
    a = pagerank(one, personalization=pers, tol=1e-13).scores
    b = pagerank(three, personalization=pers, tol=1e-13).scores
    assert np.max(np.abs(a - b)) < 1e-15


def test_undirected_graph_skips_the_transpose_correctly() -> None:
    rng = np.random.default_rng(12)
    src, dst, w = rng.integers(0, 80, 300), rng.integers(0, 80, 300), rng.uniform(1, 3, 300)
    g = build_graph(src, dst, w, directed=False, nodes=np.arange(90))  # 10+ isolated: dangling
    as_matrix = transition(g.adjacency)  # a bare matrix takes the general path
    assert abs(transition(g).matrix_t - as_matrix.matrix_t).max() < 1e-15
    ref = nx.pagerank(nx.Graph(to_networkx(g)), personalization={3: 1.0}, tol=1e-15, max_iter=1000)
    ours = personalized_pagerank(g, [3], tol=1e-13).scores
    assert np.max(np.abs(ours - np.array([ref[i] for i in range(90)]))) < 1e-10
