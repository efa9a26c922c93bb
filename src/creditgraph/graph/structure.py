"""Label-free structure: degree, clustering, 2-hop reach, Leiden communities, NMI.

All functions take a ``Graph`` or a square sparse adjacency (row = source). Clustering, reach and
communities read the graph as undirected and unweighted where noted: a tie either way is a tie.
Sparse products are done in row blocks so that ``B·B`` (all 2-hop paths) never has to be held
whole for a large graph.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, Literal

import igraph as ig
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from creditgraph.graph.csr import Graph

DegreeMode = Literal["out", "in", "all"]
Objective = Literal["modularity", "cpm"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_BLOCK_NNZ = 20_000_000  # rough cap on the 2-hop entries materialised per block


def _adjacency(graph: Graph | Any) -> Any:
    adj = graph.adjacency if isinstance(graph, Graph) else graph
    adj = sp.csr_array(adj)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {adj.shape}")
    return adj


def undirected_pattern(graph: Graph | Any) -> Any:
    """Binary symmetric adjacency without self-loops: who is tied to whom, either way."""
    adj = _adjacency(graph)
    b = (adj != 0).astype(np.int64)
    b = ((b + b.T) > 0).astype(np.int64).tocsr()
    b.setdiag(0)
    b.eliminate_zeros()
    b.sort_indices()
    return b


def degree(graph: Graph | Any, mode: DegreeMode = "all") -> IntArray:
    """Number of distinct neighbours: out-, in-, or either way (``all``)."""
    adj = _adjacency(graph)
    if mode == "all":
        pattern = undirected_pattern(adj)
        counts: IntArray = np.diff(pattern.indptr).astype(np.int64)
        return counts
    b = (adj != 0).astype(np.int64)
    axis = 1 if mode == "out" else 0
    if mode not in ("out", "in"):
        raise ValueError(f"mode must be out, in or all, got {mode!r}")
    return np.asarray(b.sum(axis=axis)).reshape(-1).astype(np.int64)


def strength(graph: Graph | Any, mode: Literal["out", "in"] = "out") -> FloatArray:
    """Sum of edge weights leaving (``out``) or entering (``in``) each node."""
    adj = _adjacency(graph)
    return np.asarray(adj.sum(axis=1 if mode == "out" else 0), dtype=np.float64).reshape(-1)


def _row_blocks(b: Any) -> Iterator[slice]:
    """Row ranges whose 2-hop products stay under the block cap."""
    n = b.shape[0]
    if n == 0:
        return
    deg = np.diff(b.indptr)
    # entries of row i of B·B are bounded by sum of neighbours' degrees
    cost = np.asarray(b @ deg).reshape(-1) + 1
    cum = np.cumsum(cost)
    start = 0
    while start < n:
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + _BLOCK_NNZ, side="right"))
        stop = max(stop, start + 1)
        yield slice(start, min(stop, n))
        start = stop


def triangles(graph: Graph | Any) -> IntArray:
    """Triangles through each node of the undirected pattern: ``((B·B) ∘ B)·1 / 2``."""
    b = undirected_pattern(graph)
    out = np.zeros(b.shape[0], dtype=np.int64)
    for rows in _row_blocks(b):
        part = b[rows]
        closed = (part @ b).multiply(part)
        out[rows] = np.asarray(closed.sum(axis=1)).reshape(-1) // 2
    return out


def clustering(graph: Graph | Any) -> FloatArray:
    """Local clustering coefficient ``2 t_i / (d_i (d_i − 1))`` (0 when ``d_i < 2``), unweighted.

    Matches ``networkx.clustering`` on an undirected unweighted graph; a directed graph is read as
    undirected first.
    """
    b = undirected_pattern(graph)
    t = triangles(b).astype(np.float64)
    d = np.diff(b.indptr).astype(np.float64)
    pairs = d * (d - 1)
    out = np.zeros_like(t)
    np.divide(2.0 * t, pairs, out=out, where=pairs > 0)
    return out


def two_hop_reach(graph: Graph | Any) -> IntArray:
    """Distinct nodes within two hops (undirected), excluding the node itself."""
    b = undirected_pattern(graph)
    out = np.zeros(b.shape[0], dtype=np.int64)
    for rows in _row_blocks(b):
        part = b[rows]
        reach = (part @ b + part).tocsr()
        reach.data[:] = 1
        # B has no self-loops, so B·B reaches the node itself exactly when it has a neighbour
        has_neighbour = np.diff(part.indptr) > 0
        out[rows] = np.diff(reach.indptr) - has_neighbour.astype(np.int64)
    return out


def to_igraph(graph: Graph | Any, *, directed: bool = False) -> tuple[ig.Graph, FloatArray]:
    """An igraph Graph on positions ``0..n-1`` and its edge weights (summed when made undirected)."""
    adj = _adjacency(graph)
    n = adj.shape[0]
    if not directed:
        sym = sp.csr_array(adj + adj.T)
        sym.setdiag(0)
        sym.eliminate_zeros()
        adj = sp.triu(sym, k=1, format="coo")
    else:
        adj = adj.tocoo()
    g = ig.Graph(n=n, edges=np.column_stack([adj.row, adj.col]).tolist(), directed=directed)
    return g, np.asarray(adj.data, dtype=np.float64)


def leiden(
    graph: Graph | Any,
    *,
    objective: Objective = "modularity",
    resolution: float = 1.0,
    weighted: bool = True,
    seed: int = 0,
    n_iterations: int = -1,
) -> IntArray:
    """Community label per node by Leiden, seeded, on the undirected graph.

    Runs igraph's C implementation of Leiden (``community_leiden``): the same algorithm as the
    leidenalg package, measured 20-25x faster on our credit graphs, which matters at a million
    people. ``objective="modularity"`` ignores ``resolution``; ``"cpm"`` uses it as the density
    threshold. The random generator is seeded for the call only, and labels are numbered by
    decreasing community size (ties by first member), so a seed reproduces the labels exactly.
    """
    if objective not in ("modularity", "cpm"):
        raise ValueError(f"objective must be 'modularity' or 'cpm', got {objective!r}")
    g, w = to_igraph(graph, directed=False)
    if g.vcount() == 0:
        return np.zeros(0, dtype=np.int64)
    weights = w.tolist() if weighted and g.ecount() else None
    state = random.getstate()
    random.seed(seed)
    try:
        ig.set_random_number_generator(random)
        part = g.community_leiden(
            objective_function="modularity" if objective == "modularity" else "CPM",
            weights=weights,
            resolution=1.0 if objective == "modularity" else resolution,
            n_iterations=n_iterations,
        )
    finally:
        random.setstate(state)
    return _by_size(np.asarray(part.membership, dtype=np.int64))


def _by_size(labels: IntArray) -> IntArray:
    """Renumber labels 0..k-1 by decreasing size, ties by the first node of each community."""
    _, first, inverse, counts = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.lexsort((first, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)].astype(np.int64)


def nmi(labels_a: Any, labels_b: Any) -> float:
    """Normalised mutual information ``2 I(A;B) / (H(A) + H(B))`` (Danon et al. 2005).

    The arithmetic-mean normalisation of igraph's ``compare_communities(method="nmi")`` and
    scikit-learn's default. Two single-cluster labellings score 1.
    """
    a = np.unique(np.asarray(labels_a), return_inverse=True)[1].reshape(-1)
    b = np.unique(np.asarray(labels_b), return_inverse=True)[1].reshape(-1)
    if a.size != b.size:
        raise ValueError(f"labellings differ in length: {a.size} and {b.size}")
    n = a.size
    if n == 0:
        return 1.0
    table = sp.coo_array((np.ones(n), (a, b))).tocsr()
    joint = table.data / n
    rows = np.repeat(np.arange(table.shape[0]), np.diff(table.indptr))
    pa = np.bincount(a) / n
    pb = np.bincount(b) / n
    mi = float(np.sum(joint * np.log(joint / (pa[rows] * pb[table.indices]))))
    ha = float(-np.sum(pa * np.log(pa)))
    hb = float(-np.sum(pb * np.log(pb)))
    if ha + hb == 0:
        return 1.0
    return max(0.0, 2.0 * mi / (ha + hb))
