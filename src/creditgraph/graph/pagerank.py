"""PageRank and personalised PageRank by power iteration on a CSR adjacency.

With ``P = D⁻¹A`` the row-normalised adjacency (``D`` = out-strength), personalisation ``p`` and
dangling distribution ``d`` (both summing to 1), each step is

    x ← α (Pᵀx + (Σ_{j dangling} x_j) d) + (1 − α) p

which is networkx's ``pagerank`` exactly: a dangling node (no out-weight) sends its mass along
``d``, which defaults to ``p``. The iteration starts at ``p``, so a personalised score is exactly
zero outside the set reachable from the seeds at every step, not only at convergence. It stops
when the L1 change ``‖x_k − x_{k−1}‖₁ < tol`` (networkx instead compares with ``n·tol``).

Several personalisation vectors can be given as the columns of an ``(n, k)`` matrix: each step is
then one sparse-times-dense product for all ``k`` seed sets.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from creditgraph.graph.csr import Graph, check_nonnegative

OnNoConvergence = Literal["raise", "warn"]

DEFAULT_TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-6}
PARALLEL_MIN_NNZ = 1_000_000  # below this, thread hand-offs cost more than they save


class ConvergenceError(RuntimeError):
    """Power iteration did not reach ``tol`` within ``max_iter`` steps."""

    def __init__(self, iterations: int, residual: float, tol: float, dtype: np.dtype[Any]) -> None:
        hint = " (float32 cannot resolve much below 1e-6)" if dtype == np.float32 else ""
        super().__init__(
            f"power iteration did not converge in {iterations} iterations: "
            f"L1 change {residual:.3g} >= tol {tol:.3g}{hint}"
        )
        self.iterations = iterations
        self.residual = residual
        self.tol = tol


class ConvergenceWarning(UserWarning):
    """Emitted instead of :class:`ConvergenceError` when ``on_no_convergence="warn"``."""


@dataclass(frozen=True, eq=False)
class Transition:
    """``Pᵀ`` in CSR row blocks, and the dangling nodes; build once, reuse for many seed sets.

    Each step is one sparse product per block; blocks run on threads (scipy's sparse kernels
    release the GIL), so a large graph uses every core the process may run on.
    """

    blocks: tuple[Any, ...]  # scipy.sparse.csr_array row blocks of Pᵀ, top to bottom
    starts: tuple[int, ...]  # first row of each block
    n: int
    dangling: npt.NDArray[np.int64]  # positions of nodes without out-weight
    dtype: np.dtype[Any]

    @property
    def has_dangling(self) -> bool:
        return bool(self.dangling.size)

    @property
    def matrix_t(self) -> Any:
        """``Pᵀ`` as one CSR array."""
        if len(self.blocks) == 1:
            return self.blocks[0]
        return sp.csr_array(sp.vstack(self.blocks, format="csr"))

    def apply(self, x: npt.NDArray[Any], pool: ThreadPoolExecutor | None) -> npt.NDArray[Any]:
        """``Pᵀ x`` for a vector or an ``(n, k)`` matrix."""
        if pool is None or len(self.blocks) == 1:
            return np.asarray(self.matrix_t @ x)
        out = np.empty(x.shape, dtype=np.result_type(self.dtype, x.dtype))
        ends = (*self.starts[1:], self.n)

        def run(i: int) -> None:
            out[self.starts[i] : ends[i]] = self.blocks[i] @ x

        futures = [pool.submit(run, i) for i in range(1, len(self.blocks))]
        run(0)
        for future in futures:
            future.result()
        return out


def default_threads(nnz: int) -> int:
    """Threads worth starting: one per available core for large graphs, else one."""
    if nnz < PARALLEL_MIN_NNZ:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def transition(
    adjacency: Any, dtype: npt.DTypeLike = np.float64, threads: int | None = None
) -> Transition:
    """Row-normalise a non-negative adjacency (``Graph`` or sparse matrix) and transpose it.

    ``threads`` splits ``Pᵀ`` into that many row blocks of equal non-zeros (default: one per
    core for graphs with at least a million edges).
    """
    dt = np.dtype(dtype)
    if dt not in DEFAULT_TOL:
        raise ValueError(f"dtype must be float64 or float32, got {dt}")
    adj = adjacency.adjacency if isinstance(adjacency, Graph) else adjacency
    adj = sp.csr_array(adj, dtype=np.float64)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {adj.shape}")
    check_nonnegative(adj)
    adj.sum_duplicates()
    n = int(adj.shape[0])
    out = np.asarray(adj.sum(axis=1)).reshape(-1)
    inv = np.zeros_like(out)
    np.divide(1.0, out, out=inv, where=out > 0)
    if isinstance(adjacency, Graph) and not adjacency.directed:
        # A is symmetric, so Pᵀ = (D⁻¹A)ᵀ = A D⁻¹: scale columns, no transpose needed
        scaled = adj.data * inv[adj.indices]
        p_t = sp.csr_array((scaled.astype(dt), adj.indices, adj.indptr), shape=adj.shape)
    else:
        scaled = adj.data * np.repeat(inv, np.diff(adj.indptr))
        p = sp.csr_array((scaled, adj.indices, adj.indptr), shape=adj.shape)
        p_t = sp.csr_array(p.T.tocsr(), dtype=dt)
    p_t.sort_indices()
    k = threads if threads is not None else default_threads(p_t.nnz)
    k = max(1, min(int(k), max(n, 1)))
    starts: tuple[int, ...] = (0,)
    if k > 1:
        cuts = np.searchsorted(p_t.indptr, np.linspace(0, p_t.nnz, k + 1)[1:-1])
        starts = tuple(sorted({0, *(int(c) for c in cuts if 0 < c < n)}))
    ends = (*starts[1:], n)
    blocks = (
        tuple(p_t[a:b] for a, b in zip(starts, ends, strict=True)) if len(starts) > 1 else (p_t,)
    )
    dangling = np.flatnonzero(out == 0).astype(np.int64)
    return Transition(blocks, starts, n, dangling, dt)


@dataclass(frozen=True, eq=False)
class PageRankResult:
    """Scores (``(n,)``, or ``(n, k)`` for a batch), steps taken and the last L1 change."""

    scores: npt.NDArray[np.floating[Any]]
    iterations: int
    residual: float
    converged: bool


def _distribution(
    values: Any, n: int, dt: np.dtype[Any], name: str
) -> npt.NDArray[np.floating[Any]]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    total = arr.sum(axis=0)
    if np.any(total <= 0):
        raise ValueError(f"{name} must have positive mass (in every column)")
    out: npt.NDArray[np.floating[Any]] = (arr / total).astype(dt)
    return out


def seed_vector(n: int, seeds: Any, weights: Any = None) -> npt.NDArray[np.float64]:
    """A personalisation vector with mass on the seed positions (weighted, or uniform)."""
    pos = np.asarray(seeds, dtype=np.int64).reshape(-1)
    if pos.size and (pos.min() < 0 or pos.max() >= n):
        raise IndexError(f"seed positions must be in [0, {n})")
    p = np.zeros(n, dtype=np.float64)
    w = np.ones(pos.size) if weights is None else np.asarray(weights, dtype=np.float64)
    np.add.at(p, pos, w)
    return p


def seed_matrix(n: int, seed_sets: Any) -> npt.NDArray[np.float64]:
    """One personalisation column per seed set, for a batched run."""
    cols = [seed_vector(n, s) for s in seed_sets]
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0))


def pagerank(
    graph: Graph | Transition | Any,
    *,
    alpha: float = 0.85,
    personalization: Any = None,
    dangling: Any = None,
    tol: float | None = None,
    max_iter: int = 1000,
    dtype: npt.DTypeLike = np.float64,
    on_no_convergence: OnNoConvergence = "raise",
) -> PageRankResult:
    """PageRank of a ``Graph``, sparse adjacency or prepared ``Transition``.

    ``personalization`` is a length-``n`` vector or an ``(n, k)`` matrix of seed weights (each
    column normalised to 1; default uniform). ``dangling`` defaults to the personalisation, as in
    networkx. ``tol`` defaults to 1e-10 for float64 and 1e-6 for float32. A ``Transition`` fixes
    the dtype.
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    if on_no_convergence not in ("raise", "warn"):
        raise ValueError("on_no_convergence must be 'raise' or 'warn'")
    op = graph if isinstance(graph, Transition) else transition(graph, dtype)
    dt = op.dtype
    tol = DEFAULT_TOL[dt] if tol is None else float(tol)
    if tol <= 0:
        raise ValueError("tol must be positive")
    n = op.n
    if personalization is None:
        p = np.full(n, 1.0 / max(n, 1), dtype=dt)
    else:
        p = _distribution(personalization, n, dt, "personalization")
    if n == 0:
        return PageRankResult(np.zeros(p.shape, dtype=dt), 0, 0.0, True)
    if dangling is None:
        d = p
    else:
        d = _distribution(dangling, n, dt, "dangling")
        if d.ndim == 1 and p.ndim == 2:
            d = np.repeat(d[:, None], p.shape[1], axis=1)
        if d.shape != p.shape:
            raise ValueError(f"dangling shape {d.shape} does not match personalization {p.shape}")

    a = dt.type(alpha)
    teleport = (1 - a) * p
    x = p.copy()
    residual = np.inf
    it = 0
    with ExitStack() as stack:
        pool = None
        if len(op.blocks) > 1:
            pool = stack.enter_context(ThreadPoolExecutor(len(op.blocks) - 1))
        for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
            nxt = op.apply(x, pool)
            nxt *= a
            # dangling mass: a plain sum, not a BLAS dot (no BLAS thread start-up per step)
            mass = a * x[op.dangling].sum(axis=0) if op.has_dangling else dt.type(0)
            if d is p:  # default: one pass adds the teleport and the dangling mass together
                nxt += (1 - a + mass) * p
            else:
                nxt += mass * d
                nxt += teleport
            residual = float(np.max(np.abs(nxt - x).sum(axis=0)))
            x = nxt
            if residual < tol:
                break
    converged = residual < tol
    if not converged:
        err = ConvergenceError(it, residual, tol, dt)
        if on_no_convergence == "raise":
            raise err
        warnings.warn(str(err), ConvergenceWarning, stacklevel=2)
    x /= x.sum(axis=0)
    return PageRankResult(x, it, residual, converged)


