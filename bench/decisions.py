"""Benchmark: decisions in-process, one at a time and in a batch.

1. One decision: the person's online features and consents read, scored with the champion, the
   policy, limit, price and offer computed, the record and its audit event stored — the p50 and
   p99 over ``--decisions`` calls (after a short warm-up).
2. A batch of ``--batch`` applications through ``DecisionService.decide_batch`` (chunks of
   1,000 in one transaction each, ``--workers`` processes): the wall time.

Targets (issue 5): one decision p99 < 10 ms with 1M people stored; 100k batch decisions < 60 s.
Usage:

    python bench/decisions.py [--home DIR] [--people 3000] [--decisions 2000] [--batch 100000]
                              [--workers 2]

With ``--home`` (or ``CREDITGRAPH_HOME``) it runs on that world — features built and a champion
promoted — and adds its decisions to that database; otherwise it simulates a small world in a
temporary directory first. Applications are drawn like the demo's: a product of the person's
segment, an amount, term and method the product offers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from creditgraph.decision.service import DecisionService
from creditgraph.demo.decisions import applicants, applications
from creditgraph.settings import Settings
from creditgraph.store.db import migrated_engine
from creditgraph.store.models import OnlineFeatures

TARGETS = {"p99_ms": 10.0, "batch_s": 60.0, "batch_rows": 100_000, "people": 1_000_000}
AS_OF = date(2026, 6, 30)


def simulated_world(root: Path, people: int) -> Settings:
    """Simulate, ingest, train, promote the scorecard, build the online table."""
    from creditgraph.features.service import build_and_store
    from creditgraph.ingest.service import ingest
    from creditgraph.scoring import registry
    from creditgraph.scoring.service import train_models
    from creditgraph.simulate import SimulationConfig, simulate

    result = simulate(SimulationConfig(people=people, seed=7), root / "world")
    settings = Settings(home=root / "home")
    ingest(sorted(result.files.values()), settings)
    trained = train_models(settings, AS_OF, actor="bench", seed=0)
    with migrated_engine(settings.database_url) as db:
        registry.promote(db, trained.records["scorecard"].id, "bench")
    build_and_store(settings, AS_OF, online=True)
    return settings


def run(settings: Settings, decisions: int, batch: int, workers: int) -> None:
    with migrated_engine(settings.database_url) as db:
        with db.connect() as conn:
            people = int(
                conn.execute(select(func.count()).select_from(OnlineFeatures)).scalar_one()
            )
        service = DecisionService(db, settings)
        sample = applicants(db, min(decisions, people), seed=1)
        rows = applications(sample, service.products, seed=1)
        for row in rows[:50]:  # warm-up: the champion loads, statements compile
            service.decide_for(row["person"], row["product"], row["amount"], row["term"])
        times = []
        for i in range(decisions):
            row = rows[i % len(rows)]
            started = time.perf_counter()
            service.decide_for(
                row["person"],
                row["product"],
                row["amount"],
                row["term"],
                purpose=row["purpose"],
                schedule_type=row["schedule_type"],
            )
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p50 = statistics.median(times)
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
        big = (rows * (batch // max(len(rows), 1) + 1))[:batch]
        started = time.perf_counter()
        result = service.decide_batch(big, name="bench", compact=True, workers=workers)
        batch_s = time.perf_counter() - started
    print(f"people stored (online feature rows): {people:,}")
    print(f"one decision, {decisions:,} calls: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(
        f"batch of {len(big):,} ({len(result.decisions):,} decided, {len(result.errors)} refused, "
        f"{workers} worker(s)): {batch_s:.1f} s, {len(big) / batch_s:,.0f} decisions/s"
    )
    scaled = batch_s * TARGETS["batch_rows"] / max(len(big), 1)
    print(
        f"\ntargets: p99 < {TARGETS['p99_ms']:.0f} ms with {TARGETS['people']:,} people stored "
        f"-> ratio {p99 / TARGETS['p99_ms']:.2f} (at {people:,} people); "
        f"{TARGETS['batch_rows']:,} batch < {TARGETS['batch_s']:.0f} s "
        f"-> ratio {scaled / TARGETS['batch_s']:.2f} (scaled to 100k: {scaled:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=os.environ.get("CREDITGRAPH_HOME"))
    parser.add_argument("--people", type=int, default=3000, help="simulated world size")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.home:
        run(Settings(home=Path(args.home)), args.decisions, args.batch, args.workers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        settings = simulated_world(Path(tmp), args.people)
        print(f"simulated world of {args.people:,} people in {time.perf_counter() - started:.0f} s")
        run(settings, args.decisions, args.batch, args.workers)


if __name__ == "__main__":
    main()
