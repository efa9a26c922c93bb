"""Scoring end to end: train and register from the feature store, batch-score everyone, and
score one person online from the online feature table.

Every score names the model version that produced it; the champion is looked up once per
process and kept until another version is promoted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, delete, insert, select

from creditgraph.features.store import get_online
from creditgraph.scoring import registry
from creditgraph.scoring.models import LoadedModel, ScoredRows
from creditgraph.scoring.training import Lifecycle, TrainingResult, train
from creditgraph.settings import Settings
from creditgraph.store.db import migrated_engine
from creditgraph.store.models import Person, Score, table_of

SCORE_BATCH = 20_000


class ScoringError(ValueError):
    """Scoring cannot go ahead (no champion, no features for the person, ...)."""


def _genders(db: Engine) -> dict[str, str | None]:
    with db.connect() as conn:
        return {str(p): g for p, g in conn.execute(select(Person.person_id, Person.gender))}


def train_models(
    settings: Settings,
    as_of: date,
    *,
    actor: str,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    lifecycle: Lifecycle | None = None,
    impact_assessments: Mapping[str, str] | None = None,
) -> TrainingResult:
    """Point-in-time training set, both model families, reports, registration (candidates);
    ``impact_assessments`` gives each family's PIPIA id to record with its versions."""
    from creditgraph.features.inputs import database_tables
    from creditgraph.features.service import compute_features
    from creditgraph.features.training import build_training_set

    say = progress or (lambda _m: None)
    (lifecycle or Lifecycle()).check()
    say("assembling the point-in-time training set (features as of each application month)")
    with migrated_engine(settings.database_url) as db:
        outcomes = database_tables(db)["outcomes"]
    joined = build_training_set(
        outcomes, settings.timezone, "month", lambda day: compute_features(settings, day)
    )
    say(f"building everyone's features as of {as_of} (the recent population)")
    recent = compute_features(settings, as_of).features
    with migrated_engine(settings.database_url) as db:
        return train(
            joined.table,
            recent,
            _genders(db),
            as_of=as_of,
            engine=db,
            reports_dir=settings.home_dir / "reports",
            actor=actor,
            seed=seed,
            progress=say,
            lifecycle=lifecycle,
            dropped=joined.dropped,
            impact_assessments=impact_assessments,
        )


@dataclass
class BatchScoreResult:
    model_id: str
    as_of: date
    rows: int
    grades: dict[str, int]
    table: pa.Table | None = None  # person_id, score, pd, grade, reasons: for ``score --out``


def scored_table(people: list[str], scored: ScoredRows) -> pa.Table:
    """One row per person: pseudonym, score, PD, grade and four reasons (code, zh, en)."""
    columns: dict[str, pa.Array] = {
        "person_id": pa.array(people, pa.string()),
        "model_id": pa.array([scored.model_id] * len(people), pa.string()),
        "score": pa.array(scored.score),
        "pd": pa.array(scored.pd),
        "grade": pa.array(scored.grade, pa.string()),
    }
    for k in range(4):
        for part in ("code", "zh", "en"):
            columns[f"reason_{k + 1}_{part}"] = pa.array(
                [r[k][part] if len(r) > k else None for r in scored.reasons], pa.string()
            )
    return pa.table(columns)


def score_all(
    settings: Settings,
    as_of: date,
    *,
    model_id: str | None = None,
    features: pa.Table | None = None,
    keep_rows: bool = False,
) -> BatchScoreResult:
    """Score every person as of ``as_of`` with the champion (or ``model_id``) into ``scores``.

    Scoring the same date with the same version again replaces its rows: reruns are harmless.
    """
    from creditgraph.features.service import compute_features

    with migrated_engine(settings.database_url) as db:
        record = registry.get(db, model_id) if model_id else registry.champion(db)
        model = LoadedModel(record)
        table = features if features is not None else compute_features(settings, as_of).features
        scored = model.score_table(table)
        now = datetime.now(UTC).replace(tzinfo=None)
        scores = table_of(Score)
        people = table["person_id"].to_pylist()
        with db.begin() as conn:
            conn.execute(
                delete(scores).where(scores.c.as_of == as_of, scores.c.model_id == record.id)
            )
            for start in range(0, len(people), SCORE_BATCH):
                stop = min(len(people), start + SCORE_BATCH)
                conn.execute(
                    insert(scores),
                    [
                        {
                            "person_id": people[i],
                            "as_of": as_of,
                            "model_id": record.id,
                            "score": float(scored.score[i]),
                            "pd": float(scored.pd[i]),
                            "grade": scored.grade[i],
                            "reasons": scored.reasons[i],
                            "scored_at": now,
                        }
                        for i in range(start, stop)
                    ],
                )
    grades = pc.value_counts(pa.array(scored.grade, pa.string())).to_pylist()
    return BatchScoreResult(
        record.id,
        as_of,
        len(people),
        {g["values"]: int(g["counts"]) for g in sorted(grades, key=lambda g: str(g["values"]))},
        scored_table(people, scored) if keep_rows else None,
    )


class OnlineScorer:
    """``score(person_id)`` from the online feature table with the current champion.

    The loaded champion is cached; ``refresh()`` (or a promotion seen on the next miss) loads
    the new one.
    """

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._models: dict[str, LoadedModel] = {}

    def model(self, variant: str = registry.SOCIAL) -> LoadedModel:
        """The champion of ``variant`` (``social`` or ``no_social``), loaded once."""
        with self._lock:
            loaded = self._models.get(variant)
            if loaded is None:
                loaded = self._models[variant] = LoadedModel(registry.champion(self.db, variant))
            return loaded

    def refresh(self) -> None:
        with self._lock:
            self._models.clear()

    def score(self, person_id: str) -> dict[str, Any]:
        row = get_online(self.db, person_id)
        if row is None:
            raise ScoringError(f"no online features for person {person_id}: build features first")
        result = self.model().score_one(row["features"])
        result["person_id"] = person_id
        result["features_as_of"] = row["as_of"]
        result["snapshot_id"] = row["snapshot_id"]
        return result
