"""The backtest end to end: score past applications, each with features as of its own date.

Work is shared across applications: the database tables and the lake are loaded once, and the
features are built once per distinct as-of date, then joined to that date's applications. A file
of 100k applications over a year costs about 365 builds, not 100k. Nothing is stored.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.backtest.applications import match_labels, read_applications
from creditgraph.backtest.decisions import DECISION_COLUMNS, decide_rows, load_consents
from creditgraph.backtest.features import FeatureSource, Progress, point_in_time_features
from creditgraph.backtest.result import BacktestResult
from creditgraph.backtest.validation import validation
from creditgraph.scoring.models import LoadedModel, ScoredRows
from creditgraph.settings import Settings

MAX_REASONS = 4


def pseudonyms(settings: Settings, ids: list[str], known: pa.Array) -> list[str]:
    """The lender's own ids mapped at the door (a known pseudonym is taken as it is)."""
    from creditgraph.contracts.schema import Namespace
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key

    raw = pa.array(ids, pa.string())
    mapped = Pseudonymiser(load_or_create_key(settings.key_file)).column(Namespace.PERSON, raw)
    out: list[str] = pc.if_else(pc.is_in(raw, value_set=known), raw, mapped).to_pylist()
    return out


def _scores_columns(scored: ScoredRows, where: npt.NDArray[np.int64], n: int) -> dict[str, Any]:
    score = np.full(n, np.nan)
    pd = np.full(n, np.nan)
    score[where], pd[where] = scored.score, scored.pd
    grade: list[str | None] = [None] * n
    texts: dict[str, list[str | None]] = {}
    for k in range(1, MAX_REASONS + 1):
        for part in ("code", "zh", "en"):
            texts[f"reason_{k}_{part}"] = [None] * n
    for j, i in enumerate(where.tolist()):
        grade[i] = scored.grade[j]
        for k, reason in enumerate(scored.reasons[j][:MAX_REASONS], start=1):
            for part in ("code", "zh", "en"):
                texts[f"reason_{k}_{part}"][i] = reason[part]
    return {
        "score": pa.array(score, from_pandas=True),
        "pd": pa.array(pd, from_pandas=True),
        "grade": pa.array(grade, pa.string()),
        **{name: pa.array(values, pa.string()) for name, values in texts.items()},
    }


def run_backtest(
    settings: Settings,
    table: pa.Table,
    *,
    model_id: str | None = None,
    decide: bool = False,
    labels: pa.Table | None = None,
    progress: Progress | None = None,
    source: FeatureSource | None = None,
) -> BacktestResult:
    """Score every application with features as of its own date; decide and validate on request.

    Nothing is stored: no score rows, no decision records.
    """
    from creditgraph.scoring import registry
    from creditgraph.store.db import migrated_engine

    started = time.perf_counter()
    applications = read_applications(table, settings.timezone)
    y, unmatched = (None, 0)
    if labels is not None:
        y, unmatched = match_labels(applications, labels, settings.timezone)
    with migrated_engine(settings.database_url) as db:
        record = registry.get(db, model_id) if model_id else registry.champion(db)
    model = LoadedModel(record)
    source = source or FeatureSource(settings)
    people = pseudonyms(settings, applications.person_ids, source.persons)
    features = point_in_time_features(source.at, people, applications.feature_dates, progress)
    has = np.asarray(features["features_as_of"].is_valid().to_numpy(zero_copy_only=False))
    where = np.flatnonzero(has).astype(np.int64)
    n = len(applications)
    usable = features.take(pa.array(where))
    if where.size:
        scored = model.score_table(usable)
    else:
        scored = ScoredRows(record.id, np.zeros(0), np.zeros(0), [], [])
    columns: dict[str, Any] = {
        "row": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "person_id": pa.array(applications.person_ids, pa.string()),
        "applied_at": pa.array(applications.applied_at, pa.timestamp("us", tz="UTC")),
        "features_as_of": features["features_as_of"],
        "model_id": pa.array([record.id] * n, pa.string()),
        "status": pa.array(["scored" if h else "no_features" for h in has], pa.string()),
        **_scores_columns(scored, where, n),
    }
    outcomes: dict[str, int] = {}
    if decide:
        made = decide_rows(applications, usable, scored, where, load_consents(settings))
        made["decision_error"] = [
            made["decision_error"][i] if has[i] else "no features as of applied_at"
            for i in range(n)
        ]
        for name in DECISION_COLUMNS:
            columns[name] = pa.array(made[name], pa.string())
        for value in columns["outcome"].to_pylist():
            if value is not None:
                outcomes[value] = outcomes.get(value, 0) + 1
    rows = pa.table(columns)
    pd = rows["pd"].to_numpy(zero_copy_only=False).astype(np.float64)
    grade = rows["grade"].to_pylist()
    counts: dict[str, int] = {}
    for g in scored.grade:
        counts[g] = counts.get(g, 0) + 1
    result = BacktestResult(
        model_id=record.id,
        family=record.family,
        variant=record.variant,
        rows=rows,
        scored=int(where.size),
        without_features=int(n - where.size),
        feature_dates=len(set(applications.feature_dates)),
        seconds=0.0,
        grades=dict(sorted(counts.items())),
        outcomes=dict(sorted(outcomes.items())),
        unmatched_labels=unmatched,
        pd=pd,
        score=rows["score"].to_numpy(zero_copy_only=False).astype(np.float64),
        y=y,
        record=record,
    )
    if y is not None:
        result.validation = validation(y, pd, grade)
    result.seconds = time.perf_counter() - started
    return result
