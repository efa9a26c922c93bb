"""Exposure to known defaulters kept current as ties change: dynamic personalised PageRank.

The feature build scores exposure as the personalised PageRank of the undirected, weighted
credit graph seeded on known defaulters (``features/graph_features.py``: ``ALPHA = 0.85``,
``PPR_TOL = 1e-8``, seeds weighted uniformly, duplicate ties merged by ``max``, self-loops and
zero weights dropped). This module keeps that vector current between builds, so a monitor does
not rerun a power iteration over millions of ties for every tie added or ended.

Semantics are those of :mod:`creditgraph.graph.pagerank` exactly. With ``P = D⁻¹A`` (``D`` =
strength, the sum of a node's tie weights), seed distribution ``s`` and ``P'`` = ``P`` with
each dangling row (a node without ties) replaced by ``s``, the score is the fixed point of

    π = α P'ᵀ π + (1 − α) s.

**Forward local push** (Andersen, Chung and Lang, 2006) keeps an estimate ``p`` and a signed
residual ``r`` with the invariant, at every node ``v``,

    p_v + (1 − α) r_v = (1 − α) s_v + α Σ_u p_u P'_uv,

which is equivalent to ``π = p + Σ_u r_u π_u`` (``π_u`` the score seeded on ``u`` alone, a
probability vector). Hence ``‖π − p‖₁ ≤ ‖r‖₁``: :attr:`DynamicPPR.error_bound` is a certificate,
not an estimate. A push at ``u`` moves ``(1 − α) r_u`` into ``p_u`` and spreads ``α r_u`` over
``u``'s ties by weight (over the seeds, for a node without ties), keeping the invariant.
Pushing stops when every ``|r_u| ≤ eps · d_u`` (``eps`` for a node without ties).

**Tie changes** (Zhang, Lofgren and Goel, KDD 2016, weighted and undirected here): a change of
the weight of tie ``(u, v)`` by ``δ`` changes the rows of both endpoints. For endpoint ``u``
with strength ``d → d + δ`` (both positive), keeping ``q = p_u / d`` fixed leaves every other
neighbour's inflow unchanged, so only two residuals move:

    p_u ← q (d + δ),   r_u −= q δ / (1 − α),   r_v += α q δ / (1 − α).

When ``u`` gains its first tie or loses its last, its row switches between ``s`` and ``e_v``
and the seeds' residuals move by ``± α p_u s / (1 − α)``. Then the residuals that break the
threshold are pushed. Each update is O(1) plus the pushes it triggers.

**New defaulters** change ``s`` everywhere, which local push cannot fold in cheaply: they are
applied in one batch by an exact refresh (power iteration through
:func:`creditgraph.graph.pagerank.pagerank` on the current graph, the build's tolerance), after
which the residual is recomputed from the invariant so the certificate stays exact.

Ties live in per-node blocks of a shared pool with slack (capacity doubles when a block is full,
and the pool is compacted when half of it is abandoned blocks), so an insertion or deletion is
O(1) amortised plus a scan of one node's neighbours. Nodes are positions ``0..n-1``; the graph
grows when a tie names a new position. This module is pure: numpy and scipy, no I/O.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from creditgraph.graph.csr import BuildReport, Graph, NodeIndex, build_graph
from creditgraph.graph.pagerank import pagerank, seed_vector, transition

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

ALPHA = 0.85  # the feature build's damping
REFRESH_TOL = 1e-8  # the feature build's power-iteration tolerance (L1 change per step)
DEFAULT_EPS = 1e-10  # push threshold per unit of strength; see DynamicPPR.error_bound
_MIN_BLOCK = 4


class TieStore:
    """An undirected weighted graph stored as per-node blocks of neighbours with slack.

    ``start[u]`` is the first slot of ``u``'s block in ``nbr``/``wt``, ``deg[u]`` the slots in
    use and ``cap[u]`` the slots reserved. ``strength[u]`` is the sum of ``u``'s tie weights.
    """

    def __init__(self, n: int = 0) -> None:
        self.n = 0
        self.start: IntArray = np.zeros(0, dtype=np.int64)
        self.deg: IntArray = np.zeros(0, dtype=np.int64)
        self.cap: IntArray = np.zeros(0, dtype=np.int64)
        self.strength: FloatArray = np.zeros(0, dtype=np.float64)
        self.nbr: IntArray = np.zeros(0, dtype=np.int64)
        self.wt: FloatArray = np.zeros(0, dtype=np.float64)
        self.used = 0  # pool slots handed out to blocks (some abandoned by relocation)
        self.live = 0  # pool slots reserved by current blocks
        self.grow(n)

    @classmethod
    def from_csr(cls, adjacency: Any, slack: float = 0.25) -> TieStore:
        """Load a symmetric CSR adjacency, reserving ``slack`` extra slots per block."""
        adj = sp.csr_array(adjacency, dtype=np.float64)
        n = int(adj.shape[0])
        store = cls(n)
        deg = np.diff(adj.indptr).astype(np.int64)
        cap = np.maximum(_MIN_BLOCK, np.ceil(deg * (1 + slack)).astype(np.int64))
        start = np.zeros(n, dtype=np.int64)
        if n:
            start[1:] = np.cumsum(cap)[:-1]
        total = int(cap.sum())
        store.nbr = np.zeros(total, dtype=np.int64)
        store.wt = np.zeros(total, dtype=np.float64)
        slots = _block_slots(start, deg)
        store.nbr[slots] = adj.indices
        store.wt[slots] = adj.data
        store.start[:n], store.deg[:n], store.cap[:n] = start, deg, cap
        store.strength[:n] = np.asarray(adj.sum(axis=1)).reshape(-1)
        store.used = store.live = total
        return store

    def grow(self, n: int) -> None:
        """Make positions ``0..n-1`` exist (new ones without ties)."""
        if n <= self.n:
            return
        if n > self.start.size:
            size = max(n, 2 * self.start.size, 16)
            self.start = _resized(self.start, size)
            self.deg = _resized(self.deg, size)
            self.cap = _resized(self.cap, size)
            self.strength = _resized(self.strength, size)
        self.n = n

    def block(self, u: int) -> slice:
        s = int(self.start[u])
        return slice(s, s + int(self.deg[u]))

    def slot(self, u: int, v: int) -> int:
        """Pool slot of ``v`` in ``u``'s block, or -1."""
        b = self.block(u)
        hits = np.flatnonzero(self.nbr[b] == v)
        return int(b.start + hits[0]) if hits.size else -1

    def weight(self, u: int, v: int) -> float:
        if max(u, v) >= self.n:
            return 0.0
        i = self.slot(u, v)
        return float(self.wt[i]) if i >= 0 else 0.0

    def set_half(self, u: int, v: int, w: float) -> None:
        """Set the weight of ``v`` in ``u``'s block (0 removes it); one direction only."""
        i = self.slot(u, v)
        old = float(self.wt[i]) if i >= 0 else 0.0
        if i >= 0 and w > 0:
            self.wt[i] = w
        elif i >= 0:  # delete: move the block's last entry into the hole
            last = int(self.start[u] + self.deg[u] - 1)
            self.nbr[i], self.wt[i] = self.nbr[last], self.wt[last]
            self.deg[u] -= 1
        elif w > 0:
            if self.deg[u] == self.cap[u]:
                self._relocate(u)
            j = int(self.start[u] + self.deg[u])
            self.nbr[j], self.wt[j] = v, w
            self.deg[u] += 1
        else:
            return
        # an empty row has strength exactly 0, never a rounding remainder
        self.strength[u] = self.strength[u] + (w - old) if self.deg[u] else 0.0

    def _relocate(self, u: int) -> None:
        new_cap = max(_MIN_BLOCK, 2 * int(self.cap[u]))
        if self.used - self.live > self.live + new_cap:
            self._compact()
        if self.used + new_cap > self.nbr.size:
            size = max(self.used + new_cap, 2 * self.nbr.size)
            self.nbr = _resized(self.nbr, size)
            self.wt = _resized(self.wt, size)
        old = self.block(u)
        k = old.stop - old.start
        self.nbr[self.used : self.used + k] = self.nbr[old]
        self.wt[self.used : self.used + k] = self.wt[old]
        self.start[u] = self.used
        self.live += new_cap - int(self.cap[u])
        self.cap[u] = new_cap
        self.used += new_cap

    def _compact(self) -> None:
        """Drop abandoned blocks: rewrite the pool with each live block in node order."""
        n = self.n
        cap = self.cap[:n]
        start = np.zeros(n, dtype=np.int64)
        if n:
            start[1:] = np.cumsum(cap)[:-1]
        old = _block_slots(self.start[:n], self.deg[:n])
        new = _block_slots(start, self.deg[:n])
        nbr = np.zeros(self.nbr.size, dtype=np.int64)
        wt = np.zeros(self.wt.size, dtype=np.float64)
        nbr[new], wt[new] = self.nbr[old], self.wt[old]
        self.nbr, self.wt = nbr, wt
        self.start[:n] = start
        self.used = self.live = int(cap.sum())

    def adjacency(self) -> Any:
        """The current graph as a symmetric CSR adjacency (``n × n``, float64)."""
        n = self.n
        deg = self.deg[:n]
        slots = _block_slots(self.start[:n], deg)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(deg, out=indptr[1:])
        adj = sp.csr_array((self.wt[slots], self.nbr[slots], indptr), shape=(n, n))
        adj.sort_indices()
        return adj

    def as_graph(self) -> Graph:
        """The current graph as an undirected :class:`Graph` over positions ``0..n-1``.

        Marked undirected, so :func:`transition` scales columns instead of transposing.
        """
        adj = self.adjacency()
        positions = np.arange(self.n, dtype=np.int64)
        ties = self.n_ties
        report = BuildReport(ties, ties, 0, 0, 0, 0, 0)
        return Graph(adj, NodeIndex(positions, positions), False, False, report)

    @property
    def n_ties(self) -> int:
        return int(self.deg[: self.n].sum()) // 2


