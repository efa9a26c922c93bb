"""Benchmark: bounded local HTTP load against a running ``creditgraph serve`` (one worker).

A fixed number of concurrent httpx clients send requests for a fixed count; the report gives
throughput and p50/p99 latency against the issue 5 targets (>= 300 decisions/s, p99 < 100 ms).
The load generator shares the machine's cores with the server, so numbers are a floor.

    creditgraph serve --no-access-log &
    python bench/api.py --mode health
    python bench/api.py --mode decisions --key cg_... --person P1 --product XFD-EDU \\
        --amount 20000.00 --term 12 --purpose education

``decisions`` needs a key allowed to POST (applicant-app, officer, admin), people with online
features and a champion model; each request is a fresh decision (no Idempotency-Key).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import time
from typing import Any

import httpx

TARGET_RPS = 300.0
TARGET_P99_MS = 100.0


async def _run(args: argparse.Namespace) -> tuple[list[float], collections.Counter[int], float]:
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    if args.mode == "health":
        method, path, body = "GET", "/v1/health", None
    else:
        method, path = "POST", "/v1/applications"
        body = {
            "person_id": args.person,
            "product_code": args.product,
            "amount": args.amount,
            "term": args.term,
            "purpose": args.purpose,
        }
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    remaining = args.requests
    limits = httpx.Limits(max_connections=args.concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            response = await client.request(method, path, json=body, headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[response.status_code] += 1

    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=30) as client:
        warm = await client.request(method, path, json=body, headers=headers)
        if warm.status_code >= 400:
            raise SystemExit(f"warm-up request failed: {warm.status_code} {warm.text[:300]}")
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--mode", choices=["health", "decisions"], default="health")
    parser.add_argument("--key", default=os.environ.get("CREDITGRAPH_API_KEY"))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--person", default="P1")
    parser.add_argument("--product", default="")
    parser.add_argument("--amount", default="20000.00")
    parser.add_argument("--term", type=int, default=12)
    parser.add_argument("--purpose", default="education")
    args = parser.parse_args()
    if args.mode == "decisions" and not (args.key and args.product):
        parser.error("--mode decisions needs --key (or CREDITGRAPH_API_KEY) and --product")

    latencies, statuses, elapsed = asyncio.run(_run(args))
    rps = len(latencies) / elapsed
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    what = "decisions/s" if args.mode == "decisions" else "requests/s"
    report: dict[str, Any] = {
        "mode": args.mode,
        "requests": len(latencies),
        "concurrency": args.concurrency,
        "statuses": dict(statuses),
        what: round(rps, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
    }
    for name, value in report.items():
        print(f"{name:>12}: {value}")
    ok_rps = "met" if rps >= TARGET_RPS else "MISSED"
    ok_p99 = "met" if p99 < TARGET_P99_MS else "MISSED"
    print(
        f"target >= {TARGET_RPS:.0f} {what}: {ok_rps}; target p99 < {TARGET_P99_MS:.0f} ms: {ok_p99}"
    )


if __name__ == "__main__":
    main()
