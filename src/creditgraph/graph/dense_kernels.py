"""Compiled kernels of the incremental peeler (``graph.dense``): the same repair on flat arrays.

The repair of :class:`creditgraph.graph.dense.IncrementalPeeler` is a sequential loop (a heap of
tracked nodes against the old order), so its cost is per step; in Python one step is a few
microseconds, compiled with numba it is a few nanoseconds. These kernels run the same algorithm as
the Python repair in ``graph.dense`` (same stopping rule, same tie-breaking, so the same order,
bit for bit) on flat arrays:

- the adjacency as per-node blocks of neighbours with slack in one pool (``start``, ``length``,
  ``capacity``; a full block moves to the end of the pool with twice the room);
- the fields a visit reads together per node (flags, weight, code, object weight, adjacency
  block, prior) as one 64-byte record, so visiting a neighbour is one cache miss, while what
  every step of the order reads (the place in the order, plus one, 0 when absent; a byte of
  flags: tracked, attention, peeled in this repair) stays in small arrays that stay in cache;
- sets as flag bits cleared after each call, the heap as one array of (weight, code, node)
  triples with lazy deletion;
- the changed edges as explicit pairs (inserted and removed) plus, for an object whose FRAUDAR
  weight moved, *all* its edges implicitly (the re-weighted bit), so a popular object costs its
  degree once, not a set of pairs.

numba is optional (the ``fast`` extra): without it ``AVAILABLE`` is false, the functions below are
plain Python, and ``graph.dense`` uses its own Python repair instead.

The repair loop is written out in one function with the few helpers that take one array: numba
reference-counts every array passed to a helper, inlined or not, with an atomic increment and
decrement per call, which cost more than the helpers' work (half the time, measured).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

_njit: Any
try:
    from numba import njit as _njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - the fallback path is tested by forcing it
    _njit = None
    AVAILABLE = False

IntArray = npt.NDArray[np.int64]
ByteArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
F = TypeVar("F", bound=Callable[..., Any])

_TRACKED, _ATTN, _EMIT = 1, 2, 4  # in ``fl``: a byte a node, read on every step of the order
_DELAYED, _EARLY, _VISITED, _REWEIGHTED, _SEED = 8, 16, 32, 64, 128  # in the record's ``bits``
RECORD = ("bits", "weight", "code", "obj_w", "a_start", "a_len", "prior", "a_cap")
"""The columns of a node's record (int64 each, 64 bytes a node)."""
_MIN_BLOCK = 4


def _jit(fn: F) -> F:
    if _njit is None:
        return fn
    return cast(F, _njit(cache=True, nogil=True)(fn))


def _inline(fn: F) -> F:
    """A helper inlined into its callers at numba's IR level: no call, no reference counting
    of the array arguments per call (which costs more than the helper's work)."""
    if _njit is None:
        return fn
    return cast(F, _njit(cache=True, nogil=True, inline="always")(fn))


@_jit
def densest_suffix_kernel(weights: IntArray) -> tuple[int, float]:
    """Start and density (fixed-point units) of the first densest suffix, as ``densest_suffix``:
    sums of integers below 2**53 are exact in float64, so the divisions are the same numbers."""
    n = weights.shape[0]
    best = -1.0
    start = 0
    acc = 0.0
    for i in range(n - 1, -1, -1):
        acc += float(weights[i])
        d = acc / float(n - i)
        if d >= best:
            best = d
            start = i
    return start, best


@_jit
def _append(
    x: int,
    y: int,
    a_start: IntArray,
    a_len: IntArray,
    a_cap: IntArray,
    pool: IntArray,
    used: IntArray,
) -> IntArray:
    """Add y to x's block (moving the block when full); the pool, grown if it had to be."""
    n = a_len[x]
    if n == a_cap[x]:
        cap = max(_MIN_BLOCK, 2 * a_cap[x])
        if used[0] + cap > pool.shape[0]:
            bigger = np.empty(max(2 * pool.shape[0], used[0] + cap), dtype=np.int64)
            bigger[: used[0]] = pool[: used[0]]
            pool = bigger
        start = used[0]
        old = a_start[x]
        for k in range(n):
            pool[start + k] = pool[old + k]
        a_start[x] = start
        a_cap[x] = cap
        used[0] = start + cap
    pool[a_start[x] + n] = y
    a_len[x] = n + 1
    return pool


