"""Dense-subgraph (fraud-ring) detection on a person -> object graph, static and incremental.

A ring of applicants sharing a handful of devices and phones shows up as a block of the bipartite
person -> object graph that is much denser than its surroundings. The detector scores a node set
``S`` by its density ``g(S) = f(S) / |S|`` with ``f(S)`` the node priors in ``S`` plus the weights
of the edges inside ``S`` (persons and objects both count in ``|S|``), and finds the densest block by
**greedy peeling**: repeatedly remove the node of least *peeling weight* (its prior plus the
weights of its edges to the nodes still present); the best of the shrinking node sets is the block.
Two weightings:

- ``"fraudar"`` (Hooi et al., KDD 2016): an edge into object ``j`` weighs ``1 / log(d_j + c)``
  with ``d_j`` the number of persons tied to ``j``, so a popular object (a shared office Wi-Fi, a
  call-centre phone) adds little and camouflage edges to it cannot hide a ring;
- ``"average"`` (Charikar 2000): every edge weighs 1, ``g`` is the average degree / 2.

Exactness and ties. Weights are fixed-point integers (``2**20`` units per 1.0, priors too), so
every sum is exact and the static and the incremental code compute bit-identical peeling weights.
Ties are broken by a node's *code* (``2 * id`` for a person, ``2 * id + 1`` for an object): the
peeling order is then a function of the graph alone, and the densest block is the largest of the
suffixes of that order with the maximal density. Both methods return the same order, weights and
block, which is what the tests check.

Incremental (Spade, Jiang et al., VLDB 2023). :class:`IncrementalPeeler` keeps the peeling order
and each node's peeling weight and, on edge insertions and deletions (a sliding window expires
edges last seen ``window`` or longer ago), reorders only the affected part. Edges whose weight
changed (inserted, deleted, or re-weighted because an object's degree moved) mark their endpoints
as *tracked*; a node is also tracked once one of its neighbours leaves out of the old order
(peeled earlier or later than before). The repair replays the greedy choice from the first step a
tracked node could win, comparing the least tracked node (a heap with exact weights) against the
next untracked node of the old order (whose weight is unchanged, and which is the least of all
untracked nodes); runs of untracked nodes with no tracked neighbour are copied as numpy slices. It
stops as soon as the remaining graph equals the old one (no node out of order and no changed edge
left inside), so the rest of the old order stands. The result equals a full static peeling of the
current graph after every update; a node left with no edge leaves the graph, as it would in a
recomputation.

Cost. A repair is proportional to the part of the order it replays, and the replay must go on
until the order is back in step, so on a large sparse graph with many tied weights one new edge
may still replay much of the order, and under FRAUDAR weights every neighbour of an object whose
degree moved is tracked (its peeling weight changed, so its place may have); measured in
``bench/ring_detection.py``. The repair therefore runs compiled (``graph.dense_kernels``, numba,
the ``fast`` extra) on flat arrays when numba is installed, and as the Python loop below
otherwise; both are the same algorithm and give the same order, step for step.

Pure: numpy, scipy, optionally numba, and the standard library; no I/O.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from creditgraph.graph import dense_kernels as kernels

Weighting = Literal["fraudar", "average"]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SCALE = 1 << 20
"""Fixed-point units per 1.0 of edge weight or prior: sums stay exact integers."""
DEFAULT_C = 5.0
"""FRAUDAR's constant ``c`` in ``1 / log(d + c)``; keeps the weight finite and below 1."""

_INF_KEY = (math.inf, math.inf)


def person_code(person: int) -> int:
    """The tie-breaking code of a person: even codes are persons."""
    return 2 * int(person)


def object_code(obj: int) -> int:
    """The tie-breaking code of an object (device, phone): odd codes are objects."""
    return 2 * int(obj) + 1


def decode(code: int) -> tuple[Literal["person", "object"], int]:
    """``("person", id)`` or ``("object", id)`` for a node code."""
    return ("object" if code & 1 else "person", code >> 1)


def edge_weight_units(object_degree: int, weighting: Weighting, c: float = DEFAULT_C) -> int:
    """Fixed-point weight of an edge into an object with ``object_degree`` persons."""
    if weighting == "average":
        return SCALE
    if weighting != "fraudar":
        raise ValueError(f"unknown weighting {weighting!r}")
    return round(SCALE / math.log(object_degree + c))


def _prior_units(value: float) -> int:
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"a node prior must be finite and >= 0, got {value}")
    return round(value * SCALE)