class DynamicPPR:
    """Personalised PageRank from one seed set, maintained under tie changes by local push.

    ``eps`` is the push threshold per unit of strength: smaller is closer to the exact vector
    and costs more pushes per update (:attr:`error_bound` says how close). Build one per seed
    set (the build's out-of-fold columns are one instance each). The work of an update grows
    with the residual it moves over ``eps``, and scores shrink as ``1/n``: ``eps ≈ 0.1 / n``
    kept the max-abs error near 2e-7 at a million people with p99 updates near 0.1 ms
    (``bench/exposure.py``); the small default suits graphs of a few hundred nodes.
    """

    def __init__(
        self,
        n: int = 0,
        *,
        alpha: float = ALPHA,
        eps: float = DEFAULT_EPS,
        tol: float = REFRESH_TOL,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if eps <= 0 or tol <= 0:
            raise ValueError("eps and tol must be positive")
        self.alpha, self.eps, self.tol = float(alpha), float(eps), float(tol)
        self.ties = TieStore(n)
        size = self.ties.start.size
        self.p: FloatArray = np.zeros(size, dtype=np.float64)
        self.r: FloatArray = np.zeros(size, dtype=np.float64)
        self.s: FloatArray = np.zeros(size, dtype=np.float64)
        self.seeds: IntArray = np.zeros(0, dtype=np.int64)
        self.pushes = 0  # pushes done since construction, for measurement

    @classmethod
    def from_edges(
        cls,
        n: int,
        edge_a: Any,
        edge_b: Any,
        strength: Any,
        seeds: Any,
        seed_weights: Any = None,
        **kwargs: Any,
    ) -> DynamicPPR:
        """Start from an as-of edge list as the build reads it, then refresh exactly."""
        graph = build_graph(
            np.asarray(edge_a, dtype=np.int64),
            np.asarray(edge_b, dtype=np.int64),
            strength,
            directed=False,
            nodes=np.arange(n, dtype=np.int64),
            duplicates="max",
        )
        state = cls(0, **kwargs)
        state.ties = TieStore.from_csr(graph.adjacency)
        state._grow_vectors()
        state.set_seeds(seeds, seed_weights)
        return state

    # -- reading -------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return self.ties.n

    def scores(self) -> FloatArray:
        """The maintained exposure vector (probabilities; the build's feature is this × n)."""
        return self.p[: self.n].copy()

    @property
    def error_bound(self) -> float:
        """``‖r‖₁``, an upper bound on both the L1 and max-abs distance to the exact vector."""
        return float(np.abs(self.r[: self.n]).sum())

    def weight(self, u: int, v: int) -> float:
        return self.ties.weight(u, v)

    # -- tie changes ---------------------------------------------------------------------------

    def set_tie(self, u: int, v: int, weight: float) -> int:
        """Set tie ``(u, v)`` to ``weight`` (0 ends it) and restore the push bound.

        Returns the pushes it took. A self-tie is ignored, as the build drops self-loops.
        """
        w = float(weight)
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"tie weight must be finite and non-negative, got {weight!r}")
        u, v = int(u), int(v)
        if min(u, v) < 0:
            raise IndexError("node positions must be non-negative")
        if u == v:
            return 0
        if max(u, v) >= self.n:
            if w == 0:
                return 0
            self.ties.grow(max(u, v) + 1)
            self._grow_vectors()
        old = self.ties.weight(u, v)
        if old == w:
            return 0
        d_u, d_v = float(self.ties.strength[u]), float(self.ties.strength[v])
        self.ties.set_half(u, v, w)
        self.ties.set_half(v, u, w)
        self._row_changed(u, v, d_u, float(self.ties.strength[u]), w - old)
        self._row_changed(v, u, d_v, float(self.ties.strength[v]), w - old)
        return self._push([u, v, *self._dangling_targets(d_u, d_v, u, v)])

    def remove_tie(self, u: int, v: int) -> int:
        return self.set_tie(u, v, 0.0)

    def _row_changed(self, u: int, v: int, d0: float, d1: float, delta: float) -> None:
        """Restore the invariant after row ``u`` changed by ``delta`` on its tie to ``v``."""
        c = self.alpha / (1 - self.alpha)
        p, r = self.p, self.r
        if d0 > 0 and d1 > 0:
            q = p[u] / d0
            p[u] = q * d1
            r[u] -= q * delta / (1 - self.alpha)
            r[v] += c * q * delta
        elif d0 > 0:  # lost its last tie: the row was e_v and is now s
            m = c * p[u]
            r[v] -= m
            r[self.seeds] += m * self.s[self.seeds]
        elif d1 > 0:  # gained its first tie: the row was s and is now e_v
            m = c * p[u]
            r[self.seeds] -= m * self.s[self.seeds]
            r[v] += m

    def _dangling_targets(self, d_u: float, d_v: float, u: int, v: int) -> list[int]:
        """Seeds whose residual moved because an endpoint gained its first or lost its last tie."""
        moved = [(d_u > 0) != (self.ties.strength[u] > 0), (d_v > 0) != (self.ties.strength[v] > 0)]
        if any(moved) and (self.p[u] or self.p[v]):
            return [int(x) for x in self.seeds]
        return []

    # -- seeds ---------------------------------------------------------------------------------

    def set_seeds(self, seeds: Any, weights: Any = None) -> int:
        """Replace the seed set (weights default to uniform) and refresh exactly."""
        pos = np.asarray(seeds, dtype=np.int64).reshape(-1)
        if pos.size and pos.max() >= self.n:
            self.ties.grow(int(pos.max()) + 1)
            self._grow_vectors()
        vec = seed_vector(self.n, pos, weights)
        self.s[:] = 0.0
        total = vec.sum()
        if total > 0:
            self.s[: self.n] = vec / total
        self.seeds = np.flatnonzero(self.s[: self.n] > 0).astype(np.int64)
        return self.refresh()

    def add_defaulters(self, positions: Any) -> int:
        """Fold a batch of new defaulters into a uniform seed set with one exact refresh."""
        current = self.seeds
        new = np.unique(np.concatenate([current, np.asarray(positions, dtype=np.int64)]))
        return self.set_seeds(new)

    def refresh(self) -> int:
        """Recompute ``p`` exactly on the current graph; the residual follows from the invariant.

        Returns the pushes needed afterwards (residuals above the threshold, if ``tol`` leaves
        any).
        """
        n = self.n
        self.p[:] = 0.0
        self.r[:] = 0.0
        if n == 0 or self.seeds.size == 0:
            return 0
        s = self.s[:n]
        op = transition(self.ties.as_graph())
        x = np.asarray(pagerank(op, alpha=self.alpha, personalization=s, tol=self.tol).scores)
        with ThreadPoolExecutor(max(1, len(op.blocks) - 1)) as pool:
            spread = op.apply(x, pool)
        if op.has_dangling:
            spread += x[op.dangling].sum() * s
        self.p[:n] = x
        self.r[:n] = s + (self.alpha * spread - x) / (1 - self.alpha)
        over = np.flatnonzero(np.abs(self.r[:n]) > self._thresholds(np.arange(n)))
        return self._push(over.tolist())

    # -- push ----------------------------------------------------------------------------------

    def _thresholds(self, nodes: IntArray) -> FloatArray:
        d = self.ties.strength[nodes]
        out: FloatArray = self.eps * np.where(d > 0, d, 1.0)
        return out

    def _push(self, queue_start: list[int]) -> int:
        """Push every residual above its threshold, first in first out."""
        alpha, eps = self.alpha, self.eps
        p, r, ties = self.p, self.r, self.ties
        strength, start, deg, nbr, wt = ties.strength, ties.start, ties.deg, ties.nbr, ties.wt
        queue = deque(queue_start)
        pushes = 0
        while queue:
            u = queue.popleft()
            ru = float(r[u])
            du = float(strength[u])
            if abs(ru) <= eps * (du if du > 0 else 1.0):
                continue
            pushes += 1
            p[u] += (1 - alpha) * ru
            r[u] = 0.0
            k = int(deg[u])
            if k == 0:
                targets = self.seeds
                r[targets] += (alpha * ru) * self.s[targets]
            else:
                s0 = int(start[u])
                targets = nbr[s0 : s0 + k]
                r[targets] += (alpha * ru / du) * wt[s0 : s0 + k]
            d = strength[targets]
            over = targets[np.abs(r[targets]) > eps * np.where(d > 0, d, 1.0)]
            if over.size:
                queue.extend(over.tolist())
        self.pushes += pushes
        return pushes

    def _grow_vectors(self) -> None:
        size = self.ties.start.size
        if self.p.size < size:
            self.p = _resized(self.p, size)
            self.r = _resized(self.r, size)
            self.s = _resized(self.s, size)


def _resized(arr: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    """A copy of ``arr`` with ``size`` slots, the new ones zero."""
    out = np.zeros(size, dtype=arr.dtype)
    k = min(size, arr.size)
    out[:k] = arr[:k]
    return out


def _block_slots(start: IntArray, deg: IntArray) -> IntArray:
    """Pool slots of every used entry, block by block in node order."""
    total = int(deg.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.zeros(deg.size, dtype=np.int64)
    first[1:] = np.cumsum(deg)[:-1]
    slots: IntArray = np.arange(total, dtype=np.int64) + np.repeat(start - first, deg)
    return slots
