"""Weighted adjacency in CSR form, built from edge arrays with every dropped edge counted.

Convention: ``adjacency[i, j]`` is the weight of the edge from node ``i`` to node ``j`` (row =
source). An undirected graph stores each tie in both directions with the same weight.

Edge-case rules (each counted in :class:`BuildReport`, so nothing is dropped silently):

- self-loops are dropped: a tie with oneself carries no exposure and would let a seed keep its own
  mass in PageRank;
- duplicate edges are merged, by ``sum`` (default: two e-mails are a stronger tie than one) or by
  ``max``; in an undirected graph ``(u, v)`` and ``(v, u)`` are the same tie;
- with a node universe, edges touching an unknown node are dropped (``on_unknown="drop"``) or
  rejected (``"raise"``); without one, the universe is the sorted set of endpoints;
- zero weights (given, or from a merge) are dropped: they carry no flow;
- negative weights raise :class:`NegativeWeightError` unless ``signed=True``; a signed graph keeps
  them and is split with :meth:`Graph.positive` / :meth:`Graph.negative` before any walk;
- no edges and no nodes is a valid empty graph.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

DuplicatePolicy = Literal["sum", "max"]
UnknownPolicy = Literal["drop", "raise"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
_EMPTY: IntArray = np.zeros(0, dtype=np.int64)


class EdgeInputError(ValueError):
    """An input edge the builder cannot accept; ``row`` is its 0-based position in the input."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


class NegativeWeightError(EdgeInputError):
    """A negative weight in a graph that was not declared signed."""


class InvalidWeightError(EdgeInputError):
    """A weight that is NaN or infinite."""


class UnknownNodeError(EdgeInputError, KeyError):
    """An edge endpoint outside the given node universe (``on_unknown="raise"``)."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return str(self.args[0])


def _as_ids(values: Any, name: str) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64) if arr.dtype.kind not in "US" else arr
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind in "US":
        return arr
    if arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr):
        return arr.astype(str)
    raise TypeError(f"{name} must hold integers or strings, got dtype {arr.dtype}")


def _same_kind(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    if a.size == 0 or b.size == 0:
        return True
    return (a.dtype.kind in "iu") == (b.dtype.kind in "iu")


@dataclass(frozen=True, eq=False)
class NodeIndex:
    """Node ids by position, with vectorised lookup of positions by id."""

    ids: npt.NDArray[Any]
    _sorter: IntArray

    @classmethod
    def from_ids(cls, ids: Any) -> NodeIndex:
        """Index the given ids in the given order; duplicates are an error."""
        arr = _as_ids(ids, "nodes")
        sorter = np.argsort(arr, kind="stable").astype(np.int64)
        ordered = arr[sorter]
        if ordered.size > 1:
            dup = np.flatnonzero(ordered[1:] == ordered[:-1])
            if dup.size:
                raise ValueError(f"node universe lists {ordered[dup[0]]!r} more than once")
        return cls(arr, sorter)

    @classmethod
    def from_edges(cls, src: npt.NDArray[Any], dst: npt.NDArray[Any]) -> NodeIndex:
        """The sorted set of all endpoints."""
        ids = np.unique(np.concatenate([src, dst])) if src.size else src[:0]
        return cls(ids, np.arange(ids.size, dtype=np.int64))

    @classmethod
    def index_edges(
        cls, src: npt.NDArray[Any], dst: npt.NDArray[Any]
    ) -> tuple[NodeIndex, IntArray, IntArray]:
        """The sorted set of endpoints and each endpoint's position, from one sort."""
        if not src.size:
            return cls(src[:0], np.zeros(0, dtype=np.int64)), _EMPTY, _EMPTY
        ids, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
        pos = inverse.reshape(-1).astype(np.int64)
        index = cls(ids, np.arange(ids.size, dtype=np.int64))
        return index, pos[: src.size], pos[src.size :]

    def __len__(self) -> int:
        return int(self.ids.size)

    def lookup(self, ids: Any) -> IntArray:
        """Positions of ``ids``; -1 where an id is not in the index."""
        arr = np.asarray(ids)
        if arr.size == 0 or self.ids.size == 0:
            return np.full(arr.shape, -1, dtype=np.int64)
        if not _same_kind(arr, self.ids):
            return np.full(arr.shape, -1, dtype=np.int64)
        if arr.dtype.kind in "iu":
            table = self._table()
            if table is not None:  # dense integer ids: one gather instead of a binary search
                lo = int(self.ids.min())
                off = arr.astype(np.int64) - lo
                inside = (off >= 0) & (off < table.size)
                return np.where(inside, table[np.where(inside, off, 0)], -1).astype(np.int64)
        sorted_ids = self.ids[self._sorter]
        pos = np.searchsorted(sorted_ids, arr)
        pos_clipped = np.minimum(pos, sorted_ids.size - 1)
        found = sorted_ids[pos_clipped] == arr
        return np.where(found, self._sorter[pos_clipped], -1).astype(np.int64)

    def _table(self) -> IntArray | None:
        lo, hi = int(self.ids.min()), int(self.ids.max())
        if hi - lo >= max(4 * self.ids.size, 1 << 20):
            return None
        table = np.full(hi - lo + 1, -1, dtype=np.int64)
        table[self.ids - lo] = np.arange(self.ids.size, dtype=np.int64)
        return table

    def positions(self, ids: Any) -> IntArray:
        """Positions of ``ids``; raises ``KeyError`` naming the first unknown id."""
        pos = self.lookup(ids)
        missing = np.flatnonzero(pos < 0)
        if missing.size:
            first = np.asarray(ids).reshape(-1)[missing[0]]
            raise KeyError(f"{missing.size} id(s) not in the graph, first {first!r}")
        return pos