@dataclass(frozen=True)
class DenseBlock:
    """The densest block: its persons and objects (ids, ascending) and its density."""

    persons: tuple[int, ...]
    objects: tuple[int, ...]
    density: float

    @property
    def size(self) -> int:
        return len(self.persons) + len(self.objects)


@dataclass(frozen=True)
class Peeling:
    """A peeling of the whole graph: node codes in removal order, each one's peeling weight
    (fixed-point units), and the densest block (a suffix of ``order``, starting at ``start``)."""

    order: IntArray
    weights: IntArray
    start: int
    block: DenseBlock


def densest_suffix(weights: IntArray) -> tuple[int, float]:
    """Start and density of the densest suffix of a peeling: the first (largest) of the best.

    The suffix from step ``i`` keeps ``f = sum(weights[i:])`` (each edge is counted once, by the
    endpoint peeled first) on ``n - i`` nodes. An empty graph has density 0.
    """
    n = len(weights)
    if n == 0:
        return 0, 0.0
    if kernels.AVAILABLE:
        start, best = kernels.densest_suffix_kernel(np.ascontiguousarray(weights, dtype=np.int64))
        return int(start), float(best) / SCALE
    suffix = np.cumsum(weights[::-1].astype(np.float64))[::-1]  # exact: sums stay below 2**53
    density = suffix / np.arange(n, 0, -1, dtype=np.float64)
    start = int(np.argmax(density))
    return start, float(density[start]) / SCALE


def _block(order: IntArray, start: int, density: float) -> DenseBlock:
    codes = np.sort(order[start:])
    is_object = (codes & 1).astype(bool)
    persons = tuple((codes[~is_object] >> 1).tolist())
    objects = tuple((codes[is_object] >> 1).tolist())
    return DenseBlock(persons, objects, density)


def _priors_of(
    codes: IntArray,
    person_priors: Mapping[int, float] | None,
    object_priors: Mapping[int, float] | None,
) -> IntArray:
    out = np.zeros(len(codes), dtype=np.int64)
    for i, code in enumerate(codes.tolist()):
        table = object_priors if code & 1 else person_priors
        if table:
            out[i] = _prior_units(table.get(code >> 1, 0.0))
    return out


def peel(
    persons: npt.ArrayLike,
    objects: npt.ArrayLike,
    *,
    weighting: Weighting = "fraudar",
    c: float = DEFAULT_C,
    person_priors: Mapping[int, float] | None = None,
    object_priors: Mapping[int, float] | None = None,
    compiled: bool | None = None,
) -> Peeling:
    """Static greedy peeling of the person -> object graph given as two id arrays (one row per
    edge; a repeated pair is one edge). A binary heap with lazy deletion: O(E log V).

    This is the baseline the incremental detector must equal, and its recomputation cost.
    ``compiled`` runs the heap loop in ``dense_kernels`` (default: when numba is installed);
    the two loops pop the same (weight, code) keys, so they return the same peeling.
    """
    p = np.asarray(persons, dtype=np.int64).ravel()
    o = np.asarray(objects, dtype=np.int64).ravel()
    if p.shape != o.shape:
        raise ValueError("persons and objects must have the same length")
    if p.size and (p.min() < 0 or o.min() < 0):
        raise ValueError("ids must be >= 0")
    pairs = (
        np.unique(np.stack([2 * p, 2 * o + 1], axis=1), axis=0)
        if p.size
        else np.zeros((0, 2), np.int64)
    )
    codes, inverse = np.unique(pairs.ravel(), return_inverse=True)
    n = len(codes)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Peeling(empty, empty, 0, DenseBlock((), (), 0.0))
    inverse = inverse.reshape(-1, 2)
    pi, oi = inverse[:, 0], inverse[:, 1]
    degree = np.bincount(oi, minlength=n)
    obj_w = np.array(
        [edge_weight_units(int(d), weighting, c) if d else 0 for d in degree.tolist()],
        dtype=np.int64,
    )
    ew = obj_w[oi]
    adj = sp.csr_array(
        (np.concatenate([ew, ew]), (np.concatenate([pi, oi]), np.concatenate([oi, pi]))),
        shape=(n, n),
    )
    initial = (
        _priors_of(codes, person_priors, object_priors)
        + np.bincount(pi, ew, n).astype(np.int64)
        + np.bincount(oi, ew, n).astype(np.int64)
    )
    if compiled and not kernels.AVAILABLE:
        raise ValueError("compiled=True needs numba (the 'fast' extra)")
    if kernels.AVAILABLE if compiled is None else compiled:
        idx, peeled = kernels.static_peel_kernel(
            adj.indptr.astype(np.int64),
            adj.indices.astype(np.int64),
            adj.data.astype(np.int64),
            initial,
            codes.astype(np.int64),
        )
        order = codes[idx]
        start, density = densest_suffix(peeled)
        return Peeling(order, peeled, start, _block(order, start, density))
    indptr, indices, data = adj.indptr.tolist(), adj.indices.tolist(), adj.data.tolist()
    weight = initial.tolist()
    code_list = codes.tolist()
    heap = [(weight[i], code_list[i], i) for i in range(n)]
    heapq.heapify(heap)
    gone = [False] * n
    order = np.empty(n, dtype=np.int64)
    peeled = np.empty(n, dtype=np.int64)
    step = 0
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        w, code, i = pop(heap)
        if gone[i] or w != weight[i]:
            continue
        gone[i] = True
        order[step] = code
        peeled[step] = w
        step += 1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if not gone[j]:
                weight[j] -= data[k]
                push(heap, (weight[j], code_list[j], j))
    start, density = densest_suffix(peeled)
    return Peeling(order, peeled, start, _block(order, start, density))


