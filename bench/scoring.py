"""Benchmark: the monotone scorecard against optbinning's own, side by side.

1. UCI German credit, the protocol of ``../shared/data/uci_german_credit/SOURCE.md``: stratified
   70/30 split, ``random_state`` = seed, seeds 0..4; test AUC and fit time for our ``Scorecard``
   and for optbinning's ``Scorecard`` with monotone numeric bins (``auto_asc_desc``) and a plain
   ``LogisticRegression``. toad and scorecardpy are reported when installed.
2. Batch scoring: a million rows resampled from German credit; our JSON artifact (score, PD,
   grade and four reasons per row) against optbinning's ``Scorecard.score`` (score only).
3. One-row latency: our scorer on a dict against optbinning on a one-row DataFrame.

Targets (issue 4): mean test AUC >= 0.80 with monotone bins, fit under 1 s, >= 1,000,000
rows/s from the artifact, one row under 50 us. Usage:

    python bench/scoring.py [--rows 1000000] [--tune]

``--tune`` also prints the grid the defaults were chosen from: each candidate's mean AUC by
5-fold cross-validation inside each seed's 70% training split (the test splits are not used).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from creditgraph.scoring.artifact import load_scorer, save
from creditgraph.scoring.scorecard import Scorecard, auc_score

GERMAN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "uci_german_credit"
SEEDS = range(5)
TARGETS = {"auc": 0.80, "fit_s": 1.0, "rows_per_s": 1_000_000, "row_us": 50.0}
GRID: list[dict[str, Any]] = [
    {"min_prebin_size": 0.05, "max_n_prebins": 20},  # optbinning's defaults
    {"min_prebin_size": 0.05, "max_n_prebins": 20, "min_iv": 0.0},
    {"min_prebin_size": 0.1, "max_n_prebins": 20},
    {"min_prebin_size": 0.03, "max_n_prebins": 30},
    {"min_prebin_size": 0.02, "max_n_prebins": 50},
    {"min_prebin_size": 0.02, "max_n_prebins": 50, "min_iv": 0.0},
    {"min_prebin_size": 0.015, "max_n_prebins": 70},
    {"min_prebin_size": 0.01, "max_n_prebins": 100},
]


def german() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(GERMAN / "germancredit.csv")
    y = (frame.pop("creditability") == "bad").astype(int).to_numpy()
    return frame, y


def split(frame: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[Any, Any, Any, Any]:
    return train_test_split(frame, y, test_size=0.3, stratify=y, random_state=seed)


def optbinning_card(frame: pd.DataFrame) -> Any:
    from optbinning import BinningProcess
    from optbinning import Scorecard as OBScorecard

    numeric = [c for c in frame.columns if frame[c].dtype.kind in "if"]
    categorical = [c for c in frame.columns if c not in numeric]
    process = BinningProcess(
        list(frame.columns),
        categorical_variables=categorical,
        binning_fit_params={c: {"monotonic_trend": "auto_asc_desc"} for c in numeric},
    )
    return OBScorecard(
        binning_process=process,
        estimator=LogisticRegression(),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 20, "odds": 50, "scorecard_points": 600},
    )


def auc_table(frame: pd.DataFrame, y: np.ndarray) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {
        "ours": {"auc": [], "fit_s": []},
        "optbinning": {"auc": [], "fit_s": []},
    }
    for seed in SEEDS:
        x_train, x_test, y_train, y_test = split(frame, y, seed)
        started = time.perf_counter()
        ours = Scorecard(random_state=seed).fit(x_train, y_train)
        results["ours"]["fit_s"].append(time.perf_counter() - started)
        results["ours"]["auc"].append(auc_score(y_test, ours.decision_function(x_test)))
        # The same single BLAS thread for both: threads only add contention on problems this small.
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            theirs = optbinning_card(frame).fit(x_train, y_train)
            results["optbinning"]["fit_s"].append(time.perf_counter() - started)
            risk = theirs.predict_proba(x_test)[:, 1]
        results["optbinning"]["auc"].append(auc_score(y_test, risk))
    return results


def tune(frame: pd.DataFrame, y: np.ndarray) -> None:
    print("\nTuning grid (mean 5-fold CV AUC inside each seed's training split; test not used)")
    print(f"{'candidate':70} {'CV AUC':>8}")
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for params in GRID:
        cv = []
        for seed in SEEDS:
            x_train, _, y_train, _ = split(frame, y, seed)
            x_train = x_train.reset_index(drop=True)
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            for fit_rows, check_rows in folds.split(x_train, y_train):
                model = Scorecard(random_state=seed, **params).fit(
                    x_train.iloc[fit_rows], y_train[fit_rows]
                )
                risk = model.decision_function(x_train.iloc[check_rows])
                cv.append(auc_score(y_train[check_rows], risk))
        mean = float(np.mean(cv))
        print(f"{json.dumps(params):70} {mean:>8.4f}", flush=True)
        if mean > best[0]:
            best = (mean, params)
    print(f"best by CV: {json.dumps(best[1])}")


def rows_per_second(run: Any, rows: int, repeat: int = 3) -> float:
    best = min(_timed(run) for _ in range(repeat))
    return rows / best


def _timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def latency_us(run: Any, inputs: list[Any]) -> tuple[float, float]:
    times = []
    for item in inputs:
        started = time.perf_counter_ns()
        run(item)
        times.append((time.perf_counter_ns() - started) / 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tune", action="store_true")
    args = parser.parse_args()
    if not GERMAN.exists():
        sys.exit(f"{GERMAN} is not available")
    frame, y = german()

    results = auc_table(frame, y)
    print("German credit, stratified 70/30, seeds 0..4 (SOURCE.md protocol)")
    print(
        f"{'library':28} " + " ".join(f"{'seed ' + str(s):>8}" for s in SEEDS) + "     mean  fit s"
    )
    for name, label in (("ours", "creditgraph Scorecard"), ("optbinning", "optbinning monotone")):
        aucs, fits = results[name]["auc"], results[name]["fit_s"]
        print(
            f"{label:28} "
            + " ".join(f"{a:>8.4f}" for a in aucs)
            + f"  {np.mean(aucs):.4f}  {np.median(fits):5.2f}"
        )
    for package in ("toad", "scorecardpy"):
        if importlib.util.find_spec(package) is None:
            print(f"{package:28} not installed (public number in DESIGN.md)")
    ours_auc, their_auc = np.mean(results["ours"]["auc"]), np.mean(results["optbinning"]["auc"])
    ours_fit, their_fit = (
        np.median(results["ours"]["fit_s"]),
        np.median(results["optbinning"]["fit_s"]),
    )
    print(
        f"AUC difference {ours_auc - their_auc:+.4f}; fit time ratio ours/optbinning "
        f"{ours_fit / their_fit:.2f}x"
    )

    # Scoring: one card of each kind fitted on all 1,000 rows.
    ours = Scorecard(random_state=0).fit(frame, y)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = optbinning_card(frame).fit(frame, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "card.json"
        save(ours.card_, path)
        scorer = load_scorer(path)
    rng = np.random.default_rng(0)
    big = frame.iloc[rng.integers(0, len(frame), args.rows)].reset_index(drop=True)
    table = pa.Table.from_pandas(big, preserve_index=False)
    ours_rate = rows_per_second(lambda: scorer.score_batch(table), args.rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_rate = rows_per_second(lambda: theirs.score(big), args.rows, repeat=1)
    rows = big.iloc[:20_000].to_dict("records")
    ours_median, ours_p99 = latency_us(scorer.score_row, rows)
    one_row = [big.iloc[[i]] for i in range(300)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_median, their_p99 = latency_us(theirs.score, one_row)
    print(f"\nBatch scoring, {args.rows:,} rows resampled from German credit")
    print(f"{'':28} {'rows/s':>12} {'one row median us':>18} {'p99 us':>9}")
    print(
        f"{'creditgraph JSON artifact':28} {ours_rate:>12,.0f} {ours_median:>18.1f} {ours_p99:>9.1f}"
    )
    print(
        f"{'optbinning Scorecard.score':28} {their_rate:>12,.0f} {their_median:>18.1f} {their_p99:>9.1f}"
    )
    print(
        f"ratio ours/optbinning: {ours_rate / their_rate:.1f}x rows/s, "
        f"{their_median / ours_median:.0f}x faster per row (ours also returns PD, grade, 4 reasons)"
    )
    print(
        "\ntargets: "
        f"AUC {ours_auc:.4f} vs {TARGETS['auc']} ({ours_auc / TARGETS['auc']:.3f}x); "
        f"fit {ours_fit:.2f} s vs {TARGETS['fit_s']} s; "
        f"{ours_rate:,.0f} rows/s vs {TARGETS['rows_per_s']:,} ({ours_rate / TARGETS['rows_per_s']:.2f}x); "
        f"one row {ours_median:.1f} us vs {TARGETS['row_us']} us"
    )
    if args.tune:
        tune(frame, y)


if __name__ == "__main__":
    main()
