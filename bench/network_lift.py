"""Benchmark: network lift out of time — the same model with and without the graph features.

One run: (1) simulate a population and ingest it into a temporary home (both kept under
--workdir and reused when present); (2) build the monthly point-in-time training set, every
application with its person's features as of the first of its month; (3) split out of time, the
last ``--test-share`` of application months for testing; (4) fit a logistic regression on
standardised numeric features and a LightGBM (deterministic) on the person's own features, then
again with the graph-derived catalogue families, then also with the neighbour aggregates of own
features (family ``neighbours``), and print test AUCs, the lift and a paired bootstrap interval.
``--signals`` adds the AUC of single signals and of the ground truth's ``pd_true``.

Target (scoring issue): on the simulated population, out of time, the graph features add at
least +0.03 AUC over the same model without them.

    python bench/network_lift.py [--people 20000] [--seed 1] [--workdir /tmp/cg-lift]
                                 [--test-share 0.25] [--signals]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from creditgraph.features.catalogue import GRAPH_FAMILIES

NOT_INPUTS = {"community"}  # a community identifier, not a model input (see the catalogue)
CATEGORICAL = ("segment", "region_tier")
FloatArray = npt.NDArray[np.float64]


def prepare(workdir: Path, people: int, seed: int) -> pa.Table:
    """The monthly training set with neighbour aggregates, built once per work directory."""
    from creditgraph.features.build import FeatureBuild
    from creditgraph.features.catalogue import NEIGHBOUR_COLUMNS, output_names
    from creditgraph.features.inputs import database_tables
    from creditgraph.features.neighbours import neighbour_aggregates
    from creditgraph.features.service import compute_features
    from creditgraph.features.training import assemble_training_set
    from creditgraph.ingest.service import ingest
    from creditgraph.settings import Settings
    from creditgraph.simulate import SimulationConfig, simulate
    from creditgraph.store.db import migrated_engine

    cached = workdir / "training_month.parquet"
    if cached.exists():
        print(f"reusing the training set in {cached}")
        return pq.read_table(cached)
    settings = Settings(home=workdir / "home")
    world = workdir / "world"
    if not (settings.home_dir / "creditgraph.db").exists():
        result = simulate(SimulationConfig(people=people, seed=seed), world)
        print(f"simulated {people:,} people in {result.seconds:.1f} s")
        started = time.perf_counter()
        ingest(sorted(result.files.values()), settings)
        print(f"ingested in {time.perf_counter() - started:.1f} s")

    def build_at(day: date) -> FeatureBuild:
        # the same as-of build as ``training_set``, plus what the person's contacts look like
        # (added here only when the feature build does not carry the aggregates itself)
        build = compute_features(settings, day)
        if set(output_names(NEIGHBOUR_COLUMNS)) <= set(build.features.column_names):
            return build
        nodes = pc.unique(
            pa.chunked_array(
                [
                    *build.features["person_id"].chunks,
                    *build.edges["a"].chunks,
                    *build.edges["b"].chunks,
                ]
            )
        )
        aggregates = neighbour_aggregates(nodes, build.edges, build.features)
        build.features = build.features.join(aggregates, "person_id", join_type="left outer")
        return build

    started = time.perf_counter()
    with migrated_engine(settings.database_url) as db:
        outcomes = database_tables(db)["outcomes"]
    table = assemble_training_set(outcomes, settings.timezone, "month", build_at)
    print(f"monthly training set: {table.num_rows:,} rows in {time.perf_counter() - started:.1f} s")
    pq.write_table(table, cached)
    return table


def feature_columns(table: pa.Table) -> tuple[list[str], list[str], list[str]]:
    """(own, graph, neighbour-aggregate) feature columns of the table, by catalogue family."""
    from creditgraph.features.catalogue import FEATURES, NEIGHBOUR_FEATURES

    family = {f.name: f.family for f in FEATURES}
    present = [f.name for f in FEATURES if f.name in table.column_names]
    inputs = [c for c in present if c not in NOT_INPUTS]
    own = [c for c in inputs if family[c] not in GRAPH_FAMILIES]
    graph = [c for c in inputs if family[c] in GRAPH_FAMILIES]
    neighbours = [f.name for f in NEIGHBOUR_FEATURES if f.name in table.column_names]
    return own, graph, neighbours


def design(table: pa.Table, columns: Sequence[str], categories: dict[str, list[str]]) -> FloatArray:
    """Numeric matrix: numbers as floats (missing as NaN), categories one-hot."""
    parts: list[FloatArray] = []
    for name in columns:
        if name in CATEGORICAL:
            values = table[name].to_pylist()
            parts.extend(
                np.array([v == level for v in values], dtype=np.float64)
                for level in categories[name]
            )
        else:
            parts.append(
                np.asarray(
                    pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False), np.float64
                )
            )
    return np.column_stack(parts)


def lr_scores(x_train: FloatArray, y_train: FloatArray, x_test: FloatArray) -> FloatArray:
    """Logistic regression on signed-log, median-filled, standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def prep(x: FloatArray, medians: FloatArray) -> FloatArray:
        x = np.where(np.isnan(x), medians, x)
        return np.sign(x) * np.log1p(np.abs(x))

    medians = np.nanmedian(x_train, axis=0)
    medians = np.where(np.isnan(medians), 0.0, medians)
    scaler = StandardScaler().fit(prep(x_train, medians))
    model = LogisticRegression(C=0.5, max_iter=5000)
    model.fit(scaler.transform(prep(x_train, medians)), y_train)
    proba = model.predict_proba(scaler.transform(prep(x_test, medians)))[:, 1]
    return np.asarray(proba, dtype=np.float64)


