"""Graph features of every person on the embedded engine: scipy CSR and numpy, one pass each.

Input: the as-of weighted edge list, the person-device links and the seeds. Output: one row per
node. Definitions are in docs/features.md; the Spark engine computes the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from creditgraph.features.labels import Seeds, canonical_order
from creditgraph.graph.csr import Graph, build_graph
from creditgraph.graph.multilayer import influence_matrix, social_device_layers, supra_adjacency
from creditgraph.graph.pagerank import pagerank_batches, transition
from creditgraph.graph.structure import leiden, two_hop_summary

FloatArray = npt.NDArray[np.float64]
ALPHA = 0.85
STRONG_TIE_QUANTILE = 0.75
# PageRank stops when a step moves less than this (L1 over probabilities): within 6e-8 of the
# fixed point, far below what any feature needs, and 20% fewer steps than the library's 1e-10.
PPR_TOL = 1e-8


IntArray = npt.NDArray[np.int64]
LEIDEN_ITERATIONS = (
    2  # the library default; iterating to a fixed point costs 6x for +0.0003 modularity
)


@dataclass(frozen=True)
class GraphInputs:
    """The as-of graph, integer-coded: positions into ``node_ids`` and device numbers.

    Pseudonyms are coded once (by Arrow hashing, in ``build.assemble``); numpy arrays of 32-hex
    strings would cost 128 bytes per endpoint and a sort, which at 10M ties is gigabytes.
    """

    node_ids: npt.NDArray[np.object_]  # persons first, then contacts outside the book
    edge_a: IntArray  # position of one end of each tie
    edge_b: IntArray
    strength: FloatArray
    device_person: IntArray  # position of the person of each device link
    device_id: IntArray  # device number, 0..k-1 in the order of the device ids


def _row_stat(adj: Any, values: FloatArray, how: str) -> FloatArray:
    """Per-row mean, max or median of ``values`` laid out like ``adj.data``."""
    n = adj.shape[0]
    counts = np.diff(adj.indptr)
    out = np.zeros(n, dtype=np.float64)
    if values.size == 0:
        return out
    rows = np.repeat(np.arange(n), counts)
    if how == "mean":
        sums = np.bincount(rows, weights=values, minlength=n)
        np.divide(sums, counts, out=out, where=counts > 0)
    elif how == "max":
        np.maximum.at(out, rows, values)
    elif how == "median":
        order = np.lexsort((values, rows))
        sorted_values = values[order]
        starts = adj.indptr[:-1]
        has = counts > 0
        lo = starts + (counts - 1) // 2
        hi = starts + counts // 2
        out[has] = (sorted_values[lo[has]] + sorted_values[hi[has]]) / 2
    return out


def _distinct_per_row(adj: Any, labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    n = adj.shape[0]
    rows = np.repeat(np.arange(n), np.diff(adj.indptr))
    pairs = np.unique(
        rows.astype(np.int64) * (int(labels.max(initial=0)) + 1) + labels[adj.indices]
    )
    return np.bincount(pairs // (int(labels.max(initial=0)) + 1), minlength=n).astype(np.int64)


def compute(
    inputs: GraphInputs,
    seeds: Seeds,
    *,
    leiden_seed: int = 0,
    timings: dict[str, float] | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Every graph feature, one array per feature, aligned with ``inputs.node_ids``."""
    clock = LapClock(timings)
    ids = inputs.node_ids
    n = len(ids)
    graph = build_graph(
        inputs.edge_a,
        inputs.edge_b,
        inputs.strength,
        directed=False,
        nodes=np.arange(n, dtype=np.int64),
        duplicates="max",
    )
    w = graph.adjacency
    b = sp.csr_array((np.ones(w.nnz), w.indices, w.indptr), shape=w.shape)
    degree = np.diff(w.indptr).astype(np.int64)
    strength = np.asarray(w.sum(axis=1)).reshape(-1)
    threshold = float(np.quantile(w.data, STRONG_TIE_QUANTILE)) if w.nnz else 0.0
    strong = np.bincount(
        np.repeat(np.arange(n), degree), weights=(w.data >= threshold).astype(float), minlength=n
    )
    two_hop = two_hop_summary(b)
    common = two_hop.common
    out: dict[str, npt.NDArray[Any]] = {
        "graph_degree": degree,
        "tie_strength_sum": strength,
        "tie_strength_mean": _row_stat(w, w.data, "mean"),
        "tie_strength_max": _row_stat(w, w.data, "max"),
        "strong_ties": strong.astype(np.int64),
        "strong_tie_share": np.divide(strong, degree, out=np.zeros(n), where=degree > 0),
        "mutual_friends_mean": _row_stat(b, common, "mean"),
        "mutual_friends_median": _row_stat(b, common, "median"),
        "reach_2hop": two_hop.reach,
        "clustering": two_hop.clustering(degree),
    }

    clock.lap("graph.structure")
    op = transition(w)
    bad_cols = seeds.out_of_fold(seeds.bad)
    good_cols = seeds.out_of_fold(seeds.good)
    runs = _batched_ppr(op, {"plain": np.ones((n, 1)), "bad": bad_cols, "good": good_cols})
    uniform = runs["plain"][:, 0] if n else np.zeros(0)
    out["pagerank"] = uniform * n
    exposure, support = runs["bad"], runs["good"]
    baseline = uniform
    out["default_exposure"] = seeds.pick(exposure) * n
    out["good_exposure"] = seeds.pick(support) * n
    out["default_exposure_ratio"] = np.divide(
        seeds.pick(exposure), baseline, out=np.zeros(n), where=baseline > 0
    )

    clock.lap("graph.pagerank_exposure")
    bad_neighbours = b @ bad_cols
    weighted_bad = w @ bad_cols
    out["defaulted_contacts"] = seeds.pick(bad_neighbours).astype(np.int64)
    out["defaulted_share_1hop"] = np.divide(
        seeds.pick(weighted_bad), strength, out=np.zeros(n), where=strength > 0
    )
    two_hop_bad = w @ weighted_bad
    two_hop_all = w @ strength
    out["defaulted_share_2hop"] = np.divide(
        seeds.pick(two_hop_bad), two_hop_all, out=np.zeros(n), where=two_hop_all > 0
    )

    clock.lap("graph.neighbour_labels")
    order = None if seeds.order_key is None else canonical_order(seeds.order_key, graph.adjacency)
    communities = community_labels(graph, leiden_seed, order)
    sizes = np.bincount(communities)
    out["community"] = communities
    out["community_size"] = sizes[communities]
    out["communities_reached"] = _distinct_per_row(b, communities)
    bad_by_comm = np.stack(
        [
            np.bincount(communities, weights=bad_cols[:, k], minlength=sizes.size)
            for k in range(bad_cols.shape[1])
        ],
        axis=1,
    ).astype(np.float64)
    known_cols = seeds.out_of_fold(seeds.bad | seeds.good)
    known_by_comm = np.stack(
        [
            np.bincount(communities, weights=known_cols[:, k], minlength=sizes.size)
            for k in range(known_cols.shape[1])
        ],
        axis=1,
    ).astype(np.float64)
    rate = np.divide(
        bad_by_comm, known_by_comm, out=np.zeros_like(bad_by_comm), where=known_by_comm > 0
    )
    out["community_default_rate"] = seeds.pick(rate[communities])

    clock.lap("graph.communities")
    out.update(_device_features(inputs, seeds, w, bad_cols))
    clock.lap("graph.devices_multilayer")
    return out