def pagerank_batches(
    op: Transition,
    batches: Mapping[str, Any],
    *,
    alpha: float = 0.85,
    tol: float | None = None,
    max_iter: int = 1000,
) -> dict[str, PageRankResult]:
    """Several batched PageRanks on one operator, in one loop: each stops at its own step.

    Each batch is an ``(n, k)`` personalisation (columns normalised; dangling mass follows the
    personalisation, as in :func:`pagerank`). The batches share every sparse product, so the
    matrix is read once per step instead of once per batch; a batch that has converged leaves
    the product. Each result is the one :func:`pagerank` gives for that batch alone.
    """
    dt = op.dtype
    tol = DEFAULT_TOL[dt] if tol is None else float(tol)
    a = dt.type(alpha)
    n = op.n
    names = [name for name, cols in batches.items() if np.asarray(cols).shape[-1] > 0]
    ps = {
        name: _distribution(np.asarray(batches[name]).reshape(n, -1), n, dt, name) for name in names
    }
    out: dict[str, PageRankResult] = {}
    if not names:
        return out
    if n == 0:
        return {name: PageRankResult(ps[name].copy(), 0, 0.0, True) for name in names}
    support: dict[str, npt.NDArray[np.int64] | None] = {}
    for name in names:
        rows = np.flatnonzero(ps[name].any(axis=1))
        support[name] = rows if rows.size < n // 4 else None
    active = list(names)
    p = np.concatenate([ps[name] for name in active], axis=1)
    x = p.copy()
    with ExitStack() as stack:
        pool = None
        if len(op.blocks) > 1:
            pool = stack.enter_context(ThreadPoolExecutor(len(op.blocks) - 1))
        for it in range(1, max_iter + 1):
            nxt = op.apply(x, pool)
            nxt *= a
            mass = a * x[op.dangling].sum(axis=0) if op.has_dangling else dt.type(0)
            coef = np.broadcast_to(1 - a + mass, (p.shape[1],))
            start = 0
            for name in active:  # seeds are few: add the restart only where a batch has mass
                width = ps[name].shape[1]
                restart_rows = support[name]
                block = slice(start, start + width)
                if restart_rows is None:
                    nxt[:, block] += coef[block] * p[:, block]
                else:
                    nxt[restart_rows, block] += coef[block] * p[restart_rows, block]
                start += width
            np.subtract(nxt, x, out=x)  # the old iterate's memory holds the change
            np.abs(x, out=x)
            change = x.sum(axis=0)
            x = nxt
            keep, start = [], 0
            for name in active:
                width = ps[name].shape[1]
                cols = slice(start, start + width)
                residual = float(np.max(change[cols]))
                if residual < tol or it == max_iter:
                    scores = x[:, cols] / x[:, cols].sum(axis=0)
                    out[name] = PageRankResult(scores, it, residual, residual < tol)
                else:
                    keep.append((name, cols))
                start += width
            if len(keep) < len(active):
                active = [name for name, _ in keep]
                if not active:
                    break
                index = np.concatenate([np.arange(c.start, c.stop) for _, c in keep])
                x, p = x[:, index], p[:, index]
    for name in names:
        if not out[name].converged:
            result = out[name]
            raise ConvergenceError(result.iterations, result.residual, tol, dt)
    return {name: out[name] for name in names}


def personalized_pagerank(
    graph: Graph | Transition | Any,
    seeds: Any,
    *,
    seed_weights: Any = None,
    **kwargs: Any,
) -> PageRankResult:
    """Personalised PageRank seeded on node positions (uniform, or by ``seed_weights``)."""
    n = graph.n if isinstance(graph, Transition) else _size(graph)
    return pagerank(graph, personalization=seed_vector(n, seeds, seed_weights), **kwargs)


def _size(graph: Any) -> int:
    adj = graph.adjacency if isinstance(graph, Graph) else graph
    return int(adj.shape[0])
