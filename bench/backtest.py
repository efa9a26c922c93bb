"""Backtest speed: 100k past applications over 12 months, against a feature build per application.

Builds a simulated world (simulate, ingest, train, promote), writes N applications spread over
the 12 months before the as-of date, times ``run_backtest`` (one feature build per distinct
date, inputs loaded once), and in the same run times the naive way — a full feature build and
a score for each application — on a small sample; prints applications/s of both and the ratio.

    .venv/bin/python bench/backtest.py --people 3000 --applications 100000 --naive-sample 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

AS_OF = date(2026, 6, 30)


def world(root: Path, people: int, seed: int) -> tuple[object, Path]:
    from creditgraph.ingest.service import ingest
    from creditgraph.scoring import registry
    from creditgraph.scoring.service import train_models
    from creditgraph.settings import Settings
    from creditgraph.simulate import SimulationConfig, simulate
    from creditgraph.store.db import migrated_engine

    result = simulate(SimulationConfig(people=people, seed=seed), root / "world")
    settings = Settings(home=root / "home")
    ingest(sorted(result.files.values()), settings)
    trained = train_models(settings, AS_OF, actor="bench", seed=0)
    with migrated_engine(settings.database_url) as db:
        registry.promote(db, trained.records["scorecard"].id, "bench")
    return settings, root / "world" / "persons.parquet"


def applications(persons: Path, n: int, months: int, seed: int) -> pa.Table:
    """``n`` applications by registered people, at random times over the last ``months``."""
    rng = np.random.default_rng(seed)
    table = pq.read_table(persons, columns=["person_id", "registered_at"])
    start = datetime.combine(AS_OF - timedelta(days=30 * months), datetime.min.time())
    table = table.filter(
        pc.less(
            table["registered_at"],
            pa.scalar(start.replace(tzinfo=UTC), pa.timestamp("us", tz="UTC")),
        )
    )
    ids = table["person_id"].to_numpy(zero_copy_only=False)
    seconds = rng.integers(0, 30 * months * 86_400, size=n)
    return pa.table(
        {
            "person_id": pa.array(rng.choice(ids, size=n), pa.string()),
            "applied_at": pa.array(
                [start + timedelta(seconds=int(s)) for s in seconds], pa.timestamp("s")
            ),
        }
    )


def naive(settings: object, apps: pa.Table) -> float:
    """Seconds for a full feature build and a score per application (the baseline)."""
    from zoneinfo import ZoneInfo

    from creditgraph.backtest import feature_date, pseudonyms
    from creditgraph.features.service import compute_features
    from creditgraph.scoring import registry
    from creditgraph.scoring.models import LoadedModel
    from creditgraph.store.db import migrated_engine

    zone = ZoneInfo(settings.timezone)  # type: ignore[attr-defined]
    with migrated_engine(settings.database_url) as db:  # type: ignore[attr-defined]
        model = LoadedModel(registry.champion(db))
    started = time.perf_counter()
    for person, applied in zip(
        apps["person_id"].to_pylist(), apps["applied_at"].to_pylist(), strict=True
    ):
        day = feature_date(applied.replace(tzinfo=zone), zone)
        features = compute_features(settings, day).features  # type: ignore[arg-type]
        who = pseudonyms(settings, [person], features["person_id"])[0]  # type: ignore[arg-type]
        model.score_table(features.filter(pc.equal(features["person_id"], who)))
    return time.perf_counter() - started


def main() -> None:
    from creditgraph.backtest import run_backtest

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--naive-sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="creditgraph-backtest-"))
    started = time.perf_counter()
    settings, persons = world(root, args.people, args.seed)
    print(
        f"world: {args.people:,} people simulated, ingested, trained in "
        f"{time.perf_counter() - started:.0f} s ({root})"
    )
    apps = applications(persons, args.applications, args.months, args.seed)
    result = run_backtest(settings, apps)  # type: ignore[arg-type]
    rate = apps.num_rows / result.seconds
    print(
        f"backtest: {apps.num_rows:,} applications, {result.feature_dates} as-of dates, "
        f"{result.scored:,} scored, in {result.seconds:.1f} s = {rate:,.0f} applications/s"
    )
    sample = apps.slice(0, args.naive_sample)
    seconds = naive(settings, sample)
    naive_rate = sample.num_rows / seconds
    print(
        f"naive (a feature build per application): {sample.num_rows} applications in "
        f"{seconds:.1f} s = {naive_rate:.2f} applications/s; "
        f"{args.applications:,} would take {args.applications / naive_rate / 3600:.1f} h"
    )
    print(f"speed-up: {rate / naive_rate:,.0f}x")


if __name__ == "__main__":
    main()