@dataclass(frozen=True)
class BuildReport:
    """What the builder did with the input edges; all counts are input edges except ``edges``."""

    edges_in: int
    edges: int  # distinct edges stored (an undirected tie counts once)
    self_loops: int
    duplicates: int  # input edges merged into an earlier edge
    unknown: int  # edges dropped because an endpoint is outside the node universe
    zero_weight: int  # edges dropped because their (merged) weight is zero
    negative: int  # stored edges with a negative weight (signed graphs only)


@dataclass(frozen=True, eq=False)
class Graph:
    """A CSR adjacency with its node index; see the module docstring for the conventions."""

    adjacency: Any  # scipy.sparse.csr_array, float64, shape (n, n)
    index: NodeIndex
    directed: bool
    signed: bool
    report: BuildReport

    @property
    def n_nodes(self) -> int:
        return len(self.index)

    @property
    def n_edges(self) -> int:
        return self.report.edges

    def positive(self) -> Graph:
        """The edges with positive weight (all of them for an unsigned graph)."""
        return self._filtered(positive=True)

    def negative(self) -> Graph:
        """The edges with negative weight, as positive magnitudes."""
        return self._filtered(positive=False)

    def _filtered(self, *, positive: bool) -> Graph:
        adj = self.adjacency.copy()
        adj.data = np.where(adj.data > 0, adj.data, 0.0) if positive else np.maximum(-adj.data, 0)
        adj.eliminate_zeros()
        edges = adj.nnz if self.directed else adj.nnz // 2  # no self-loops are ever stored
        report = replace(self.report, edges=int(edges), negative=0)
        return Graph(adj, self.index, self.directed, False, report)