@_jit
def _remove(x: int, y: int, a_start: IntArray, a_len: IntArray, pool: IntArray) -> None:
    b = a_start[x]
    n = a_len[x]
    for k in range(n):
        if pool[b + k] == y:
            pool[b + k] = pool[b + n - 1]
            a_len[x] = n - 1
            return


@_jit
def load_edges(
    persons: IntArray,
    objects: IntArray,
    a_start: IntArray,
    a_len: IntArray,
    a_cap: IntArray,
    pool: IntArray,
    used: IntArray,
) -> IntArray:
    """Add edges (node indices, both directions) to the adjacency; the pool."""
    for k in range(persons.shape[0]):
        pool = _append(persons[k], objects[k], a_start, a_len, a_cap, pool, used)
        pool = _append(objects[k], persons[k], a_start, a_len, a_cap, pool, used)
    return pool


@_inline
def _less(w1: int, c1: int, w2: int, c2: int) -> bool:
    return w1 < w2 or (w1 == w2 and c1 < c2)


@_inline
def _room(h: IntArray, hn: int, more: int) -> IntArray:
    """The heap with room for ``more`` pushes (grown by doubling when short)."""
    if 3 * (hn + more) <= h.shape[0]:
        return h
    bigger = np.empty(max(3 * 1024, 2 * h.shape[0], 3 * (hn + more)), dtype=np.int64)
    bigger[: 3 * hn] = h[: 3 * hn]
    return bigger


@_inline
def _push(h: IntArray, hn: int, w: int, c: int, x: int) -> int:
    """Push (w, c, x) on a heap with room for it; the new size. Entries are triples
    (weight, code, node) side by side, so a comparison reads one cache line."""
    i = hn
    while i > 0:
        p = (i - 1) >> 1
        if _less(w, c, h[3 * p], h[3 * p + 1]):
            h[3 * i] = h[3 * p]
            h[3 * i + 1] = h[3 * p + 1]
            h[3 * i + 2] = h[3 * p + 2]
            i = p
        else:
            break
    h[3 * i] = w
    h[3 * i + 1] = c
    h[3 * i + 2] = x
    return hn + 1


@_inline
def _pop(h: IntArray, hn: int) -> int:
    """Drop the top; the new size."""
    hn -= 1
    if hn == 0:
        return 0
    w, c, x = h[3 * hn], h[3 * hn + 1], h[3 * hn + 2]
    i = 0
    while True:
        m = 2 * i + 1
        if m >= hn:
            break
        if m + 1 < hn and _less(h[3 * m + 3], h[3 * m + 4], h[3 * m], h[3 * m + 1]):
            m += 1
        if _less(h[3 * m], h[3 * m + 1], w, c):
            h[3 * i] = h[3 * m]
            h[3 * i + 1] = h[3 * m + 1]
            h[3 * i + 2] = h[3 * m + 2]
            i = m
        else:
            break
    h[3 * i] = w
    h[3 * i + 1] = c
    h[3 * i + 2] = x
    return hn


