"""Benchmark: bounded local HTTP load against a running ``creditgraph serve`` (one worker).

With ``--tool wrk`` (the default when wrk is installed: ``apt-get install wrk``) one wrk thread
holds ``--concurrency`` connections open for ``--duration`` seconds; a Lua script sends the
applications, rotating over the ``--person`` ids given. With ``--tool httpx`` concurrent httpx
clients send ``--requests`` requests. Either way the report gives throughput and p50/p99 latency
against the targets (>= 300 decisions/s, p99 < 100 ms). The load generator shares the machine's
cores with the server (wrk takes far less of them than Python does), so numbers are a floor.

    creditgraph serve --no-access-log &
    python bench/api.py --mode health
    python bench/api.py --mode decisions --key cg_... --person P1 --person P2 \\
        --product XFD-EDU --amount 20000.00 --term 12 --purpose education

``decisions`` needs a key allowed to POST (applicant-app, officer, admin), people with online
features and a champion model; each request is a fresh decision (no Idempotency-Key).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from typing import Any

import httpx

TARGET_RPS = 300.0
TARGET_P99_MS = 100.0

_WRK_SCRIPT = """
local bodies = {%s}
local i = 0
wrk.method = "%s"
wrk.headers["Content-Type"] = "application/json"
%s
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%s", nil, bodies[i])
end
"""


def _target(args: argparse.Namespace) -> tuple[str, str, list[dict[str, Any] | None]]:
    """(method, path, bodies): one body per person rotated over, or no body for health."""
    if args.mode == "health":
        return "GET", "/v1/health", [None]
    bodies: list[dict[str, Any] | None] = [
        {
            "person_id": person,
            "product_code": args.product,
            "amount": args.amount,
            "term": args.term,
            "purpose": args.purpose,
        }
        for person in args.person
    ]
    return "POST", "/v1/applications", bodies


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run_wrk(args: argparse.Namespace) -> dict[str, Any]:
    """One wrk thread, ``--concurrency`` connections, ``--duration`` seconds; parsed summary."""
    method, path, bodies = _target(args)
    lua_bodies = ", ".join(_lua_string(json.dumps(b) if b is not None else "") for b in bodies)
    auth = f'wrk.headers["Authorization"] = "Bearer {args.key}"' if args.key else ""
    script = _WRK_SCRIPT % (lua_bodies, method, auth, path)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", "-t1", f"-c{args.concurrency}", f"-d{args.duration}s", "--latency"]
    try:
        out = subprocess.run(
            [*command, "-s", handle.name, args.url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(handle.name)

    def found(pattern: str) -> str:
        match = re.search(pattern, out, re.MULTILINE)
        if match is None:
            raise SystemExit(f"could not read {pattern!r} in wrk's output:\n{out}")
        return match.group(1)

    def ms(percent: str) -> float:
        text = found(rf"^\s*{percent}%\s+(\S+)\s*$")
        value, unit = float(re.sub(r"[a-z]+$", "", text)), re.sub(r"^[\d.]+", "", text)
        return {"us": value / 1000, "ms": value, "s": value * 1000}[unit]

    requests = int(found(r"(\d+) requests in"))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    statuses = {"2xx": requests - (int(bad.group(1)) if bad else 0)}
    if bad:
        statuses["non-2xx"] = int(bad.group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rps": float(found(r"Requests/sec:\s+([\d.]+)")),
        "p50": ms("50"),
        "p99": ms("99"),
        "statuses": statuses,
        "socket_errors": errors.group(1) if errors else "none",
    }


async def _run_httpx(args: argparse.Namespace) -> dict[str, Any]:
    method, path, bodies = _target(args)
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    latencies: list[float] = []
    statuses: collections.Counter[str] = collections.Counter()
    remaining = args.requests
    rotation = itertools.cycle(bodies)
    limits = httpx.Limits(max_connections=args.concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            response = await client.request(method, path, json=next(rotation), headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[str(response.status_code)] += 1

    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": quantiles[49],
        "p99": quantiles[98],
        "statuses": dict(statuses),
    }


def _warm_up(args: argparse.Namespace) -> None:
    """One request first: it fails loudly on a wrong key or person, and loads the model."""
    method, path, bodies = _target(args)
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    response = httpx.request(method, args.url + path, json=bodies[0], headers=headers, timeout=60)
    if response.status_code >= 400:
        raise SystemExit(f"warm-up request failed: {response.status_code} {response.text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--mode", choices=["health", "decisions"], default="health")
    parser.add_argument("--tool", choices=["wrk", "httpx"], default=None)
    parser.add_argument("--key", default=os.environ.get("CREDITGRAPH_API_KEY"))
    parser.add_argument("--requests", type=int, default=3000, help="httpx: how many requests")
    parser.add_argument("--duration", type=int, default=20, help="wrk: seconds of load")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--person", action="append", default=[], help="repeat to rotate")
    parser.add_argument("--product", default="")
    parser.add_argument("--amount", default="20000.00")
    parser.add_argument("--term", type=int, default=12)
    parser.add_argument("--purpose", default="education")
    args = parser.parse_args()
    args.person = args.person or ["P1"]
    if args.mode == "decisions" and not (args.key and args.product):
        parser.error("--mode decisions needs --key (or CREDITGRAPH_API_KEY) and --product")
    tool = args.tool or ("wrk" if shutil.which("wrk") else "httpx")
    _warm_up(args)
    result = _run_wrk(args) if tool == "wrk" else asyncio.run(_run_httpx(args))
    what = "decisions/s" if args.mode == "decisions" else "requests/s"
    report: dict[str, Any] = {
        "tool": tool,
        "mode": args.mode,
        "requests": result["requests"],
        "concurrency": args.concurrency,
        "statuses": result["statuses"],
        what: round(result["rps"], 1),
        "p50_ms": round(result["p50"], 2),
        "p99_ms": round(result["p99"], 2),
    }
    if "socket_errors" in result:
        report["socket errors"] = result["socket_errors"]
    for name, value in report.items():
        print(f"{name:>14}: {value}")
    ok_rps = "met" if result["rps"] >= TARGET_RPS else "MISSED"
    ok_p99 = "met" if result["p99"] < TARGET_P99_MS else "MISSED"
    print(
        f"target >= {TARGET_RPS:.0f} {what}: {ok_rps} ({result['rps'] / TARGET_RPS:.2f}x); "
        f"target p99 < {TARGET_P99_MS:.0f} ms: {ok_p99}"
    )


if __name__ == "__main__":
    main()