class IncrementalPeeler:
    """The peeling of an evolving person -> object graph, repaired locally after every update.

    ``insert`` and ``delete`` change one edge; ``update`` applies a batch (one repair); with a
    ``window``, every update at time ``now`` first expires the edges last seen at or before
    ``now - window`` (an edge seen again is refreshed, not doubled). ``block()`` is the densest
    block, ``peeling()`` the whole order: both equal :func:`peel` on :meth:`edges`.

    ``compiled`` chooses the repair: the numba kernels of ``graph.dense_kernels`` on flat arrays
    (the default when numba is installed) or the Python repair on sets (``False``); both give
    the same order.
    """

    def __init__(
        self,
        *,
        weighting: Weighting = "fraudar",
        c: float = DEFAULT_C,
        window: float | None = None,
        person_priors: Mapping[int, float] | None = None,
        object_priors: Mapping[int, float] | None = None,
        compiled: bool | None = None,
    ) -> None:
        edge_weight_units(1, weighting, c)  # validates the weighting
        if window is not None and window <= 0:
            raise ValueError("window must be positive")
        if compiled and not kernels.AVAILABLE:
            raise ValueError("compiled=True needs numba (the 'fast' extra)")
        self.compiled = kernels.AVAILABLE if compiled is None else compiled
        self.weighting: Weighting = weighting
        self.c = c
        self.window = window
        self._person_priors = dict(person_priors or {})
        self._object_priors = dict(object_priors or {})
        # per node index
        self._index: dict[int, int] = {}
        self._code: list[int] = []
        self._is_obj: list[bool] = []
        self._prior: list[int] = []
        self._adj: list[set[int]] = []
        self._obj_w: list[int] = []
        self._codes: IntArray = np.zeros(0, dtype=np.int64)  # node codes by index, for numpy
        self._pos: IntArray = np.zeros(0, dtype=np.int64)  # place in the order, -1 when absent
        self._emitted: BoolArray = np.zeros(0, dtype=bool)  # scratch of a repair
        self._attn: BoolArray = np.zeros(0, dtype=bool)  # scratch: tracked or next to tracked
        # the peeling
        self._seq: IntArray = np.zeros(0, dtype=np.int64)  # node indices in removal order
        self._delta: IntArray = np.zeros(0, dtype=np.int64)  # peeling weight at each step
        # the window
        self._seen: dict[tuple[int, int], float] = {}
        self._arrivals: deque[tuple[float, int, int]] = deque()
        self._now = -math.inf
        self._cached: tuple[int, float] | None = None
        self.repaired_steps = 0  # steps replayed by repairs, for diagnostics and benchmarks
        if self.compiled:
            self._flat = _FlatState(weighting, c)

    @classmethod
    def from_edges(
        cls,
        persons: npt.ArrayLike,
        objects: npt.ArrayLike,
        seen_at: npt.ArrayLike,
        **options: object,
    ) -> IncrementalPeeler:
        """A detector holding these edges, its order computed once by the static :func:`peel`
        (a warm start for a long history; updates are incremental from there)."""
        inc = cls(**options)  # type: ignore[arg-type]
        p = np.asarray(persons, dtype=np.int64).ravel()
        o = np.asarray(objects, dtype=np.int64).ravel()
        t = np.asarray(seen_at, dtype=np.float64).ravel()
        if not (p.shape == o.shape == t.shape):
            raise ValueError("persons, objects and seen_at must have the same length")
        horizon = -math.inf if inc.window is None or t.size == 0 else float(t.max()) - inc.window
        for person, obj, at in sorted(
            zip(p.tolist(), o.tolist(), t.tolist(), strict=True), key=lambda e: e[2]
        ):
            if at <= horizon:
                continue
            if person < 0 or obj < 0:
                raise ValueError("ids must be >= 0")
            pi, oi = inc._node(person_code(person)), inc._node(object_code(obj))
            inc._seen[(pi, oi)] = at
            if inc.window is not None:
                inc._arrivals.append((at, pi, oi))
        if t.size:
            inc._now = float(t.max())
        if inc.compiled:
            inc._flat.load(inc._seen, len(inc._code))
        else:
            for pi, oi in inc._seen:
                inc._adj[pi].add(oi)
                inc._adj[oi].add(pi)
            for x, nbrs in enumerate(inc._adj):
                if inc._is_obj[x] and nbrs:
                    inc._obj_w[x] = edge_weight_units(len(nbrs), inc.weighting, inc.c)
        kept_p, kept_o = inc.edges()
        static = peel(
            kept_p,
            kept_o,
            weighting=inc.weighting,
            c=inc.c,
            person_priors=inc._person_priors,
            object_priors=inc._object_priors,
        )
        seq = np.array([inc._index[code] for code in static.order.tolist()], dtype=np.int64)
        inc._pos[seq] = np.arange(len(seq), dtype=np.int64)
        if inc.compiled:
            inc._seq, inc._delta = inc._flat.set_order(seq, static.weights)
        else:
            inc._seq, inc._delta = seq, static.weights.copy()
        return inc

    # ---- graph -----------------------------------------------------------------------------

    def _node(self, code: int) -> int:
        idx = self._index.get(code)
        if idx is not None:
            return idx
        idx = len(self._code)
        self._index[code] = idx
        self._code.append(code)
        is_obj = bool(code & 1)
        self._is_obj.append(is_obj)
        table = self._object_priors if is_obj else self._person_priors
        prior = _prior_units(table.get(code >> 1, 0.0)) if table else 0
        self._prior.append(prior)
        if idx >= len(self._pos):
            grow = max(1024, 2 * len(self._pos))
            self._pos = np.concatenate([self._pos, np.full(grow, -1, dtype=np.int64)])
            self._emitted = np.concatenate([self._emitted, np.zeros(grow, dtype=bool)])
            self._attn = np.concatenate([self._attn, np.zeros(grow, dtype=bool)])
            self._codes = np.concatenate([self._codes, np.zeros(grow, dtype=np.int64)])
            if self.compiled:
                self._seq, self._delta = self._flat.grow(len(self._pos), len(self._seq))
        self._codes[idx] = code
        if self.compiled:
            self._flat.prior[idx] = prior
            self._flat.code[idx] = code
        else:
            self._adj.append(set())
            self._obj_w.append(0)
        return idx

    def edges(self) -> tuple[IntArray, IntArray]:
        """The current edges as (person ids, object ids)."""
        pairs = [(self._code[p] >> 1, self._code[o] >> 1) for p, o in self._seen]
        arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    @property
    def n_edges(self) -> int:
        return len(self._seen)

    @property
    def n_nodes(self) -> int:
        return len(self._seq)

    # ---- updates ---------------------------------------------------------------------------

    def insert(self, person: int, obj: int, at: float | None = None) -> None:
        """Add (or refresh) the edge person -> object seen at time ``at``."""
        self.update([(person, obj, at)])

    def delete(self, person: int, obj: int) -> None:
        """Remove the edge person -> object if present."""
        self.update((), deletions=[(person, obj)])

    def expire(self, now: float) -> None:
        """Advance the clock to ``now`` and drop the edges that left the window."""
        self.update((), now=now)

    def update(
        self,
        insertions: Iterable[tuple[int, int, float | None]],
        *,
        deletions: Iterable[tuple[int, int]] = (),
        now: float | None = None,
    ) -> None:
        """Apply a batch: insertions ``(person, object, seen_at)``, then deletions, then expiry at
        ``now`` (default: the latest time seen). One repair of the order for the whole batch."""
        inserted: list[tuple[int, int]] = []
        for person, obj, at in insertions:
            if person < 0 or obj < 0:
                raise ValueError("ids must be >= 0")
            pi, oi = self._node(person_code(person)), self._node(object_code(obj))
            t = self._now if at is None else float(at)
            self._now = max(self._now, t)
            if (pi, oi) not in self._seen:
                inserted.append((pi, oi))
            self._seen[(pi, oi)] = t
            if self.window is not None:
                self._arrivals.append((t, pi, oi))
        removed: list[tuple[int, int]] = []
        for person, obj in deletions:
            known_p = self._index.get(person_code(person))
            known_o = self._index.get(object_code(obj))
            if known_p is None or known_o is None:
                continue
            if self._seen.pop((known_p, known_o), None) is not None:
                removed.append((known_p, known_o))
        if now is not None:
            self._now = max(self._now, float(now))
        if self.window is not None:
            horizon = self._now - self.window
            while self._arrivals and self._arrivals[0][0] <= horizon:
                t, pi, oi = self._arrivals.popleft()
                if self._seen.get((pi, oi)) == t:
                    del self._seen[(pi, oi)]
                    removed.append((pi, oi))
        if inserted or removed:
            if self.compiled:
                self._apply_compiled(inserted, removed)
            else:
                self._apply(inserted, removed)

    def _apply_compiled(
        self, inserted: list[tuple[int, int]], removed: list[tuple[int, int]]
    ) -> None:
        """The batch through the compiled kernel: adjacency, re-weighting and repair in one call."""
        fresh = set(inserted)
        add = [e for e in inserted if e in self._seen]  # not removed again in this batch
        drop = [e for e in removed if e not in fresh]  # in the adjacency before the batch
        self._seq, self._delta, steps = self._flat.apply(
            len(self._seq), add, drop,
            inserted + removed,
        )  # fmt: skip
        self.repaired_steps += steps
        self._cached = None

    def _apply(self, inserted: list[tuple[int, int]], removed: list[tuple[int, int]]) -> None:
        adj = self._adj
        changed: set[tuple[int, int]] = set()
        touched_objects: set[int] = set()
        touched: set[int] = set()
        for pi, oi in inserted:
            if (pi, oi) in self._seen:  # inserted and not removed again in this batch
                adj[pi].add(oi)
                adj[oi].add(pi)
        for pi, oi in removed:
            adj[pi].discard(oi)
            adj[oi].discard(pi)
        for pi, oi in (*inserted, *removed):
            changed.add((pi, oi))
            touched_objects.add(oi)
            touched.add(pi)
        for oi in touched_objects:
            touched.add(oi)
            degree = len(adj[oi])
            w = edge_weight_units(degree, self.weighting, self.c) if degree else 0
            if w != self._obj_w[oi]:
                self._obj_w[oi] = w
                changed.update((pi, oi) for pi in adj[oi])
        pos = self._pos
        new_nodes = [x for x in touched if adj[x] and pos[x] < 0]
        gone_nodes = [x for x in touched if not adj[x] and pos[x] >= 0]
        self._repair(changed, new_nodes, gone_nodes)
        self._cached = None

    # ---- the repair ------------------------------------------------------------------------

    def _repair(
        self, changed: set[tuple[int, int]], new_nodes: list[int], gone_nodes: list[int]
    ) -> None:
        adj, obj_w, is_obj, prior, code = (
            self._adj,
            self._obj_w,
            self._is_obj,
            self._prior,
            self._code,
        )
        pos, emitted, attn = self._pos, self._emitted, self._attn
        seq, delta = self._seq, self._delta
        n_old = len(seq)
        tie = self._codes

        def w_edge(x: int, y: int) -> int:
            return obj_w[y] if not is_obj[x] else obj_w[x]

        seeds = {x for edge in changed for x in edge} | set(new_nodes) | set(gone_nodes)
        old_places = [int(pos[x]) for x in seeds if pos[x] >= 0]
        s0 = min(old_places) if old_places else n_old

        def weight_from(x: int, s: int) -> int:
            """x's weight once the old order's first ``s`` steps are done (and nothing else)."""
            total = prior[x]
            if is_obj[x]:
                present = sum(1 for y in adj[x] if pos[y] >= s or pos[y] < 0)
                return total + present * obj_w[x]
            return total + sum(obj_w[y] for y in adj[x] if pos[y] >= s or pos[y] < 0)

        # No tracked node can be peeled before the old order reaches its lower-bound weight.
        alive_seeds = [x for x in seeds if adj[x]]
        s = s0
        if alive_seeds and s0 > 0:
            bound = min(weight_from(x, s0) for x in alive_seeds)
            s = _first_index(lambda a, b: delta[a:b] >= bound, 0, s0)

        def present(x: int) -> bool:
            return bool(adj[x]) and not emitted[x] and (pos[x] >= s or pos[x] < 0)

        weight: dict[int, int] = {}
        tracked: set[int] = set()
        heap: list[tuple[int, int, int]] = []
        marked: list[int] = []
        push, pop = heapq.heappush, heapq.heappop

        def track(x: int) -> None:
            tracked.add(x)
            attn[x] = True
            marked.append(x)
            if adj[x]:
                nbrs = np.fromiter(adj[x], dtype=np.int64, count=len(adj[x]))
                attn[nbrs] = True
                marked.extend(nbrs.tolist())
                if is_obj[x]:
                    w = prior[x] + obj_w[x] * sum(1 for y in adj[x] if present(y))
                else:
                    w = prior[x] + sum(obj_w[y] for y in adj[x] if present(y))
                weight[x] = w
                push(heap, (w, code[x], x))

        delayed: set[int] = set(new_nodes)  # present although the old order has passed them
        early: set[int] = set(gone_nodes)  # absent although the old order still holds them
        for x in seeds:
            track(x)
        partners: dict[int, list[int]] = {}
        live = 0  # changed edges with both ends still present
        for x, y in changed:
            partners.setdefault(x, []).append(y)
            partners.setdefault(y, []).append(x)
            if present(x) and present(y):
                live += 1

        seg_nodes: list[IntArray] = []
        seg_delta: list[IntArray] = []
        single_nodes: list[int] = []
        single_delta: list[int] = []

        def flush() -> None:
            if single_nodes:
                seg_nodes.append(np.array(single_nodes, dtype=np.int64))
                seg_delta.append(np.array(single_delta, dtype=np.int64))
                single_nodes.clear()
                single_delta.clear()

        def release(x: int, w: int) -> None:
            """Peel x now with weight w: lower its tracked neighbours, retire changed edges."""
            nonlocal live
            emitted[x] = True
            single_nodes.append(x)
            single_delta.append(w)
            for y in partners.get(x, ()):
                if present(y):
                    live -= 1

        c = s  # cursor in the old order: every old step before it is done or delayed
        j = s  # first untracked present node at or after c
        while True:
            while c < n_old and not present(int(seq[c])):
                early.discard(int(seq[c]))
                c += 1
            if j < c:
                j = c
            if not delayed and not early and live == 0:
                break
            while j < n_old and (int(seq[j]) in tracked or not present(int(seq[j]))):
                j += 1
            while heap and (not present(heap[0][2]) or heap[0][0] != weight[heap[0][2]]):
                pop(heap)
            top = heap[0] if heap else None
            if top is None and j >= n_old:
                break
            if top is not None and (
                j >= n_old or (top[0], top[1]) < (int(delta[j]), code[int(seq[j])])
            ):
                _, _, x = pop(heap)
                was_early = False
                if x in delayed:
                    delayed.discard(x)
                elif pos[x] != c:
                    early.add(x)
                    was_early = True
                release(x, weight[x])
                for y in adj[x]:
                    if present(y):
                        if y in tracked:
                            weight[y] -= w_edge(x, y)
                            push(heap, (weight[y], code[y], y))
                        elif was_early:
                            track(y)
                continue
            # the old order's next untracked node wins: pass the tracked nodes before it
            for k in range(c, j):
                x = int(seq[k])
                if present(x):
                    delayed.add(x)
                    for y in adj[x]:
                        if y not in tracked and present(y):
                            track(y)
                else:
                    early.discard(x)
            if c < j:  # passing may have tracked seq[j] or lowered the heap's top: look again
                c = j
                continue
            x = int(seq[j])
            if attn[x]:
                release(x, int(delta[j]))
                for y in adj[x]:
                    if y in tracked and present(y):
                        weight[y] -= w_edge(x, y)
                        push(heap, (weight[y], code[y], y))
                c = j = j + 1
                continue
            # a run of untracked nodes with no tracked neighbour: copied as it stands
            limit = _INF_KEY if top is None else (top[0], top[1])
            end = _first_index(_run_stops(seq, delta, tie, attn, limit), j, n_old)
            flush()
            seg_nodes.append(seq[j:end].copy())
            seg_delta.append(delta[j:end].copy())
            emitted[seq[j:end]] = True
            c = j = end
        flush()
        self.repaired_steps += c - s
        self._splice(s, c, seg_nodes, seg_delta, gone_nodes)
        attn[marked] = False

    def _splice(
        self, s: int, c: int, seg_nodes: list[IntArray], seg_delta: list[IntArray], gone: list[int]
    ) -> None:
        seq, delta, pos = self._seq, self._delta, self._pos
        seg = np.concatenate(seg_nodes) if seg_nodes else np.zeros(0, dtype=np.int64)
        segd = np.concatenate(seg_delta) if seg_delta else np.zeros(0, dtype=np.int64)
        self._emitted[seg] = False
        if gone:
            pos[np.asarray(gone, dtype=np.int64)] = -1
        if len(seg) == c - s:
            seq[s:c] = seg
            delta[s:c] = segd
            pos[seg] = np.arange(s, c, dtype=np.int64)
            return
        self._seq = np.concatenate([seq[:s], seg, seq[c:]])
        self._delta = np.concatenate([delta[:s], segd, delta[c:]])
        tail = self._seq[s:]
        pos[tail] = np.arange(s, len(self._seq), dtype=np.int64)

    # ---- results ---------------------------------------------------------------------------

    def peeling(self) -> Peeling:
        """The current peeling: equal to :func:`peel` on :meth:`edges`."""
        order = self._codes[self._seq]
        start, density = self._densest()
        return Peeling(order, self._delta.copy(), start, _block(order, start, density))

    def _densest(self) -> tuple[int, float]:
        if self._cached is None:
            self._cached = densest_suffix(self._delta)
        return self._cached

    def block(self) -> DenseBlock:
        """The densest block of the current graph."""
        start, density = self._densest()
        return _block(self._codes[self._seq[start:]], 0, density)


