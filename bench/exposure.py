"""Benchmark: exposure to known defaulters kept current by local push, against full recomputes.

A synthetic undirected weighted graph (fixed seed; endpoints uniform, weights in (0.1, 1.1],
duplicates merged by ``max`` as the build does) with a share of the nodes known defaulters.
Measured:

- per tie update (a random mix of new ties, weight changes and ended ties): latency of
  :meth:`DynamicPPR.set_tie` including its pushes, p50 / p99 / max;
- a batched defaulter refresh (a batch of new defaulters folded in by one exact power
  iteration on the whole graph);
- the baseline beside each: a full exact recompute (CSR build, transition, power iteration at
  the build's tolerance) after one update, as the feature build would do;
- accuracy after the stream: max-abs and L1 distance to a fresh exact vector, the certificate
  ``‖r‖₁`` and the top-500 overlap.

Targets (issue #14): p99 per tie update <= 1 ms; batched refresh at 5M edges <= 3 s. Usage:

    python bench/exposure.py [--nodes 1000000] [--edges 5000000] [--updates 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from creditgraph.graph.dynamic_ppr import DynamicPPR
from creditgraph.graph.pagerank import pagerank, transition


def exact(state: DynamicPPR) -> np.ndarray:
    adj = state.ties.adjacency()
    s = state.s[: state.n]
    return np.asarray(pagerank(transition(adj), personalization=s, tol=1e-10).scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=5_000_000)
    ap.add_argument("--defaulters", type=float, default=0.02, help="share of nodes seeded")
    ap.add_argument("--updates", type=int, default=20_000)
    ap.add_argument("--new-defaulters", type=int, default=1_000)
    ap.add_argument("--eps", type=float, default=1e-7, help="push threshold; about 0.1 / nodes")
    ap.add_argument("--baseline-runs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n, m = args.nodes, args.edges
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.random(m) + 0.1
    seeds = rng.choice(n, int(n * args.defaulters), replace=False)

    started = time.perf_counter()
    state = DynamicPPR.from_edges(n, a, b, w, seeds, eps=args.eps)
    setup = time.perf_counter() - started
    print(
        f"graph: {n:,} nodes, {state.ties.n_ties:,} ties, {seeds.size:,} defaulters, "
        f"eps {args.eps:g}; initial exact load {setup:.2f} s"
    )

    latencies = np.empty(args.updates)
    pushes = np.empty(args.updates, dtype=np.int64)
    kinds = rng.random(args.updates)
    ends = rng.integers(0, n, (args.updates, 2))
    weights = rng.random(args.updates) + 0.1
    for i in range(args.updates):
        u, v = int(ends[i, 0]), int(ends[i, 1])
        if kinds[i] < 0.3:  # end an existing tie of u (a new tie if u has none)
            k = int(state.ties.deg[u])
            if k:
                v = int(state.ties.nbr[state.ties.start[u] + int(rng.integers(0, k))])
            weight = 0.0 if k else float(weights[i])
        else:  # a new tie, or a weight change when it exists
            weight = float(weights[i])
        t0 = time.perf_counter()
        pushes[i] = state.set_tie(u, v, weight)
        latencies[i] = time.perf_counter() - t0
    us = latencies * 1e6
    print(
        f"tie update ({args.updates:,}): p50 {np.percentile(us, 50):.0f} us, "
        f"p99 {np.percentile(us, 99):.0f} us, max {us.max():.0f} us; "
        f"pushes per update mean {pushes.mean():.1f}, p99 {np.percentile(pushes, 99):.0f}"
    )

    base = []
    for _ in range(args.baseline_runs):
        t0 = time.perf_counter()
        state.set_tie(int(rng.integers(0, n)), int(rng.integers(0, n)), 0.5)
        exact_scores = exact_build(state)
        base.append(time.perf_counter() - t0)
    print(
        f"baseline, exact recompute after one update (build tol 1e-8): "
        f"{min(base):.2f} s; ratio to p99 update {min(base) / (np.percentile(us, 99) / 1e6):,.0f}x"
    )

    truth = exact(state)
    got = state.scores()
    top = 500
    overlap = np.intersect1d(np.argsort(-truth)[:top], np.argsort(-got)[:top]).size / top
    print(
        f"accuracy after the stream: max-abs {np.abs(got - truth).max():.2e}, "
        f"L1 {np.abs(got - truth).sum():.2e}, certificate ||r||_1 {state.error_bound:.2e}, "
        f"top-{top} overlap {overlap:.3f} (max score {truth.max():.2e})"
    )
    del exact_scores

    fresh = rng.choice(n, args.new_defaulters, replace=False)
    t0 = time.perf_counter()
    after = state.add_defaulters(fresh)
    refresh = time.perf_counter() - t0
    print(
        f"batched refresh, {args.new_defaulters:,} new defaulters: {refresh:.2f} s "
        f"({after} pushes after it); baseline, one exact refresh per defaulter: "
        f"{refresh:.2f} s x {args.new_defaulters:,} = {refresh * args.new_defaulters:,.0f} s"
    )


def exact_build(state: DynamicPPR) -> np.ndarray:
    """What the build does after an update: CSR, transition, power iteration at its tolerance."""
    s = state.s[: state.n]
    return np.asarray(
        pagerank(transition(state.ties.as_graph()), personalization=s, tol=1e-8).scores
    )


if __name__ == "__main__":
    main()
