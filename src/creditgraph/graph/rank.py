"""Risk propagation for analysts: exposure of every node to a set of known-bad seeds.

``exposure`` is personalised PageRank seeded on the bad nodes (uniform over seeds, or by seed
weight): the long-run share of time a walker that keeps restarting at bad nodes spends at each node.

Neighbourhood size is moderated against the node's *expected* exposure: the exposure it would have
if the seeds were placed at random. Personalised PageRank is linear in the seed vector when no node
is dangling, and a random seed set has the uniform vector as its mean, so the expected exposure is
the ordinary (uniform-teleport) PageRank; with dangling nodes this is a close approximation.
``relative_exposure = exposure / expected_exposure`` is then a lift over chance: 1 means as exposed
as a random placement of the same seeds would make it, so a hub with many contacts is not flagged
merely for having many.

Signed graphs (``negative_below`` given). An edge with weight ``< negative_below`` is *distrust*; an
edge with positive weight ``>= negative_below`` is *trust*; anything else (``negative_below <= w <=
0``) is neutral. Risk propagates over trust edges only, weighted by the rating: vouching for, or
being vouched for by, a bad actor is exposure; being distrusted by one is not (bad actors rate their
victims and accusers down). Distrust is instead reported as evidence about its target, one step and
no further, following the one-step distrust rule of Guha, Kumar, Raghavan and Tomkins,
"Propagation of trust and distrust" (WWW 2004): "the enemy of my enemy" is not propagated.

- ``distrust_in``: distinct non-seed nodes that distrust the node (seeds' ratings are not credible);
- ``distrust_score``: ``n · Σ_u rep(u) / k_u`` over those raters ``u``, where ``rep`` is the global
  trust PageRank (reputation) and ``k_u`` the number of nodes ``u`` distrusts: distrust from
  reputable raters who distrust few counts most; 1.0 is one average rater's whole distrust.
- ``goodness``, ``fairness``: REV2 rater reputation learned jointly from every rating, whatever its
  sign (:mod:`creditgraph.graph.reputation`; Kumar et al., WSDM 2018): goodness in [-1, 1] is how
  well a node is rated by reliable raters, fairness in [0, 1] how far its own ratings agree with
  the consensus. Ratings are scaled from ``rating_range`` (default ``[-M, M]``, ``M`` the largest
  absolute rating) onto [-1, 1]; the edge direction is always rater -> ratee, also when
  propagation is undirected; the seeds are known-bad raters, their fairness held at 0 (the paper's
  supervised extension).

Directed graphs propagate along the edge direction (``src → dst``): the nodes a bad node points at
are exposed; swap the columns to propagate the other way. Undirected graphs propagate both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from creditgraph.graph.csr import BuildReport, Graph, NodeIndex, build_graph
from creditgraph.graph.pagerank import pagerank, seed_vector, transition
from creditgraph.graph.reputation import Rev2Config, rev2, scale_ratings
from creditgraph.graph.structure import degree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class UnknownSeedError(KeyError):
    """Seeds that are not nodes of the graph; ``positions`` index into the given seed array."""

    def __init__(self, positions: IntArray, ids: npt.NDArray[Any]) -> None:
        super().__init__(f"{positions.size} seed(s) not in the graph, first {ids[positions[0]]!r}")
        self.positions = positions

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RankConfig:
    """Knobs of :func:`rank_risk`; ``tol=None`` takes PageRank's default for float64."""

    alpha: float = 0.85
    directed: bool = False
    negative_below: float | None = None
    tol: float | None = None
    max_iter: int = 1000
    ignore_missing_seeds: bool = False
    rating_range: tuple[float, float] | None = None
    rev2: Rev2Config | None = None


@dataclass(frozen=True, eq=False)
class RiskScores:
    """One entry per node, in node-index order; :meth:`table` sorts by rank for output."""

    nodes: npt.NDArray[Any]
    exposure: FloatArray
    expected_exposure: FloatArray
    relative_exposure: FloatArray
    exposure_rank: IntArray
    is_seed: npt.NDArray[np.bool_]
    degree: IntArray
    distrust_in: IntArray | None
    distrust_score: FloatArray | None
    goodness: FloatArray | None
    fairness: FloatArray | None
    report: BuildReport
    trust_edges: int
    distrust_edges: int
    seeds_missing: int
    iterations: int
    reputation_iterations: int = 0

    def table(self) -> dict[str, npt.NDArray[Any]]:
        """Columns for output, rows ordered by exposure rank (ties in node order)."""
        order = np.lexsort((np.arange(self.nodes.size), self.exposure_rank))
        cols: dict[str, npt.NDArray[Any]] = {
            "node": self.nodes[order],
            "exposure": self.exposure[order],
            "exposure_rank": self.exposure_rank[order],
            "is_seed": self.is_seed[order],
            "degree": self.degree[order],
            "expected_exposure": self.expected_exposure[order],
            "relative_exposure": self.relative_exposure[order],
        }
        if self.distrust_in is not None and self.distrust_score is not None:
            cols["distrust_in"] = self.distrust_in[order]
            cols["distrust_score"] = self.distrust_score[order]
        if self.goodness is not None and self.fairness is not None:
            cols["goodness"] = self.goodness[order]
            cols["fairness"] = self.fairness[order]
        return cols