def _merge(
    key: IntArray, weights: FloatArray, how: DuplicatePolicy
) -> tuple[IntArray, FloatArray, int]:
    """Merge edges with equal key; returns unique keys, merged weights, number merged away."""
    if key.size == 0:
        return key, weights, 0
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    w_sorted = weights[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    reducer = np.add if how == "sum" else np.maximum
    merged = reducer.reduceat(w_sorted, starts)
    return key_sorted[starts], merged.astype(np.float64), int(key.size - starts.size)


def build_graph(
    src: Any,
    dst: Any,
    weights: Any = None,
    *,
    directed: bool = True,
    nodes: Any = None,
    duplicates: DuplicatePolicy = "sum",
    on_unknown: UnknownPolicy = "drop",
    signed: bool = False,
) -> Graph:
    """Build a CSR graph from parallel arrays of source ids, target ids and optional weights.

    Ids are integers or strings (not mixed). ``weights`` defaults to 1 per edge. ``nodes`` fixes
    the node universe and its order (isolated nodes included); without it the universe is the
    sorted set of endpoints.
    """
    if duplicates not in ("sum", "max"):
        raise ValueError(f"duplicates must be 'sum' or 'max', got {duplicates!r}")
    if on_unknown not in ("drop", "raise"):
        raise ValueError(f"on_unknown must be 'drop' or 'raise', got {on_unknown!r}")
    s = _as_ids(src, "src")
    d = _as_ids(dst, "dst")
    if s.size != d.size:
        raise ValueError(f"src has {s.size} ids but dst has {d.size}")
    if not _same_kind(s, d):
        raise TypeError("src and dst must both be integers or both be strings")
    m = int(s.size)
    if weights is None:
        w = np.ones(m, dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (m,):
            raise ValueError(f"weights must have shape ({m},), got {w.shape}")
        bad = np.flatnonzero(~np.isfinite(w))
        if bad.size:
            raise InvalidWeightError(f"weight {w[bad[0]]} is not finite", int(bad[0]))
        if not signed:
            neg = np.flatnonzero(w < 0)
            if neg.size:
                raise NegativeWeightError(
                    f"negative weight {w[neg[0]]:g}; build with signed=True to keep it",
                    int(neg[0]),
                )

    if nodes is not None:
        index = NodeIndex.from_ids(nodes)
        if not _same_kind(s, index.ids):
            raise TypeError("edge ids and node universe must both be integers or both strings")
        u = index.lookup(s)
        v = index.lookup(d)
    else:
        index, u, v = NodeIndex.index_edges(s, d)
    n = len(index)
    known = (u >= 0) & (v >= 0)
    unknown = int(m - known.sum())
    if unknown and on_unknown == "raise":
        row = int(np.flatnonzero(~known)[0])
        missing = s[row] if u[row] < 0 else d[row]
        raise UnknownNodeError(f"edge endpoint {missing!r} is not in the node universe", row)

    loop = known & (u == v)
    self_loops = int(loop.sum())
    keep = known & ~loop
    u, v, w = u[keep], v[keep], w[keep]
    if not directed:
        u, v = np.minimum(u, v), np.maximum(u, v)
    keys, merged, dup = _merge(u * max(n, 1) + v, w, duplicates)
    nonzero = merged != 0
    zero_weight = int(merged.size - nonzero.sum())
    keys, merged = keys[nonzero], merged[nonzero]
    rows, cols = keys // max(n, 1), keys % max(n, 1)
    if directed:  # keys are sorted row-major: the CSR arrays follow without another sort
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        adjacency = sp.csr_array((merged, cols, indptr), shape=(n, n))
    else:
        rows, cols = np.concatenate([rows, cols]), np.concatenate([cols, rows])
        data = np.concatenate([merged, merged])
        adjacency = sp.csr_array((data, (rows, cols)), shape=(n, n), dtype=np.float64)
    adjacency.sort_indices()
    report = BuildReport(
        edges_in=m,
        edges=int(keys.size),
        self_loops=self_loops,
        duplicates=dup,
        unknown=unknown,
        zero_weight=zero_weight,
        negative=int((merged < 0).sum()),
    )
    return Graph(adjacency, index, directed, signed, report)


def check_nonnegative(adjacency: Any, what: str = "adjacency") -> None:
    """Reject negative weights before a walk: a walk needs probabilities."""
    data = adjacency.data if sp.issparse(adjacency) else np.asarray(adjacency)
    if data.size and float(data.min()) < 0:
        raise ValueError(
            f"{what} has negative weights; split a signed graph with Graph.positive()/negative()"
        )
