"""Small vectorised helpers shared by the generators."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def unique_sorted(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sorted distinct values; sort-based, several times faster than ``np.unique`` on large keys."""
    if len(keys) == 0:
        return keys.astype(np.int64)
    s = np.sort(keys)
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def undirected_keys(u: NDArray[np.int64], v: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """One int64 per unordered pair: ``min * n + max``."""
    return np.minimum(u, v) * np.int64(n) + np.maximum(u, v)


def csr(
    u: NDArray[np.int64], v: NDArray[np.int64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Adjacency of an undirected edge list in both directions.

    Returns ``indptr``, ``neighbour`` and ``edge`` (the edge index of each entry), grouped by node.
    """
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    edge = np.concatenate([np.arange(len(u)), np.arange(len(u))])
    # distinct keys: any sort gives the stable order, and quicksort is the fastest
    order = np.argsort(src * np.int64(max(len(src), 1)) + np.arange(len(src)))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order].astype(np.int64), edge[order].astype(np.int64)


def rank_within(groups: NDArray[np.int64], score: NDArray[np.float64]) -> NDArray[np.int64]:
    """Position of each item inside its group when the group is sorted by ``score`` ascending
    (ties in score keep input order)."""
    n = len(groups)
    score_rank = np.empty(n, dtype=np.int64)
    score_rank[np.argsort(score, kind="stable")] = np.arange(n)
    order = np.argsort(groups * np.int64(max(n, 1)) + score_rank)
    g = groups[order]
    start = np.empty(n, dtype=bool)
    if n:
        start[0] = True
        np.not_equal(g[1:], g[:-1], out=start[1:])
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return rank