def lgbm_scores(
    x_train: FloatArray, y_train: FloatArray, x_test: FloatArray, seed: int
) -> FloatArray:
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 5.0,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 2,
        "seed": seed,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(x_train, y_train), num_boost_round=400)
    return np.asarray(booster.predict(x_test), dtype=np.float64)


def auc(y: FloatArray, score: FloatArray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def paired_interval(
    y: FloatArray, a: FloatArray, b: FloatArray, rounds: int = 400
) -> tuple[float, float]:
    """95% bootstrap interval of AUC(b) - AUC(a) over test rows resampled together."""
    rng = np.random.default_rng(0)
    n = len(y)
    diffs = []
    for _ in range(rounds):
        i = rng.integers(0, n, n)
        if 0 < y[i].sum() < n:
            diffs.append(auc(y[i], b[i]) - auc(y[i], a[i]))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(lo), float(hi)


SIGNALS = (
    "ext_loans",
    "ext_open_loans",
    "ext_overdue_loans",
    "ext_max_dpd",
    "account_age_days",
    "transfer_out_fen_90d",
    "age_years",
    "income_monthly_fen",
    "devices",
    "defaulted_contacts",
    "default_exposure",
    "default_exposure_ratio",
    "community_default_rate",
    "device_sharers",
    "new_tie_share_30d",
    "nbr1_mean_ext_max_dpd",
    "nbr2_mean_ext_max_dpd",
)


def true_pd(workdir: Path, table: pa.Table) -> FloatArray:
    """The ground truth's ``pd_true`` of each row's person (the ceiling of any score)."""
    from sqlalchemy import select

    from creditgraph.settings import Settings
    from creditgraph.store.db import make_engine
    from creditgraph.store.models import PersonIdentity

    engine = make_engine(Settings(home=workdir / "home").database_url)
    with engine.connect() as conn:
        raw = dict(conn.execute(select(PersonIdentity.person_id, PersonIdentity.external_id)).all())
    engine.dispose()
    truth = pq.read_table(workdir / "world" / "_truth" / "ground_truth.parquet")
    pd_of = dict(zip(truth["person_id"].to_pylist(), truth["pd_true"].to_pylist(), strict=True))
    return np.array([pd_of[raw[p]] for p in table["person_id"].to_pylist()], dtype=np.float64)


def signals(table: pa.Table, y: FloatArray, ceiling: FloatArray) -> None:
    """AUC of single point-in-time features (oriented so that 0.5 is no signal)."""
    print("\nsingle signals, all applications (AUC, oriented):")
    print(f"  {'ground truth pd_true':<26} {auc(y, ceiling):.3f}")
    for name in SIGNALS:
        if name not in table.column_names:
            continue
        x = np.asarray(
            pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False), np.float64
        )
        x = np.where(np.isnan(x), np.nanmedian(x), x)
        a = auc(y, x)
        nonzero = float(np.mean(x != 0))
        print(f"  {name:<26} {max(a, 1 - a):.3f}   non-zero {nonzero:6.1%}")


