"""Benchmark: the model-training pipeline on a simulated population, out of time, and what the
refit buys on applications the training never saw.

Part 1 runs `creditgraph model train` end to end (point-in-time monthly training set, scorecard
and challenger each with and without graph features, validation reports, registry) on a home
that holds an ingested population, then prints AUCs with 95% DeLong intervals, the network lift
of each family and challenger - scorecard.

Part 2 (the training lifecycle) cuts the same point-in-time rows at an earlier ``--later-as-of``:
the models learn from applications whose outcomes were observed before it; the **later window**
is every application on or after it, whose outcomes the training never saw. Each family's
deployed model is measured there twice in the same run: BEFORE, the development fit (70% of
the earliest 75% of months, the old behaviour, `--no-refit`) and AFTER, the same specification
refitted on all labelled data up to the as-of (the default), optionally also with recency
weights.

    python bench/model_training.py --people 20000 --seed 1 [--workdir /tmp/cg-model-bench]
        [--later-as-of 2025-01-01] [--halflife 6] [--skip-train]
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import Any


def prepare(workdir: Path, people: int, seed: int) -> Any:
    from creditgraph.ingest.service import ingest
    from creditgraph.settings import Settings
    from creditgraph.simulate import SimulationConfig, simulate

    settings = Settings(home=workdir / "home")
    if (settings.home_dir / "creditgraph.db").exists():
        print(f"reusing the population in {settings.home_dir}")
        return settings
    started = time.perf_counter()
    result = simulate(SimulationConfig(people=people, seed=seed), workdir / "world")
    ingest(sorted(result.files.values()), settings)
    print(f"simulated and ingested {people:,} people in {time.perf_counter() - started:.0f} s")
    return settings


def _auc(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("auc") is None:
        return "-"
    return f"{entry['auc']:.4f} [{entry['auc_low']:.4f}, {entry['auc_high']:.4f}]"


def _diff(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("difference") is None:
        return "-"
    return f"{entry['difference']:+.4f} [{entry['low']:+.4f}, {entry['high']:+.4f}]"


def train_report(settings: Any, as_of: date) -> None:
    from creditgraph.scoring.service import train_models

    started = time.perf_counter()
    result = train_models(settings, as_of, actor="bench", progress=lambda m: print(f"  {m}"))
    print(f"trained in {time.perf_counter() - started:.0f} s; samples {result.rows}")
    print(f"not used: {result.excluded}")
    print()
    print("| model | sample | AUC with graph features | AUC without | network lift |")
    print("|---|---|---|---|---|")
    for family, m in result.metrics.items():
        for sample in ("test", "out_of_time"):
            print(
                f"| {family} | {sample} | {_auc(m.get(sample))} | "
                f"{_auc(m.get(f'{sample}_without_graph'))} | "
                f"{_diff(m.get(f'network_lift_{sample}'))} |"
            )
        print(f"| {family} | refit, in-sample | {_auc(m.get('refit'))} | | |")
    print()
    for sample, entry in result.challenger_vs_scorecard.items():
        print(f"challenger - scorecard, {sample}: {_diff(entry)}")
    for family, path in result.reports.items():
        print(f"{family} report: {path}")


def later_window(settings: Any, as_of: date, halflife: float | None) -> None:
    """BEFORE (development fit) and AFTER (refit) AUC on applications after ``as_of``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from creditgraph.features.inputs import database_tables
    from creditgraph.features.service import compute_features
    from creditgraph.features.training import build_training_set
    from creditgraph.scoring.metrics import paired_auc_difference
    from creditgraph.scoring.training import (
        Lifecycle,
        _auc_entry,
        _pd,
        _y,
        feature_columns,
        labelled,
        model_columns,
        refit_family,
        split,
        train_family,
    )
    from creditgraph.store.db import migrated_engine

    started = time.perf_counter()
    with migrated_engine(settings.database_url) as db:
        outcomes = database_tables(db)["outcomes"]
    joined = build_training_set(
        outcomes, settings.timezone, "month", lambda day: compute_features(settings, day)
    )
    rows = joined.table
    print(
        f"point-in-time rows {rows.num_rows:,} (built as of their own day: "
        f"{joined.own_day_rows:,}; without features: {joined.dropped.num_rows:,}) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    table = labelled(rows, as_of)
    cut = pa.scalar(np.datetime64(as_of.isoformat(), "us"), pa.timestamp("us"))
    later = rows.filter(pc.greater_equal(pc.cast(rows["applied_at"], pa.timestamp("us")), cut))
    data = split(table, 0)
    own, graph = feature_columns(table)
    y_later = _y(later)
    print(
        f"as of {as_of}: labelled {table.num_rows:,} (development {data.development.num_rows:,}, "
        f"test {data.test.num_rows:,}, out of time {data.out_of_time.num_rows:,}); later window "
        f"{later.num_rows:,} applications, {int(y_later.sum()):,} bad, "
        f"{min(later['applied_at'].to_pylist()).date()} .. "
        f"{max(later['applied_at'].to_pylist()).date()}"
    )
    print()
    print(
        "| family | BEFORE: development fit (--no-refit) | AFTER: refit | after - before "
        "(paired DeLong) | ratio | oot AUC claimed by the report |"
    )
    print("|---|---|---|---|---|---|")
    variants = [("refit", Lifecycle())]
    if halflife:
        variants.append(
            (f"refit, half-life {halflife:g} months", Lifecycle(recency_halflife_months=halflife))
        )
    for family in ("scorecard", "challenger"):
        t0 = time.perf_counter()
        result = train_family(family, data, own, graph, 0)
        columns = own + graph
        before = _pd(result.with_graph, later, model_columns(result.with_graph, columns))
        b = _auc_entry(y_later, before)
        for name, life in variants:
            refit_family(result, columns, table, as_of, life)
            after = _pd(result.deployed, later, model_columns(result.deployed, columns))
            a = _auc_entry(y_later, after)
            d = paired_auc_difference(y_later, after, before)
            diff = f"{d.difference:+.4f} [{d.lower:+.4f}, {d.upper:+.4f}]"
            print(
                f"| {family} ({name}) | {_auc(b)} | {_auc(a)} | {diff} | "
                f"{a['auc'] / b['auc']:.4f} | {_auc(result.metrics.get('out_of_time'))} |"
            )
        print(f"  ({family}: {time.perf_counter() - t0:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--as-of", default="2026-06-30")
    parser.add_argument("--later-as-of", default="2025-01-01")
    parser.add_argument("--halflife", type=float, default=None)
    parser.add_argument("--skip-train", action="store_true", help="only the later-window part")
    args = parser.parse_args()
    workdir = args.workdir or Path(f"/tmp/cg-model-bench/people-{args.people}-seed-{args.seed}")
    settings = prepare(workdir, args.people, args.seed)
    if not args.skip_train:
        train_report(settings, date.fromisoformat(args.as_of))
        print()
    later_window(settings, date.fromisoformat(args.later_as_of), args.halflife)


if __name__ == "__main__":
    main()
