"""Benchmark: the full feature build at scale, per family, and personalised PageRank vs the libraries.

One run: (1) simulate and ingest a population unless --home already holds one; (2) build every
feature as of the simulation's end date in a separate process (wall time, peak RSS, time per
feature family from the snapshot manifest); (3) on the same as-of graph, personalised PageRank
seeded on 1% of nodes with creditgraph (scipy CSR), python-igraph (PRPACK) and networkx.

Targets (graph/feature issue): full build for 1M people / 10M interactions < 60 s and < 4 GB RSS;
personalised PageRank >= 50x faster than networkx and >= 5x faster than igraph.

    python bench/graph_features.py --people 1000000 [--home /tmp/creditgraph-bench/home]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

CLI = [sys.executable, "-m", "creditgraph.cli"]
AS_OF = "2026-06-30"  # the simulator's default end date


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        assert proc.stderr is not None
        sys.exit(f"{' '.join(argv[3:])} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def prepare(home: Path, people: int, env: dict[str, str]) -> None:
    if (home / "lake" / "interactions").exists():
        print(f"reusing the population in {home}")
        return
    world = home.parent / "world"
    print(f"simulating {people:,} people and ingesting them into {home} …")
    run_measured(
        [*CLI, "simulate", "--people", str(people), "--seed", "1", "--out", str(world)], env
    )
    run_measured([*CLI, "ingest", *map(str, sorted(world.glob("*.parquet")))], env)


def ppr_comparison(edges_path: Path, networkx_limit: int) -> list[tuple[str, float]]:
    import igraph as ig
    import networkx as nx

    from creditgraph.graph.csr import build_graph
    from creditgraph.graph.pagerank import pagerank, seed_vector

    edges = pq.read_table(edges_path)
    a = edges["a"].to_numpy(zero_copy_only=False).astype(object)
    b = edges["b"].to_numpy(zero_copy_only=False).astype(object)
    w = edges["strength"].to_numpy().astype(np.float64)
    graph = build_graph(a, b, w, directed=False)
    n = graph.n_nodes
    rng = np.random.default_rng(0)
    seeds = rng.choice(n, size=max(1, n // 100), replace=False)
    p = seed_vector(n, seeds)
    results = []
    for dtype in (np.float32, np.float64):
        started = time.perf_counter()
        pagerank(graph, personalization=p, dtype=dtype)
        results.append((f"creditgraph scipy {np.dtype(dtype).name}", time.perf_counter() - started))
    coo = graph.adjacency.tocoo()
    upper = coo.row < coo.col
    g = ig.Graph(n=n, edges=np.column_stack([coo.row[upper], coo.col[upper]]).tolist())
    started = time.perf_counter()
    g.personalized_pagerank(
        weights=coo.data[upper].tolist(), reset_vertices=seeds.tolist(), damping=0.85
    )
    results.append(("python-igraph PRPACK", time.perf_counter() - started))
    if n <= networkx_limit:
        nxg = nx.Graph()
        nxg.add_weighted_edges_from(
            zip(
                coo.row[upper].tolist(),
                coo.col[upper].tolist(),
                coo.data[upper].tolist(),
                strict=True,
            )
        )
        nxg.add_nodes_from(range(n))
        started = time.perf_counter()
        nx.pagerank(nxg, alpha=0.85, personalization={int(s): 1.0 for s in seeds}, weight="weight")
        results.append(("networkx", time.perf_counter() - started))
    print(f"as-of graph: {n:,} nodes, {graph.n_edges:,} undirected edges, {seeds.size:,} seeds")
    return results


def online_lookups(home: Path, env: dict[str, str], n: int = 2000) -> None:
    """Refresh the online table, then time single-person reads as a decision would make them."""
    wall, rss = run_measured([*CLI, "features", "build", "--as-of", AS_OF], env)
    print(f"\nfeature build with online-table refresh: wall {wall:.1f} s, peak RSS {rss:,.0f} MB")
    from sqlalchemy import select

    from creditgraph.features.store import get_online
    from creditgraph.settings import Settings
    from creditgraph.store.db import make_engine
    from creditgraph.store.models import OnlineFeatures

    engine = make_engine(Settings(home=home).database_url)
    with engine.connect() as conn:
        ids = list(conn.execute(select(OnlineFeatures.person_id).limit(200_000)).scalars())
    rng = np.random.default_rng(1)
    picks = [ids[i] for i in rng.integers(0, len(ids), n)]
    times = []
    for person in picks:
        started = time.perf_counter()
        record = get_online(engine, person)
        times.append((time.perf_counter() - started) * 1000)
        assert record is not None
    engine.dispose()
    p50, p99 = np.percentile(times, [50, 99])
    print(
        f"online lookup, {n:,} random people: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 < 5 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--home", type=Path, default=Path("/tmp/creditgraph-bench/home"))
    parser.add_argument(
        "--networkx-limit", type=int, default=2_000_000, help="skip networkx above this many nodes"
    )
    args = parser.parse_args()
    env = {**os.environ, "CREDITGRAPH_HOME": str(args.home)}
    env.pop("CREDITGRAPH_DB_URL", None)
    prepare(args.home, args.people, env)

    wall, rss = run_measured([*CLI, "features", "build", "--as-of", AS_OF, "--no-online"], env)
    manifests = sorted((args.home / "features").rglob("*.json"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads(manifests[-1].read_text())
    print(
        f"\nfull feature build as of {AS_OF}: {manifest['rows']:,} people, wall {wall:.1f} s, peak RSS {rss:,.0f} MB"
    )
    print(f"  vs 60 s target: {wall / 60:.2f}x of budget; vs 4,096 MB: {rss / 4096:.2f}x of budget")
    for name, seconds in manifest["timings_s"].items():
        print(f"  {name:32} {seconds:8.2f} s")

    online_lookups(args.home, env)
    run_measured([*CLI, "graph", "build", "--as-of", AS_OF], env)
    edges = args.home / "graph" / f"as_of={AS_OF}" / "edges.parquet"
    results = ppr_comparison(edges, args.networkx_limit)
    ours = min(t for name, t in results if name.startswith("creditgraph"))
    print("\npersonalised PageRank on the same graph:")
    for name, seconds in results:
        print(f"  {name:28} {seconds:8.2f} s   {seconds / ours:6.1f}x creditgraph's best")


if __name__ == "__main__":
    main()