def community_labels(graph: Graph, seed: int, order: IntArray | None = None) -> IntArray:
    """Leiden communities of the social graph; without ties everyone is their own community.

    ``order`` (a permutation of the nodes): Leiden visits the nodes in that order instead of
    their position, so a home-independent order gives the same communities in every home.
    """
    if not graph.adjacency.nnz:
        return np.arange(graph.n_nodes, dtype=np.int64)
    if order is None:
        return leiden(graph, seed=seed, n_iterations=LEIDEN_ITERATIONS)
    permuted = sp.csr_array(graph.adjacency[order][:, order])
    permuted.sort_indices()
    labels = leiden(permuted, seed=seed, n_iterations=LEIDEN_ITERATIONS)
    out = np.empty_like(labels)
    out[order] = labels
    return out


class LapClock:
    """Records the time since the previous lap under a name, when asked to keep timings."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = now - self.last
        self.last = now


def _batched_ppr(op: Any, batches: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Personalised PageRank of every column of every batch, in one loop; empty columns score 0."""
    live = {}
    for name, columns in batches.items():
        has = columns.sum(axis=0) > 0
        live[name] = (has, columns[:, has])
    runs = pagerank_batches(
        op, {name: cols for name, (_, cols) in live.items()}, alpha=ALPHA, tol=PPR_TOL
    )
    result = {}
    for name, columns in batches.items():
        has, _ = live[name]
        scores = np.zeros(columns.shape, dtype=np.float64)
        if name in runs:
            scores[:, has] = np.asarray(runs[name].scores, dtype=np.float64)
        result[name] = scores
    return result


def _device_features(
    inputs: GraphInputs, seeds: Seeds, w: Any, bad_cols: FloatArray
) -> dict[str, npt.NDArray[Any]]:
    """Defaulters sharing a device, and exposure over the social and device layers together."""
    n = len(inputs.node_ids)
    person_pos = inputs.device_person
    keep = person_pos >= 0
    _, device_pos = np.unique(inputs.device_id[keep], return_inverse=True)
    n_devices = int(device_pos.max(initial=-1)) + 1
    pd_matrix = sp.csr_array(
        (np.ones(int(keep.sum())), (person_pos[keep], device_pos.reshape(-1))),
        shape=(n, n_devices),
    )
    pd_matrix.data[:] = 1.0
    shared = (pd_matrix @ pd_matrix.T).tocsr()
    shared.setdiag(0)
    shared.eliminate_zeros()
    shared.data[:] = 1.0
    out: dict[str, npt.NDArray[Any]] = {
        "device_sharers": np.diff(shared.indptr).astype(np.int64),
        "device_defaulters": seeds.pick(shared @ bad_cols).astype(np.int64),
    }
    ml = supra_adjacency(social_device_layers(w, pd_matrix), n_common=n)
    op = transition(ml.supra)
    columns = []
    for k in range(bad_cols.shape[1]):
        seeds_k = np.flatnonzero(bad_cols[:, k] > 0)
        if seeds_k.size == 0:
            columns.append(np.zeros(ml.n_supra))
            continue
        columns.append(np.asarray(influence_matrix(ml, seeds_k).sum(axis=1)).reshape(-1))
    z = np.stack(columns, axis=1)
    scores = _batched_ppr(op, {"multilayer": z})["multilayer"]
    copies = ml.copies(np.arange(n))
    person_scores = scores[copies].sum(axis=1)  # (n, folds)
    out["multilayer_exposure"] = seeds.pick(person_scores) * n
    return out