@_jit
def static_peel_kernel(
    indptr: IntArray, indices: IntArray, data: IntArray, weight: IntArray, codes: IntArray
) -> tuple[IntArray, IntArray]:
    """Greedy peeling of a CSR graph from the initial weights, least (weight, code) first, with
    a lazy-deletion heap: ``peel``'s loop, compiled. Returns node indices in removal order and
    their peeling weights; ``weight`` is consumed."""
    n = weight.shape[0]
    h = np.empty(3 * max(1024, n + indices.shape[0] // 2 + 1), dtype=np.int64)
    hn = 0
    for i in range(n):
        hn = _push(h, hn, weight[i], codes[i], i)
    gone = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    peeled = np.empty(n, dtype=np.int64)
    step = 0
    while hn > 0:
        w, i = h[0], h[2]
        hn = _pop(h, hn)
        if gone[i] or w != weight[i]:
            continue
        gone[i] = True
        order[step] = i
        peeled[step] = w
        step += 1
        h = _room(h, hn, indptr[i + 1] - indptr[i])
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if not gone[j]:
                weight[j] -= data[k]
                hn = _push(h, hn, weight[j], codes[j], j)
    return order, peeled


@_jit
def apply_batch(
    rec: IntArray,
    q: IntArray,
    fl: ByteArray,
    wtable: IntArray,
    pool: IntArray,
    used: IntArray,
    seq: IntArray,
    delta: IntArray,
    n_old: int,
    head: IntArray,
    tlist: IntArray,
    out_x: IntArray,
    out_w: IntArray,
    h: IntArray,
    add_p: IntArray,
    add_o: IntArray,
    drop_p: IntArray,
    drop_o: IntArray,
    chg_p: IntArray,
    chg_o: IntArray,
    stats: IntArray,
) -> tuple[IntArray, IntArray, int]:
    """Apply a batch of edge changes and repair the order in place.

    ``add`` are edges to put in the adjacency, ``drop`` edges to take out, ``chg`` every edge
    inserted or removed in the batch (node indices). ``q[x]`` is x's place in the order plus
    one (0: not in it); ``fl[x]`` holds the flags read on every step (tracked, attention,
    peeled in this repair), a byte a node so that walking the order stays in cache; the other
    fields a visit reads together are one 64-byte record per node (``rec``, see ``RECORD``),
    one cache miss instead of one per field. Returns the pool and heap (grown if they had to
    be) and the new number of nodes in the order. ``stats[0]`` counts replayed steps,
    ``stats[1]`` tracked nodes.
    """
    bits, weight, codes, obj_w = rec[:, 0], rec[:, 1], rec[:, 2], rec[:, 3]
    a_start, a_len, prior, a_cap = rec[:, 4], rec[:, 5], rec[:, 6], rec[:, 7]
    for k in range(drop_p.shape[0]):
        _remove(drop_p[k], drop_o[k], a_start, a_len, pool)
        _remove(drop_o[k], drop_p[k], a_start, a_len, pool)
    for k in range(add_p.shape[0]):
        pool = _append(add_p[k], add_o[k], a_start, a_len, a_cap, pool, used)
        pool = _append(add_o[k], add_p[k], a_start, a_len, a_cap, pool, used)

    # objects whose edge weight moved: all their edges changed
    n_chg = chg_p.shape[0]
    objs = np.empty(n_chg, dtype=np.int64)
    n_objs = 0
    n_implicit = 0
    for k in range(n_chg):
        o = chg_o[k]
        if bits[o] & _VISITED:
            continue
        bits[o] |= _VISITED
        objs[n_objs] = o
        n_objs += 1
        d = a_len[o]
        w = wtable[d] if d > 0 else 0
        if w != obj_w[o]:
            obj_w[o] = w
            bits[o] |= _REWEIGHTED
            n_implicit += d

    # seeds: ends of changed edges, neighbours of re-weighted objects; new and gone nodes
    seeds = np.empty(2 * n_chg + n_implicit, dtype=np.int64)
    n_seeds = 0
    for k in range(2 * n_chg):
        x = chg_p[k >> 1] if k & 1 == 0 else chg_o[k >> 1]
        if not bits[x] & _SEED:
            bits[x] |= _SEED
            seeds[n_seeds] = x
            n_seeds += 1
    for i in range(n_objs):
        o = objs[i]
        if bits[o] & _REWEIGHTED:
            b = a_start[o]
            for k in range(a_len[o]):
                x = pool[b + k]
                if not bits[x] & _SEED:
                    bits[x] |= _SEED
                    seeds[n_seeds] = x
                    n_seeds += 1
    s0 = n_old
    for i in range(n_seeds):
        v = q[seeds[i]]
        if 0 < v <= s0:
            s0 = v - 1
    gone = np.empty(2 * n_chg, dtype=np.int64)
    n_gone = 0
    n_delayed = 0
    n_early = 0
    for k in range(2 * n_chg):
        x = chg_p[k >> 1] if k & 1 == 0 else chg_o[k >> 1]
        if a_len[x] > 0 and q[x] == 0 and not bits[x] & _DELAYED:
            bits[x] |= _DELAYED  # new: present, although the old order never passes it
            n_delayed += 1
        elif a_len[x] == 0 and q[x] > 0 and not bits[x] & _EARLY:
            bits[x] |= _EARLY  # gone: absent, although the old order still holds it
            n_early += 1
            gone[n_gone] = x
            n_gone += 1
    for i in range(n_gone):
        fl[gone[i]] |= _EMIT

    # no seed can be peeled before the old order reaches the least weight a seed can have
    s = s0
    if s0 > 0:
        bound = np.iinfo(np.int64).max
        alive = False
        for i in range(n_seeds):
            x = seeds[i]
            if a_len[x] == 0:
                continue
            alive = True
            w = prior[x]
            b = a_start[x]
            is_obj = codes[x] & 1
            for k in range(a_len[x]):
                y = pool[b + k]
                v = q[y]
                if v > s0 or v == 0:
                    w += obj_w[x] if is_obj else obj_w[y]
            bound = min(bound, w)
        if alive:
            s = 0
            while s < s0 and delta[s] < bound:
                s += 1

    # the explicit changed edges by endpoint, and how many still lie inside the present graph
    nxt = np.empty(2 * n_chg, dtype=np.int64)
    to = np.empty(2 * n_chg, dtype=np.int64)
    for k in range(n_chg):
        p, o = chg_p[k], chg_o[k]
        to[2 * k] = o
        nxt[2 * k] = head[p]
        head[p] = 2 * k
        to[2 * k + 1] = p
        nxt[2 * k + 1] = head[o]
        head[o] = 2 * k + 1
    live = 0
    for k in range(n_chg):
        p, o = chg_p[k], chg_o[k]
        vp, vo = q[p], q[o]
        if (
            a_len[p] > 0
            and a_len[o] > 0
            and not fl[p] & _EMIT
            and not fl[o] & _EMIT
            and (vp > s or vp == 0)
            and (vo > s or vo == 0)
        ):
            live += 1
    for i in range(n_objs):
        o = objs[i]
        v = q[o]
        if bits[o] & _REWEIGHTED and a_len[o] > 0 and not fl[o] & _EMIT and (v > s or v == 0):
            b = a_start[o]
            for k in range(a_len[o]):
                y = pool[b + k]
                v = q[y]
                if not fl[y] & _EMIT and (v > s or v == 0):
                    live += 1

    # tracked nodes are queued (``tlist[tq:tn]``) and weighed in one place, just before the heap
    # is next read; between the two no node leaves, so their weights are the same as if weighed
    # when queued. (One site for the work keeps the compiled loop free of helper calls, whose
    # array arguments numba would reference-count on every call.)
    tn = 0
    tq = 0
    hn = 0
    for i in range(n_seeds):
        x = seeds[i]
        if not fl[x] & _TRACKED:
            fl[x] |= _TRACKED
            tlist[tn] = x
            tn += 1

    ne = 0
    c = s  # cursor in the old order: every old step before it is done or delayed
    j = s  # first untracked present node at or after c
    while True:
        while c < n_old:
            x = seq[c]
            if not fl[x] & _EMIT:  # in the order and at or after s: present unless peeled
                break
            if bits[x] & _EARLY:
                bits[x] &= ~_EARLY
                n_early -= 1
            c += 1
        if j < c:
            j = c
        if n_delayed == 0 and n_early == 0 and live == 0:
            break
        while j < n_old:
            x = seq[j]
            if not fl[x] & (_TRACKED | _EMIT):
                break
            j += 1
        if tq < tn:  # weigh the queued nodes: exact weights among the present nodes
            h = _room(h, hn, tn - tq)
            for i in range(tq, tn):
                x = tlist[i]
                fl[x] |= _ATTN
                n = a_len[x]
                if n == 0:
                    continue
                b = a_start[x]
                w = prior[x]
                is_obj = codes[x] & 1
                for k in range(n):
                    y = pool[b + k]
                    fl[y] |= _ATTN
                    v = q[y]
                    if not fl[y] & _EMIT and (v > s or v == 0):
                        w += obj_w[x] if is_obj else obj_w[y]
                weight[x] = w
                hn = _push(h, hn, w, codes[x], x)
            tq = tn
        while hn > 0:
            x = h[2]
            v = q[x]
            if h[0] == weight[x] and not fl[x] & _EMIT and (v > s or v == 0):
                break
            hn = _pop(h, hn)  # stale: x left, or its weight moved on
        if hn == 0 and j >= n_old:
            break
        if hn > 0 and (j >= n_old or _less(h[0], h[1], delta[j], codes[seq[j]])):
            x = h[2]
            w = weight[x]
            hn = _pop(h, hn)
            was_early = False
            if bits[x] & _DELAYED:
                bits[x] &= ~_DELAYED
                n_delayed -= 1
            elif q[x] != c + 1:
                if not bits[x] & _EARLY:
                    bits[x] |= _EARLY
                    n_early += 1
                was_early = True
        else:
            # the old order's next untracked node wins: pass the tracked nodes before it
            for i in range(c, j):
                x = seq[i]
                if not fl[x] & _EMIT:
                    if not bits[x] & _DELAYED:
                        bits[x] |= _DELAYED
                        n_delayed += 1
                    b = a_start[x]
                    for k in range(a_len[x]):
                        y = pool[b + k]
                        v = q[y]
                        if not fl[y] & (_TRACKED | _EMIT) and (v > s or v == 0):
                            fl[y] |= _TRACKED
                            tlist[tn] = y
                            tn += 1
                elif bits[x] & _EARLY:
                    bits[x] &= ~_EARLY
                    n_early -= 1
            if c < j:  # passing may have tracked seq[j] or lowered the heap's top: look again
                c = j
                continue
            x = seq[j]
            if not fl[x] & _ATTN:
                # a run of untracked nodes with no tracked neighbour, below the heap's top: copied
                while j < n_old:
                    x = seq[j]
                    if fl[x] & _ATTN:
                        break
                    d = delta[j]  # the code is read only on a tie: it is in the record
                    if hn > 0 and (d > h[0] or (d == h[0] and codes[x] > h[1])):
                        break
                    fl[x] |= _EMIT
                    out_x[ne] = x
                    out_w[ne] = delta[j]
                    ne += 1
                    j += 1
                c = j
                continue
            w = delta[j]  # in step, with a tracked neighbour: peeled as before
            was_early = False
            j += 1
            c = j
        # peel x now with weight w: retire the changed edges it leaves (explicit ones, and all
        # of a re-weighted object's), lower its tracked neighbours, and track the untracked
        # ones of a node peeled early
        fl[x] |= _EMIT
        out_x[ne] = x
        out_w[ne] = w
        ne += 1
        e = head[x]
        while e >= 0:
            y = to[e]
            v = q[y]
            if not fl[y] & _EMIT and (v > s or v == 0) and a_len[y] > 0:
                live -= 1
            e = nxt[e]
        b = a_start[x]
        is_obj = codes[x] & 1
        reweighted = is_obj and bits[x] & _REWEIGHTED
        h = _room(h, hn, a_len[x])
        for k in range(a_len[x]):
            y = pool[b + k]
            g = fl[y]
            v = q[y]
            if g & _EMIT or not (v > s or v == 0):
                continue
            if reweighted or (not is_obj and bits[y] & _REWEIGHTED):
                live -= 1
            if g & _TRACKED:
                weight[y] -= obj_w[x] if is_obj else obj_w[y]
                hn = _push(h, hn, weight[y], codes[y], y)
            elif was_early:
                fl[y] = g | _TRACKED
                tlist[tn] = y
                tn += 1

    stats[0] += c - s
    stats[1] += tn

    # splice the replayed steps [s, c) into the order
    for i in range(n_gone):
        q[gone[i]] = 0
    n_total = n_old - (c - s) + ne
    new_c = s + ne
    if new_c > c:
        for i in range(n_old - 1, c - 1, -1):
            seq[i + new_c - c] = seq[i]
            delta[i + new_c - c] = delta[i]
    elif new_c < c:
        for i in range(c, n_old):
            seq[i + new_c - c] = seq[i]
            delta[i + new_c - c] = delta[i]
    for i in range(ne):
        seq[s + i] = out_x[i]
        delta[s + i] = out_w[i]
        fl[out_x[i]] &= ~_EMIT
    last = n_total if new_c != c else new_c
    for i in range(s, last):
        q[seq[i]] = i + 1

    # clear the scratch for the next call
    for i in range(tn):
        x = tlist[i]
        bits[x] = 0
        fl[x] = 0
        b = a_start[x]
        for k in range(a_len[x]):
            bits[pool[b + k]] = 0
            fl[pool[b + k]] = 0
    for k in range(n_chg):
        head[chg_p[k]] = -1
        head[chg_o[k]] = -1
    for i in range(n_objs):
        bits[objs[i]] = 0
    for i in range(n_seeds):
        bits[seeds[i]] = 0
    return pool, h, n_total
