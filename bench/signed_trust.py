"""Benchmark: rater reputation (REV2) against distrust scores on bitcoin_alpha, split in time.

The weak labels documented for bitcoin_alpha (mean incoming rating <= -5) are defined by the very
ratings the scores read, so any score built from incoming ratings looks excellent on them. Here the
ratings are split at a time T instead: every score is computed from the ratings given before T, and
the labels come only from the ratings given at or after T:

- bad: mean incoming rating after T <= --bad (default -5); good: >= --good (default +1);
- evaluated: nodes rated both before and after T (at least --min-after times), with a label, and not already known bad at T
  (mean incoming rating before T <= --bad: those are the seeds given to ``graph rank``).

Scores, all from the ratings before T, higher = riskier (AUC of bad against good):

- ``rev2_goodness`` / ``rev2_fairness``: REV2 unsupervised (−G, −F), default constants;
- ``rank_goodness`` / ``rank_fairness``: the same columns of ``graph rank --negative-below 0
  --directed`` (REV2 with the seeds' fairness held at 0);
- ``distrust_score`` / ``distrust_in``: the existing one-step distrust columns of that run;
- ``mean_rating``: naive baseline, −(mean incoming rating before T).

Differences are against the baseline, with a paired bootstrap 95 % interval over the evaluated
nodes. The cut T is each quantile of the rating times in --cuts. The circular setting (labels and
scores from all ratings) is printed last for comparison. Usage:

    python bench/signed_trust.py [--data CSV] [--cuts 0.5 0.6 0.7 0.8] [--bootstrap 2000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from creditgraph.graph.rank import RankConfig, rank_risk
from creditgraph.graph.reputation import Rev2Config, rev2, scale_ratings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bitcoin_alpha"
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
BASELINE = "mean_rating"


def auc(score: FloatArray, bad: BoolArray) -> float:
    """Mann-Whitney AUC of bad above good, ties counted half; NaN scores take the median."""
    s = np.where(np.isnan(score), np.nanmedian(score), score)
    ranks = rankdata(s)
    p, q = int(bad.sum()), int((~bad).sum())
    return float((ranks[bad].sum() - p * (p + 1) / 2) / (p * q))


def load(path: Path) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    raw = np.loadtxt(path, delimiter=",", skiprows=1)
    return raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]


def mean_in(dst: npt.NDArray[np.int64], w: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    count = np.bincount(dst, minlength=n).astype(np.float64)
    total = np.bincount(dst, weights=w, minlength=n)
    mean = np.full(n, np.nan)
    np.divide(total, count, out=mean, where=count > 0)
    return count, mean


def scores_before(
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    w: FloatArray,
    n: int,
    seeds: npt.NDArray[np.int64],
) -> dict[str, FloatArray]:
    """Every compared score from the given ratings, indexed by node 0..n-1; higher = riskier."""
    started = time.perf_counter()
    rep = rev2(src, dst, scale_ratings(w), n)
    rev2_time = time.perf_counter() - started
    ranked = rank_risk(
        src, dst, seeds, weights=w, config=RankConfig(negative_below=0.0, directed=True)
    )
    assert ranked.distrust_score is not None and ranked.distrust_in is not None
    assert ranked.goodness is not None and ranked.fairness is not None
    pos = ranked.nodes.astype(np.int64)

    def full(values: npt.NDArray[np.generic], fill: float) -> FloatArray:
        out = np.full(n, fill)
        out[pos] = values
        return out

    _, mean = mean_in(dst, w, n)
    print(f"    REV2: {rep.iterations} iterations, {rev2_time * 1000:.0f} ms, {src.size:,} ratings")
    return {
        "rev2_goodness": -rep.goodness,
        "rev2_fairness": -rep.fairness,
        "rank_goodness": -full(ranked.goodness, np.nan),
        "rank_fairness": -full(ranked.fairness, np.nan),
        "distrust_score": full(ranked.distrust_score, 0.0),
        "distrust_in": full(ranked.distrust_in, 0.0),
        BASELINE: -mean,
    }


def grid(
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    w: FloatArray,
    n: int,
    mask: BoolArray,
    bad: BoolArray,
) -> None:
    """AUC range of REV2 over the paper's grid of constants (alpha1, beta1 in 0..2; gammas 1..2)."""
    result: dict[str, list[float]] = {"goodness": [], "fairness": []}
    scaled = scale_ratings(w)
    for a1 in (0.0, 1.0, 2.0):
        for b1 in (0.0, 1.0, 2.0):
            for g1 in (1.0, 2.0):
                for g2 in (1.0, 2.0):
                    cfg = Rev2Config(alpha1=a1, beta1=b1, gamma1=g1, gamma2=g2)
                    rep = rev2(src, dst, scaled, n, config=cfg)
                    result["goodness"].append(auc(-rep.goodness[mask], bad[mask]))
                    result["fairness"].append(auc(-rep.fairness[mask], bad[mask]))
    for name, values in result.items():
        print(
            f"    REV2 {name} over 36 settings of the constants: {min(values):.3f}-{max(values):.3f}"
        )


