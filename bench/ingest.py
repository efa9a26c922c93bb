"""Benchmark: simulate + ingest at scale, and stream a 10M-row interactions file.

Each step runs as its own process so its wall time and peak RSS are its own.
Targets (issue "Foundation"): 1M people simulate in < 300 s; ingesting a 10M-row interactions file
stays under 2 GB RSS. Usage:

    python bench/ingest.py --people 1000000 [--interactions 10000000] [--workdir /tmp/cg-bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CLI = [sys.executable, "-m", "creditgraph.cli"]


def run(step: str, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB) of that process alone."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        assert proc.stderr is not None
        sys.exit(f"{step} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def parquet_rows(directory: Path) -> dict[str, int]:
    return {
        p.name.split(".")[0]: pq.ParquetFile(p).metadata.num_rows
        for p in sorted(directory.glob("*.parquet"))
    }


def write_interactions(path: Path, persons: Path, rows: int, seed: int = 11) -> None:
    """A large interactions CSV among simulated people, written in blocks."""
    ids = pq.read_table(persons, columns=["person_id"])["person_id"].to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-07-01T00:00:00")
    kinds = np.array(["message", "call", "like", "comment"])
    block = 1_000_000
    with pacsv.CSVWriter(
        path,
        pa.schema(
            [
                ("src", pa.string()),
                ("dst", pa.string()),
                ("kind", pa.string()),
                ("ts", pa.string()),
                ("count", pa.int64()),
            ]
        ),
    ) as writer:
        for offset in range(0, rows, block):
            n = min(block, rows - offset)
            src = rng.integers(0, len(ids), n)
            dst = (src + rng.integers(1, len(ids), n)) % len(ids)
            ts = start + rng.integers(0, 300 * 86400, n).astype("timedelta64[s]")
            writer.write_table(
                pa.table(
                    {
                        "src": ids[src],
                        "dst": ids[dst],
                        "kind": kinds[rng.integers(0, 4, n)],
                        "ts": np.datetime_as_string(ts, unit="s"),
                        "count": rng.integers(1, 20, n),
                    }
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/creditgraph-bench"))
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    world, big = work / "world", work / "big"
    big.mkdir(parents=True)
    env = {**os.environ, "CREDITGRAPH_HOME": str(work / "home")}
    env.pop("CREDITGRAPH_DB_URL", None)

    results = []
    wall, rss = run(
        "simulate",
        [*CLI, "simulate", "--people", str(args.people), "--seed", "1", "--out", str(world)],
        env,
    )
    rows = parquet_rows(world)
    results.append(("simulate", sum(rows.values()), wall, rss))
    files = [str(p) for p in sorted(world.glob("*.parquet"))]
    wall, rss = run("ingest", [*CLI, "ingest", *files], env)
    results.append(("ingest (all tables)", sum(rows.values()), wall, rss))
    wall, rss = run("ingest again", [*CLI, "ingest", *files], env)
    results.append(("re-ingest (all duplicates)", sum(rows.values()), wall, rss))
    if args.interactions:
        path = big / "interactions.csv"
        write_interactions(path, world / "persons.parquet", args.interactions)
        wall, rss = run("ingest big", [*CLI, "ingest", str(path), "--batch-name", "big"], env)
        results.append(
            (
                f"ingest {args.interactions / 1e6:.0f}M-row interactions CSV",
                args.interactions,
                wall,
                rss,
            )
        )

    print(
        f"\npeople {args.people:,}; rows per table: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
    )
    print(f"{'step':42} {'rows':>12} {'wall s':>8} {'rows/s':>11} {'peak RSS MB':>12}")
    for step, n, wall, rss in results:
        print(f"{step:42} {n:>12,} {wall:>8.1f} {n / wall:>11,.0f} {rss:>12,.0f}")
    sim_wall = results[0][2]
    print(f"\nsimulate vs 300 s target: {sim_wall / 300:.2f}x of budget")
    big_rss = results[-1][3]
    print(f"10M-row ingest peak RSS vs 2,048 MB target: {big_rss / 2048:.2f}x of budget")


if __name__ == "__main__":
    main()