def compare(
    train: pa.Table,
    test: pa.Table,
    base: list[str],
    extra: list[str],
    categories: dict[str, list[str]],
    seed: int,
) -> list[tuple[str, float, float, float, float]]:
    """(model, AUC without, AUC with, CI low, CI high) for both model families."""
    y_train = np.asarray(train["label_defaulted"].to_numpy(zero_copy_only=False), np.float64)
    y_test = np.asarray(test["label_defaulted"].to_numpy(zero_copy_only=False), np.float64)
    rows = []
    for model in ("logistic regression", "LightGBM"):
        scores = []
        for columns in (base, base + extra):
            x_train = design(train, columns, categories)
            x_test = design(test, columns, categories)
            if model == "LightGBM":
                scores.append(lgbm_scores(x_train, y_train, x_test, seed))
            else:
                scores.append(lr_scores(x_train, y_train, x_test))
        lo, hi = paired_interval(y_test, scores[0], scores[1])
        rows.append((model, auc(y_test, scores[0]), auc(y_test, scores[1]), lo, hi))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/creditgraph-network-lift"))
    parser.add_argument("--test-share", type=float, default=0.25)
    parser.add_argument("--signals", action="store_true", help="also print single-signal AUCs")
    args = parser.parse_args(argv)
    workdir = args.workdir / f"people-{args.people}-seed-{args.seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    table = prepare(workdir, args.people, args.seed)

    months = pc.strftime(table["as_of"], format="%Y-%m").to_pylist()
    distinct = sorted(set(months))
    n_test = max(1, math.ceil(len(distinct) * args.test_share))
    test_months = set(distinct[-n_test:])
    is_test = np.array([m in test_months for m in months])
    y = np.asarray(table["label_defaulted"].to_numpy(zero_copy_only=False), dtype=np.float64)
    train, test = table.filter(pa.array(~is_test)), table.filter(pa.array(is_test))
    print(
        f"out of time: train {distinct[0]}..{distinct[-n_test - 1]} ({train.num_rows:,} loans, "
        f"{y[~is_test].mean():.1%} bad), test {distinct[-n_test]}..{distinct[-1]} "
        f"({test.num_rows:,} loans, {y[is_test].mean():.1%} bad)"
    )
    own, graph, neighbours = feature_columns(table)
    print(
        f"features: {len(own)} own; {len(graph)} graph ({', '.join(sorted(GRAPH_FAMILIES))}); "
        f"{len(neighbours)} neighbour aggregates of own features"
    )
    categories = {c: sorted(set(table[c].to_pylist()) - {None}) for c in CATEGORICAL}
    for name in ("defaulted_contacts", "default_exposure", "community_default_rate"):
        share = float(np.mean(test[name].to_numpy(zero_copy_only=False) != 0))
        print(f"  test rows with {name} > 0: {share:.1%}")

    variants = (
        ("graph families", graph),
        ("graph families + neighbour aggregates", graph + neighbours),
    )
    for title, extra in variants:
        if not extra:
            continue
        print(f"\nown features vs own + {title}, out of time")
        print(
            f"{'model':<20} {'AUC without':>11} {'AUC with':>9} {'lift':>7}   95% CI (paired bootstrap)"
        )
        for model, a, b, lo, hi in compare(train, test, own, extra, categories, args.seed):
            print(f"{model:<20} {a:11.4f} {b:9.4f} {b - a:+7.4f}   [{lo:+.4f}, {hi:+.4f}]")
    if args.signals:
        signals(table, y, true_pd(workdir, table))


if __name__ == "__main__":
    main()
