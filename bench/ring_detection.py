"""Benchmark: fraud-ring detection on a person -> object stream, incremental peeling vs static.

A synthetic stream in time order (fixed seed): applicants arrive over time, each with one to three
edges to devices and phones whose popularity is skewed, plus planted rings (20 people sharing 3
devices) spread through the stream. The first part of the stream is loaded as history (one static
peeling, not timed); the rest is then applied and the densest block is read after every update:

- per edge: one repair and one detection per edge, on a sample of ``--single`` edges;
- micro-batched: one repair and one detection per batch (Spade's batch mode), ``--stream`` edges
  for each size in ``--batches``, one after the other on the same growing graph;

and the full static recompute of the final graph is timed beside them as the baseline (compiled,
and with ``--python-static`` also the Python loop). The final incremental peeling is checked equal
to the static one. Throughput is reported against wall time and CPU time (a shared machine slows
the first). Targets (issue): >= 20,000 edge updates/s, p99 detection <= 100 ms, at 1M edges.

    python bench/ring_detection.py [--edges 1000000] [--stream 20000] [--batches 100,1000,5000]
        [--single 300] [--python-static] [--python]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from creditgraph.graph.dense import IncrementalPeeler, peel


def synthetic_stream(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    persons = np.arange(m) // 2 + rng.integers(0, 3, m)  # about two edges per applicant
    n_objects = max(10, m // 3)
    objects = np.minimum((n_objects * rng.random(m) ** 2).astype(np.int64), n_objects - 1)
    rings = max(1, m // 100_000)
    for r in range(rings):  # a ring every 100k edges: 60 edges written over the ring's members
        at = int(rng.integers(0, m - 60))
        people = 10 * m + 20 * r + np.repeat(np.arange(20), 3)
        devices = 10 * m + 3 * r + np.tile(np.arange(3), 20)
        persons[at : at + 60] = people
        objects[at : at + 60] = devices
    return persons, objects


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()`` (the CPU time shows what a shared machine hides)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def report(label: str, n_edges: int, wall: np.ndarray, cpu: np.ndarray, unit: str) -> None:
    print(
        f"{label}: {n_edges / wall.sum():,.0f} edge updates/s ({n_edges / cpu.sum():,.0f}/s of CPU); "
        f"detection latency per {unit} p50 {np.percentile(wall, 50) * 1e3:.1f} ms, "
        f"p99 {np.percentile(wall, 99) * 1e3:.1f} ms, max {wall.max() * 1e3:.1f} ms "
        f"(CPU p50 {np.percentile(cpu, 50) * 1e3:.1f} ms, p99 {np.percentile(cpu, 99) * 1e3:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1_000_000, help="edges in the stream in all")
    parser.add_argument(
        "--stream", type=int, default=20_000, help="edges applied as updates per batch size"
    )
    parser.add_argument(
        "--batches", default="100,1000,5000", help="micro-batch sizes (edges), comma-separated"
    )
    parser.add_argument("--single", type=int, default=300, help="edges applied one by one")
    parser.add_argument("--window", type=float, default=0.0, help="sliding window (0: none)")
    parser.add_argument(
        "--python-static", action="store_true", help="also time the static peeling in Python"
    )
    parser.add_argument(
        "--python", action="store_true", help="the Python repair instead of the compiled one"
    )
    parser.add_argument("--seed", type=int, default=20231001)
    args = parser.parse_args()
    sizes = [int(b) for b in args.batches.split(",") if b]

    persons, objects = synthetic_stream(args.edges, args.seed)
    times = np.arange(args.edges, dtype=np.float64)
    window = args.window or None
    history = args.edges - args.single - args.stream * len(sizes)
    started = time.perf_counter()
    inc = IncrementalPeeler.from_edges(
        persons[:history],
        objects[:history],
        times[:history],
        window=window,
        compiled=not args.python,
    )
    print(
        f"repair: {'compiled (numba)' if inc.compiled else 'Python'}; history: "
        f"{inc.n_edges:,} edges, {inc.n_nodes:,} nodes (loaded with one static peeling in "
        f"{time.perf_counter() - started:.1f} s)"
    )
    inc.insert(int(persons[history]), int(objects[history]), float(times[history]))  # warm-up

    def edge_at(k: int) -> Callable[[], object]:
        def apply() -> object:
            inc.insert(int(persons[k]), int(objects[k]), float(times[k]))
            return inc.block()

        return apply

    single = np.array([timed(edge_at(k)) for k in range(history + 1, history + args.single)])
    report(f"per edge ({len(single)} edges)", len(single), single[:, 0], single[:, 1], "edge")

    begin = history + args.single
    latency: dict[int, np.ndarray] = {}
    for size in sizes:
        steps_before = inc.repaired_steps

        def batch_at(a: int, b: int) -> Callable[[], object]:
            def apply() -> object:
                inc.update(
                    zip(
                        persons[a:b].tolist(),
                        objects[a:b].tolist(),
                        times[a:b].tolist(),
                        strict=True,
                    )
                )
                return inc.block()

            return apply

        end = begin + args.stream
        runs = np.array([timed(batch_at(a, min(end, a + size))) for a in range(begin, end, size)])
        latency[size] = runs[:, 0]
        report(
            f"micro-batches of {size:,} ({len(runs)} batches)",
            end - begin,
            runs[:, 0],
            runs[:, 1],
            "batch",
        )
        print(
            f"  replayed {(inc.repaired_steps - steps_before) / len(runs):,.0f} steps per batch "
            f"of {inc.n_nodes:,} nodes"
        )
        begin = end

    block = inc.block()
    print(
        f"final graph: {inc.n_edges:,} edges, {inc.n_nodes:,} nodes; densest block "
        f"{len(block.persons)} persons x {len(block.objects)} objects, density {block.density:.3f}"
    )
    kept_p, kept_o = inc.edges()
    statics = {"compiled": True, "Python": False} if args.python_static else {"compiled": True}
    baseline = 0.0
    for name, compiled in statics.items():
        t0 = time.perf_counter()
        static = peel(kept_p, kept_o, compiled=compiled)
        took = time.perf_counter() - t0
        baseline = baseline or took
        same = np.array_equal(static.order, inc.peeling().order) and static.block == inc.block()
        print(f"static full peeling ({name}) of the final graph: {took:.2f} s; equal: {same}")
    print(
        f"static (compiled) / incremental latency: "
        f"{baseline / np.percentile(single[:, 0], 50):,.0f}x per edge (p50), "
        + ", ".join(
            f"{baseline / np.percentile(v, 50):,.1f}x per batch of {k:,} (p50)"
            for k, v in latency.items()
        )
    )
    print(
        "throughput vs a static recompute per update: "
        f"per edge {len(single) / single[:, 0].sum() * baseline:,.0f}x, "
        + ", ".join(
            f"batches of {k:,} {args.stream / v.sum() * baseline:,.0f}x" for k, v in latency.items()
        )
    )


if __name__ == "__main__":
    main()
