"""Label-free structure: degree, clustering, 2-hop reach, Leiden communities, NMI.

All functions take a ``Graph`` or a square sparse adjacency (row = source). Clustering, reach and
communities read the graph as undirected and unweighted where noted: a tie either way is a tie.
Sparse products are done in row blocks so that ``B·B`` (all 2-hop paths) never has to be held
whole for a large graph.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TwoHop:
    """What one pass over ``B·B`` tells about every node and tie of the undirected pattern."""

    common: FloatArray  # per stored entry of the pattern, in CSR order: the tie's common neighbours
    triangles: IntArray  # per node
    reach: IntArray  # per node: distinct nodes within two hops, the node itself excluded

    def clustering(self, degree: IntArray) -> FloatArray:
        """Local clustering coefficient ``2 t_i / (d_i (d_i − 1))``, 0 when ``d_i < 2``."""
        d = degree.astype(np.float64)
        pairs = d * (d - 1)
        out = np.zeros(d.size, dtype=np.float64)
        np.divide(2.0 * self.triangles, pairs, out=out, where=pairs > 0)
        return out


def two_hop_summary(pattern: Any) -> TwoHop:
    """Common neighbours per tie, triangles and 2-hop reach per node, from one blockwise ``B·B``.

    ``pattern`` must be a symmetric 0/1 CSR adjacency without self-loops (``undirected_pattern``
    or the pattern of an undirected ``Graph``). Row blocks keep each product under ``_BLOCK_NNZ``
    entries, so memory stays bounded whatever the hubs. For a row ``i``: ``(B·B)[i, j]`` over its
    ties ``j`` are the common neighbours; their sum is twice its triangles; the distinct 2-hop
    set is the pattern of ``(B·B)[i]`` (which holds ``i`` itself once it has a tie) plus the
    ties with no common neighbour.
    """
    b = sp.csr_array(pattern)
    b.sort_indices()
    n = b.shape[0]
    common = np.zeros(b.nnz, dtype=np.float64)
    reach = np.zeros(n, dtype=np.int64)
    for rows in _row_blocks(b):
        part = b[rows]
        if part.nnz == 0:
            continue
        paths = sp.csr_array(part @ b)
        local_rows = np.repeat(np.arange(part.shape[0]), np.diff(part.indptr))
        values = np.asarray(paths[local_rows, part.indices]).reshape(-1)
        common[b.indptr[rows.start] : b.indptr[rows.stop]] = values
        unshared = np.bincount(local_rows, weights=values == 0, minlength=part.shape[0])
        has_tie = np.diff(part.indptr) > 0
        reach[rows] = np.diff(paths.indptr) + unshared.astype(np.int64) - has_tie
    all_rows = np.repeat(np.arange(n), np.diff(b.indptr))
    triangles = np.bincount(all_rows, weights=common, minlength=n).astype(np.int64) // 2
    return TwoHop(common=common, triangles=triangles, reach=reach)


def triangles(graph: Graph | Any) -> IntArray:
    """Triangles through each node of the undirected pattern: ``((B·B) ∘ B)·1 / 2``."""
    return two_hop_summary(undirected_pattern(graph)).triangles


def clustering(graph: Graph | Any) -> FloatArray:
    """Local clustering coefficient ``2 t_i / (d_i (d_i − 1))`` (0 when ``d_i < 2``), unweighted.

    Matches ``networkx.clustering`` on an undirected unweighted graph; a directed graph is read as
    undirected first.
    """
    b = undirected_pattern(graph)
    return two_hop_summary(b).clustering(np.diff(b.indptr).astype(np.int64))


def two_hop_reach(graph: Graph | Any) -> IntArray:
    """Distinct nodes within two hops (undirected), excluding the node itself."""
    return two_hop_summary(undirected_pattern(graph)).reach


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
    g = ig.Graph(n=n, directed=directed)
    # an (m, 2) integer array goes in without a Python list of pairs (3x faster at 5M ties)
    g.add_edges(np.column_stack([adj.row, adj.col]).astype(np.int64))
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
