"""Benchmark: generate 100k repayment schedules (mixed methods, 12-36 months) against a target.

    python bench/schedules.py                 # 100,000 schedules in one process
    python bench/schedules.py --processes 2   # the same work split over two processes

Each schedule is validated (``ScheduleRequest``) and generated in full: frozen rows with Decimal
amounts and totals. The checksum (total interest in fen, rows) is the same for any process count, so
parallel runs are shown to compute identical schedules. Target: 100k schedules in under 5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

from creditgraph.servicing import Method, ScheduleRequest, generate_schedule

TARGET_SECONDS = 5.0
# principal in fen, rate in millionths, periods, method index, start day, fee in fen
Spec = tuple[int, int, int, int, int, int]


def make_specs(count: int, seed: int) -> list[Spec]:
    """A reproducible mix: all four methods, 12-36 months, 1k-500k yuan, 3%-24%, some fees."""
    rng = random.Random(seed)
    return [
        (
            rng.randrange(100_000, 50_000_000),  # fen
            rng.randrange(30_000, 240_000),  # rate in millionths
            rng.randint(12, 36),
            rng.randrange(4),
            rng.randrange(365),
            rng.choice((0, 0, 0, 500)),  # fen per period
        )
        for _ in range(count)
    ]


METHODS = tuple(Method)
EPOCH = date(2024, 1, 1)


def run(specs: list[Spec]) -> tuple[int, int]:
    """Validate and generate each schedule; returns (total interest in fen, rows)."""
    interest = 0
    rows = 0
    for principal, rate, periods, method, day, fee in specs:
        schedule = generate_schedule(
            ScheduleRequest(
                principal=Decimal(principal).scaleb(-2),
                annual_rate=Decimal(rate).scaleb(-6),
                periods=periods,
                method=METHODS[method],
                start=EPOCH + timedelta(days=day),
                fee_per_period=Decimal(fee).scaleb(-2),
            )
        )
        interest += int(schedule.totals.interest * 100)
        rows += len(schedule.rows)
    return interest, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args()

    specs = make_specs(args.count, args.seed)
    run(specs[:200])  # warm caches and imports outside the timing
    started = time.perf_counter()
    cpu_started = time.process_time()
    if args.processes == 1:
        interest, rows = run(specs)
    else:
        chunks = [specs[i :: args.processes] for i in range(args.processes)]
        with ProcessPoolExecutor(args.processes) as pool:
            results = list(pool.map(run, chunks))
        interest, rows = sum(r[0] for r in results), sum(r[1] for r in results)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # this process only: meaningful with --processes 1

    rate = args.count / elapsed
    projected = 100_000 / rate
    verdict = "meets" if projected < TARGET_SECONDS else "misses"
    where = f"python {platform.python_version()} on {os.cpu_count()} CPUs"
    print(f"{where}, {args.processes} process(es)")
    print(f"{args.count:,} schedules, {rows:,} rows in {elapsed:.2f} s: {rate:,.0f} schedules/s")
    if args.processes == 1:
        print(f"CPU time {cpu:.2f} s ({cpu / args.count * 1e6:.1f} us a schedule)")
    print(f"100k projected {projected:.2f} s: {verdict} the {TARGET_SECONDS:.0f} s target")
    print(f"checksum: interest {interest:,} fen over {rows:,} rows")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
