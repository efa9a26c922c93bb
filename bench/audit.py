"""Benchmark: the audit log's tile store, appends and proofs at 1M leaves, beside pymerkle on SQLite.

Appends ``--leaves`` commitments (41 bytes each) in transactions of ``--batch`` and reports
leaves/s; then at the full size times inclusion and consistency proofs from the stored tiles
(each with a fresh ``TileSubtrees``, so no tile is reused between proofs), counts the tiles and
queries each proof reads, times inclusion proofs at one leaf less (a size no append ended at,
so with no peaks row), and times verification. The baseline, pymerkle's ``SqliteTree``,
is measured at ``--baseline-leaves`` in the same run when it is installed, twice: with its
subtree-root cache warm from earlier proofs (its default), and cleared before each proof (as
the tile store's proofs share nothing); the ratios compare its p50 to the tile store's.
Targets (issue 15): appends >= 5,000 leaves/s embedded; proofs at 1M < 1 ms from at most three
tile reads; verification < 0.1 ms.

    python bench/audit.py
    python bench/audit.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        --baseline-leaves 0
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from creditgraph.audit import merkle, tile_store
from creditgraph.store.db import make_engine, upgrade

TARGETS = {"append_per_s": 5_000.0, "proof_ms": 1.0, "verify_ms": 0.1}


def entry(n: int) -> bytes:
    """A leaf as the log will hold them: a kind tag and a 32-byte commitment."""
    return b"decision:" + hashlib.sha256(n.to_bytes(8, "big")).digest()


def quantiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def timed(calls: list[Callable[[], object]]) -> list[float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def bench_store(url: str, leaves: int, batch: int, proofs: int, seed: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(seed)
    commits = []
    start = time.perf_counter()
    for first in range(0, leaves, batch):
        entries = [entry(n) for n in range(first, min(leaves, first + batch))]
        began = time.perf_counter()
        with engine.begin() as conn:
            tile_store.append(conn, entries)
        commits.append(time.perf_counter() - began)
    append_s = time.perf_counter() - start
    size = leaves
    result: dict[str, float] = {"append_per_s": leaves / append_s}
    result["batch_p50_ms"], result["batch_p99_ms"] = quantiles(commits)
    with engine.connect() as conn:
        root = tile_store.root(conn, size)
        indexes = [rng.randrange(size) for _ in range(proofs)]
        olds = [rng.randint(1, size - 1) for _ in range(proofs)]
        for _ in range(50):  # warm the page cache and the statement cache
            tile_store.inclusion_proof(conn, rng.randrange(size), size)
        inclusion = timed([lambda i=i: tile_store.inclusion_proof(conn, i, size) for i in indexes])
        consistency = timed([lambda m=m: tile_store.consistency_proof(conn, m, size) for m in olds])
        result["inclusion_p50_ms"], result["inclusion_p99_ms"] = quantiles(inclusion)
        result["consistency_p50_ms"], result["consistency_p99_ms"] = quantiles(consistency)
        inner = size - 1  # no append ended here: the right edge from partial tiles
        offside = timed(
            [lambda i=i: tile_store.inclusion_proof(conn, i % inner, inner) for i in indexes]
        )
        result["offside_p50_ms"], result["offside_p99_ms"] = quantiles(offside)
        tiles, queries = [], []
        for index, old in zip(indexes[:200], olds[:200], strict=True):
            for prove in (merkle.inclusion_proof_from, merkle.consistency_proof_from):
                arg = index if prove is merkle.inclusion_proof_from else old
                dry = tile_store._Recorder()
                prove(dry, arg, size)
                source = tile_store.TileSubtrees(conn, size)
                source.prefetch(dry.ranges)
                prove(source, arg, size)
                tiles.append(source.tiles_read)
                queries.append(source.queries)
        result["tiles_per_proof_max"] = max(tiles)
        result["tiles_per_proof_mean"] = statistics.fmean(tiles)
        result["queries_per_proof_max"] = max(queries)
        checks = []
        for index, old in zip(indexes[:500], olds[:500], strict=True):
            leaf = merkle.leaf_hash(entry(index))
            path = tile_store.inclusion_proof(conn, index, size)
            old_root = tile_store.root(conn, old)
            steps = tile_store.consistency_proof(conn, old, size)
            checks.append(
                (
                    lambda leaf=leaf, index=index, path=path: merkle.verify_inclusion(
                        leaf, index, size, path, root
                    ),
                    lambda old=old, old_root=old_root, steps=steps: merkle.verify_consistency(
                        old, size, old_root, root, steps
                    ),
                )
            )
    engine.dispose()
    result["verify_inclusion_p50_ms"], result["verify_inclusion_p99_ms"] = quantiles(
        timed([c[0] for c in checks])
    )
    result["verify_consistency_p50_ms"], result["verify_consistency_p99_ms"] = quantiles(
        timed([c[1] for c in checks])
    )
    return result


def bench_pymerkle(folder: Path, leaves: int, proofs: int, seed: int) -> dict[str, float] | None:
    try:
        from pymerkle import SqliteTree
    except ImportError:
        return None
    rng = random.Random(seed)
    tree = SqliteTree(str(folder / "pymerkle.db"))
    start = time.perf_counter()
    tree.append_entries([entry(n) for n in range(leaves)])
    result = {"append_per_s": leaves / (time.perf_counter() - start)}
    same_root = tree.get_root() == merkle.root([entry(n) for n in range(leaves)])
    result["same_root_as_rfc9162"] = float(same_root)
    for cache in ("warm", "cold"):
        indexes = [rng.randint(1, leaves) for _ in range(proofs)]
        olds = [rng.randint(1, leaves - 1) for _ in range(proofs)]

        def clear(cache: str = cache) -> None:
            if cache == "cold":  # as the tile store's proofs, which share nothing
                tree.cache_clear()

        inclusion = timed([lambda i=i: (clear(), tree.prove_inclusion(i, leaves)) for i in indexes])
        consistency = timed(
            [lambda m=m: (clear(), tree.prove_consistency(m, leaves)) for m in olds]
        )
        for kind, samples in (("inclusion", inclusion), ("consistency", consistency)):
            p50, p99 = quantiles(samples)
            result[f"{kind}_{cache}_p50_ms"], result[f"{kind}_{cache}_p99_ms"] = p50, p99
    tree.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--db-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--baseline-leaves", type=int, default=1_000_000)
    parser.add_argument("--baseline-proofs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.db_url or f"sqlite:///{folder / 'audit.db'}"
        ours = bench_store(url, args.leaves, args.batch, args.proofs, args.seed)
        print(
            f"tile store on {url.split(':', 1)[0]}, {args.leaves:,} leaves, batches of {args.batch:,}"
        )
        print(
            f"  append      {ours['append_per_s']:>10,.0f} leaves/s "
            f"(target >= {TARGETS['append_per_s']:,.0f}); a batch's transaction "
            f"p50 {ours['batch_p50_ms']:.2f} ms, p99 {ours['batch_p99_ms']:.2f} ms"
        )
        for kind in ("inclusion", "consistency"):
            print(
                f"  {kind:<11} p50 {ours[f'{kind}_p50_ms']:.3f} ms, "
                f"p99 {ours[f'{kind}_p99_ms']:.3f} ms (target < {TARGETS['proof_ms']} ms)"
            )
        print(
            f"  reads       {ours['tiles_per_proof_mean']:.1f} tiles per proof on average, "
            f"at most {ours['tiles_per_proof_max']:.0f}, and the size's peaks row, in "
            f"{ours['queries_per_proof_max']:.0f} query"
        )
        print(
            f"  inclusion at {args.leaves - 1:,} (no append ended there, the edge from partial "
            f"tiles in a second query) p50 {ours['offside_p50_ms']:.3f} ms, "
            f"p99 {ours['offside_p99_ms']:.3f} ms"
        )
        for kind in ("inclusion", "consistency"):
            print(
                f"  verify {kind:<11} p50 {ours[f'verify_{kind}_p50_ms']:.4f} ms, "
                f"p99 {ours[f'verify_{kind}_p99_ms']:.4f} ms (target < {TARGETS['verify_ms']} ms)"
            )
        if args.baseline_leaves <= 0:
            print("pymerkle baseline skipped (--baseline-leaves 0)")
            return
        base = bench_pymerkle(folder, args.baseline_leaves, args.baseline_proofs, args.seed)
        if base is None:
            print("pymerkle is not installed: no baseline in this run")
            return
        print(
            f"pymerkle SqliteTree, {args.baseline_leaves:,} leaves "
            f"(root equal to RFC 9162's: {'yes' if base['same_root_as_rfc9162'] else 'no'})"
        )
        print(f"  append      {base['append_per_s']:>10,.0f} leaves/s")
        for cache in ("warm", "cold"):
            for kind in ("inclusion", "consistency"):
                p50, p99 = base[f"{kind}_{cache}_p50_ms"], base[f"{kind}_{cache}_p99_ms"]
                print(
                    f"  {kind:<11} {cache} cache p50 {p50:.3f} ms, p99 {p99:.3f} ms: "
                    f"{p50 / ours[f'{kind}_p50_ms']:,.1f}x the tile store's p50 at {args.leaves:,}"
                )


if __name__ == "__main__":
    main()