_A = TypeVar("_A", bound=npt.NDArray[Any])


def _more(a: _A, size: int, fill: int = 0) -> _A:
    """``a`` extended to ``size`` entries filled with ``fill``."""
    out = np.full(size, fill, dtype=a.dtype)
    out[: len(a)] = a
    return cast(_A, out)


def _aligned_records(rec: IntArray, size: int) -> IntArray:
    """``rec`` extended to ``size`` rows of zeros, each row starting on a 64-byte boundary."""
    width = rec.shape[1]
    buf = np.zeros(size * width + 8, dtype=np.int64)
    skip = (-buf.ctypes.data % 64) // 8
    out = buf[skip : skip + size * width].reshape(size, width)
    out[: len(rec)] = rec
    return out


class _FlatState:
    """The compiled repair's arrays: the adjacency as blocks with slack in one pool, the node
    priors and object weights, the order with room to grow, the kernel's scratch and heap.
    Node-indexed arrays share the peeler's capacity (``grow``)."""

    def __init__(self, weighting: Weighting, c: float) -> None:
        self.weighting: Weighting = weighting
        self.c = c
        self.wtable: IntArray = np.zeros(1, dtype=np.int64)  # edge weight by object degree
        self.pool: IntArray = np.zeros(1024, dtype=np.int64)
        self.used = np.zeros(1, dtype=np.int64)
        self.heap: IntArray = np.zeros(3 * 1024, dtype=np.int64)  # (weight, code, node) triples
        self.stats = np.zeros(2, dtype=np.int64)  # replayed steps, tracked nodes
        self.size = 0
        self.grow(0, 0)

    def grow(self, size: int, n_seq: int) -> tuple[IntArray, IntArray]:
        """Make room for ``size`` nodes; the order's views (its first ``n_seq`` steps)."""

        if self.size == 0:
            i64 = np.zeros(0, dtype=np.int64)
            self.rec: IntArray = np.zeros((0, len(kernels.RECORD)), dtype=np.int64)
            self.q, self.seq, self.delta, self.head, self.tlist = (i64,) * 5
            self.out_x, self.out_w = i64, i64
            self.fl: npt.NDArray[np.uint8] = np.zeros(0, dtype=np.uint8)
        self.rec = _aligned_records(self.rec, size)
        (self.bits, self.weight, self.code, self.obj_w, self.a_start, self.a_len, self.prior,
         self.a_cap) = (self.rec[:, k] for k in range(len(kernels.RECORD)))  # fmt: skip
        self.q, self.fl = _more(self.q, size), _more(self.fl, size)
        self.seq, self.delta = _more(self.seq, size), _more(self.delta, size)
        self.head = _more(self.head, size, -1)
        self.tlist = _more(self.tlist, size)
        self.out_x, self.out_w = _more(self.out_x, size), _more(self.out_w, size)
        self.size = size
        return self.seq[:n_seq], self.delta[:n_seq]

    def _weights_up_to(self, degree: int) -> None:
        """Extend the table of edge weights by object degree to ``degree`` (exact Python
        ``round`` and ``math.log``, as the static peeling computes them)."""
        have = len(self.wtable)
        if degree < have:
            return
        top = max(degree + 1, 2 * have)
        extra = [edge_weight_units(d, self.weighting, self.c) for d in range(have, top)]
        self.wtable = np.concatenate([self.wtable, np.array(extra, dtype=np.int64)])

    def load(self, edges: Iterable[tuple[int, int]], n_nodes: int) -> None:
        """Fill the adjacency with ``edges`` (node indices) and weigh the objects."""
        pairs = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
        self.pool = kernels.load_edges(
            pairs[:, 0], pairs[:, 1], self.a_start, self.a_len, self.a_cap, self.pool, self.used
        )
        degree = self.a_len[:n_nodes]
        self._weights_up_to(int(degree.max()) if n_nodes else 0)
        is_obj = np.zeros(n_nodes, dtype=bool)
        if len(pairs):
            is_obj[pairs[:, 1]] = True
        self.obj_w[:n_nodes] = np.where(is_obj & (degree > 0), self.wtable[degree], 0)

    def set_order(self, seq: IntArray, delta: IntArray) -> tuple[IntArray, IntArray]:
        n = len(seq)
        self.seq[:n] = seq
        self.delta[:n] = delta
        self.q[seq] = np.arange(1, n + 1, dtype=np.int64)
        return self.seq[:n], self.delta[:n]

    def apply(
        self,
        n_seq: int,
        add: list[tuple[int, int]],
        drop: list[tuple[int, int]],
        changed: list[tuple[int, int]],
    ) -> tuple[IntArray, IntArray, int]:
        """One kernel call for the batch; the order's new views and the steps replayed."""
        add_a = np.array(add, dtype=np.int64).reshape(-1, 2)
        drop_a = np.array(drop, dtype=np.int64).reshape(-1, 2)
        chg = np.array(changed, dtype=np.int64).reshape(-1, 2)
        if len(chg):
            self._weights_up_to(int(self.a_len[chg[:, 1]].max()) + len(add_a))
        before = int(self.stats[0])
        self.pool, self.heap, n_total = kernels.apply_batch(
            self.rec, self.q, self.fl, self.wtable, self.pool, self.used, self.seq, self.delta,
            n_seq, self.head, self.tlist, self.out_x, self.out_w,
            self.heap, add_a[:, 0].copy(), add_a[:, 1].copy(),
            drop_a[:, 0].copy(), drop_a[:, 1].copy(), chg[:, 0].copy(), chg[:, 1].copy(),
            self.stats,
        )  # fmt: skip
        n = int(n_total)
        return self.seq[:n], self.delta[:n], int(self.stats[0]) - before


def _run_stops(
    seq: IntArray, delta: IntArray, codes: IntArray, attn: BoolArray, limit: tuple[float, float]
) -> Callable[[int, int], BoolArray]:
    """Where a copied run of the old order must end: at a node tracked or next to a tracked one,
    or at the first node whose (weight, code) is beyond the least tracked node's."""

    def stops(a: int, b: int) -> BoolArray:
        nodes = seq[a:b]
        d = delta[a:b]
        beyond = (d > limit[0]) | ((d == limit[0]) & (codes[nodes] > limit[1]))
        hit: BoolArray = attn[nodes] | beyond
        return hit

    return stops


def _first_index(stops: Callable[[int, int], BoolArray], start: int, stop: int) -> int:
    """The first index in [start, stop) where ``stops`` is true (``stop`` if none), scanning in
    doubling chunks so a near hit costs little and a far one is still vectorised."""
    chunk = 64
    a = start
    while a < stop:
        b = min(stop, a + chunk)
        hits = np.flatnonzero(stops(a, b))
        if hits.size:
            return a + int(hits[0])
        a = b
        chunk *= 2
    return stop