def report(
    scores: dict[str, FloatArray], mask: BoolArray, bad: BoolArray, boot: int, seed: int
) -> dict[str, float]:
    """AUC of each score on the evaluated nodes, and its paired difference to the baseline."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(mask)
    y = bad[idx]
    samples = []
    for _ in range(boot):
        pick = idx[np.concatenate([rng.choice(np.flatnonzero(y), y.sum()),
                                   rng.choice(np.flatnonzero(~y), (~y).sum())])]  # fmt: skip
        samples.append(pick)
    base = scores[BASELINE]
    base_boot = np.array([auc(base[p], bad[p]) for p in samples])
    out = {}
    print(f"    {'score':<16}{'AUC':>7}{'vs mean_rating':>16}{'95% interval':>20}")
    for name, score in scores.items():
        value = auc(score[idx], y)
        out[name] = value
        if name == BASELINE:
            print(f"    {name:<16}{value:>7.3f}{'—':>16}")
            continue
        diffs = np.array([auc(score[p], bad[p]) for p in samples]) - base_boot
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        delta = value - auc(base[idx], y)
        print(f"    {name:<16}{value:>7.3f}{delta:>+16.3f}{f'[{lo:+.3f}, {hi:+.3f}]':>20}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA / "soc-sign-bitcoinalpha.csv")
    parser.add_argument("--cuts", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--bad", type=float, default=-5.0)
    parser.add_argument("--good", type=float, default=1.0)
    parser.add_argument("--min-after", type=int, default=1, help="ratings after T for a label")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    src_id, dst_id, w, t = load(args.data)
    ids = np.unique(np.concatenate([src_id, dst_id]))
    n = ids.size
    src, dst = np.searchsorted(ids, src_id), np.searchsorted(ids, dst_id)
    print(f"{args.data.name}: {n:,} nodes, {w.size:,} ratings")

    for q in args.cuts:
        cut = float(np.quantile(t, q))
        before = t < cut
        after = ~before
        n_before, mean_before = mean_in(dst[before], w[before], n)
        n_after, mean_after = mean_in(dst[after], w[after], n)
        known_bad = (n_before > 0) & (mean_before <= args.bad)
        labelled = (mean_after <= args.bad) | (mean_after >= args.good)
        bad = mean_after <= args.bad
        mask = (n_before > 0) & (n_after >= args.min_after) & labelled & ~known_bad
        day = datetime.fromtimestamp(cut, UTC).date()
        print(
            f"\ncut at quantile {q:g} of rating times (T = {day}): {before.sum():,} ratings "
            f"before T; evaluated {mask.sum()} nodes, bad {int((mask & bad).sum())}, good "
            f"{int((mask & ~bad).sum())} (known bad at T, excluded: {int(known_bad.sum())}; "
            f"bad after T among them: {int((known_bad & bad & (n_after > 0)).sum())})"
        )
        scores = scores_before(src[before], dst[before], w[before], n, np.flatnonzero(known_bad))
        report(scores, mask, bad, args.bootstrap, args.seed)
        grid(src[before], dst[before], w[before], n, mask, bad)
        raters = np.bincount(src[before], minlength=n) > 0
        print(
            f"    evaluated nodes that rated anyone before T (fairness has evidence): "
            f"{int((mask & raters).sum())} of {int(mask.sum())}, bad {int((mask & raters & bad).sum())}"
        )
        if (mask & raters & bad).sum() >= 5:
            sub = mask & raters
            print(
                f"    on them: rev2_fairness {auc(scores['rev2_fairness'][sub], bad[sub]):.3f}, "
                f"rev2_goodness {auc(scores['rev2_goodness'][sub], bad[sub]):.3f}, "
                f"mean_rating {auc(scores[BASELINE][sub], bad[sub]):.3f}"
            )

    print("\ncircular setting: scores and labels from all ratings (bad <= -5 vs good >= +1)")
    count, mean = mean_in(dst, w, n)
    bad = mean <= args.bad
    mask = (count > 0) & ((mean <= args.bad) | (mean >= args.good))
    rng = np.random.default_rng(args.seed)
    seeds = rng.permutation(np.flatnonzero(mask & bad))[: int((mask & bad).sum()) // 2]
    mask[seeds] = False  # half the bad are seeds, scored on the other half as docs/graph.md does
    print(f"    evaluated {mask.sum()} nodes, bad {int((mask & bad).sum())}")
    report(scores_before(src, dst, w, n, seeds), mask, bad, args.bootstrap, args.seed)


if __name__ == "__main__":
    main()