def _split_signed(
    weights: FloatArray, negative_below: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    distrust = weights < negative_below
    trust = ~distrust & (weights > 0)
    return trust, distrust


def _distrust(
    distrust: Graph, reputation: FloatArray, seed_mask: npt.NDArray[np.bool_]
) -> tuple[IntArray, FloatArray]:
    """One-step distrust: counts of non-seed raters and their reputation-weighted share."""
    pattern = (distrust.adjacency != 0).astype(np.float64).tocsr()
    pattern.data[np.repeat(seed_mask, np.diff(pattern.indptr))] = 0.0  # seeds' ratings dropped
    pattern.eliminate_zeros()
    k = np.asarray(pattern.sum(axis=1)).reshape(-1)
    share = np.zeros_like(k)
    np.divide(reputation, k, out=share, where=k > 0)
    n = pattern.shape[0]
    counts = np.asarray(pattern.sum(axis=0)).reshape(-1).astype(np.int64)
    score = n * (pattern.T @ share)
    return counts, np.asarray(score, dtype=np.float64)


def rank_risk(
    src: Any,
    dst: Any,
    seeds: Any,
    *,
    weights: Any = None,
    seed_weights: Any = None,
    config: RankConfig | None = None,
) -> RiskScores:
    """Exposure of every node of the edge list to the seeds; see the module docstring."""
    cfg = config or RankConfig()
    s = np.asarray(src)
    d = np.asarray(dst)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    index = NodeIndex.from_edges(s, d)
    kw: dict[str, Any] = {"directed": cfg.directed, "nodes": index.ids}

    if cfg.negative_below is None:
        graph = build_graph(s, d, w, **kw)
        trust_graph, distrust_graph = graph, None
        trust_edges, distrust_edges = graph.n_edges, 0
    else:
        if w is None:
            raise ValueError("a signed graph needs weights (ratings)")
        trust, distrust = _split_signed(w, cfg.negative_below)
        graph = build_graph(s, d, None, **kw)  # every tie, whatever its sign: degree and counts
        trust_graph = build_graph(s[trust], d[trust], w[trust], **kw)
        distrust_graph = build_graph(s[distrust], d[distrust], None, duplicates="max", **kw)
        trust_edges, distrust_edges = trust_graph.n_edges, distrust_graph.n_edges

    seed_ids = np.asarray(seeds)
    seed_pos = index.lookup(seed_ids)
    missing = np.flatnonzero(seed_pos < 0)
    if missing.size and not cfg.ignore_missing_seeds:
        raise UnknownSeedError(missing, seed_ids)
    found = seed_pos >= 0
    sw = None if seed_weights is None else np.asarray(seed_weights, dtype=np.float64)[found]
    seed_pos = seed_pos[found]
    n = len(index)
    p = seed_vector(n, seed_pos, sw)
    if p.sum() <= 0:
        raise ValueError("no seed with positive weight is in the graph")

    op = transition(trust_graph)
    exposure_run = pagerank(
        op, personalization=p, alpha=cfg.alpha, tol=cfg.tol, max_iter=cfg.max_iter
    )
    expected_run = pagerank(op, alpha=cfg.alpha, tol=cfg.tol, max_iter=cfg.max_iter)
    exposure = np.asarray(exposure_run.scores, dtype=np.float64)
    expected = np.asarray(expected_run.scores, dtype=np.float64)
    relative = exposure / expected  # uniform teleport makes every expected value >= (1-α)/n
    is_seed = p > 0
    ranks = rankdata(-exposure, method="min").astype(np.int64)

    distrust_in = distrust_score = goodness = fairness = None
    reputation_iterations = 0
    if distrust_graph is not None and w is not None:
        distrust_in, distrust_score = _distrust(distrust_graph, expected, is_seed)
        reputation = rev2(
            index.lookup(s),
            index.lookup(d),
            scale_ratings(w, cfg.rating_range),
            n,
            config=cfg.rev2 or Rev2Config(max_iter=cfg.max_iter),
            known_unfair=is_seed,
        )
        goodness, fairness = reputation.goodness, reputation.fairness
        reputation_iterations = reputation.iterations

    return RiskScores(
        nodes=index.ids,
        exposure=exposure,
        expected_exposure=expected,
        relative_exposure=relative,
        exposure_rank=ranks,
        is_seed=is_seed,
        degree=degree(graph.adjacency, "all"),
        distrust_in=distrust_in,
        distrust_score=distrust_score,
        goodness=goodness,
        fairness=fairness,
        report=graph.report,
        trust_edges=trust_edges,
        distrust_edges=distrust_edges,
        seeds_missing=int(missing.size),
        iterations=exposure_run.iterations + expected_run.iterations,
        reputation_iterations=reputation_iterations,
    )
