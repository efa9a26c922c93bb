"""One way to score with any registered version: a scorecard card or a calibrated challenger.

Both give points on the same scale (600 points at 50:1 good:bad odds, 20 points to double the
odds), the same A-E grades, a PD, and at most four reasons in Chinese and English, so a decision,
a report or a borrower never needs to know which family produced a score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from creditgraph.scoring.card import Scaling, grades_of
from creditgraph.scoring.card_codec import card_from_dict
from creditgraph.scoring.challenger import MONOTONE, Challenger
from creditgraph.scoring.reasons import CATALOGUE, Side, reason_text
from creditgraph.scoring.registry import ModelRecord
from creditgraph.scoring.scorer import Scorer

FloatArray = npt.NDArray[np.float64]
SCALING = Scaling()


@dataclass(frozen=True)
class ScoredRows:
    """Scores of a batch in input order; ``reasons`` holds up to four dicts per row."""

    model_id: str
    score: FloatArray
    pd: FloatArray
    grade: list[str]
    reasons: list[list[dict[str, Any]]]


def points_from_pd(pd: FloatArray, scaling: Scaling = SCALING) -> FloatArray:
    """Scorecard points for a PD: ``offset + factor · ln((1 − PD) / PD)``."""
    p = np.clip(np.asarray(pd, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.asarray(scaling.offset + scaling.factor * np.log((1 - p) / p), dtype=np.float64)


def challenger_reason_text(feature: str) -> tuple[str, str]:
    """Borrower-facing words for a feature that raised the PD, from the scorecard's catalogue.

    With a known direction the statement says which way (too high / too low); otherwise the
    catalogue's neutral sentence about the topic.
    """
    direction = MONOTONE.get(feature, 0)
    side: Side = "high" if direction > 0 else "low" if direction < 0 else "level"
    text = reason_text(feature, side)
    return text.zh, text.en


def _code(feature: str) -> str:
    entry = CATALOGUE.get(feature)
    return entry.code if entry is not None else f"X:{feature}"


class LoadedModel:
    """A registered version ready to score tables and single rows."""

    def __init__(self, record: ModelRecord) -> None:
        self.record = record
        self.model_id = record.id
        self.family = record.family
        if record.family == "scorecard":
            self._scorer: Scorer | None = Scorer(card_from_dict(record.artifact))
            self._challenger: Challenger | None = None
            self.features = list(self._scorer.features)
        else:
            self._scorer = None
            self._challenger = Challenger.from_dict(
                record.artifact, reason_text=challenger_reason_text
            )
            self.features = list(self._challenger.feature_names_in_)

    def score_table(self, table: pa.Table | Mapping[str, Any]) -> ScoredRows:
        if self._scorer is not None:
            batch = self._scorer.score_batch(table)
            reasons = [
                [
                    {"code": r.code, "variable": r.variable, "zh": r.zh, "en": r.en}
                    for r in batch.row_reasons(i)
                ]
                for i in range(len(batch))
            ]
            return ScoredRows(
                self.model_id,
                np.asarray(batch.score, dtype=np.float64),
                np.asarray(batch.pd, dtype=np.float64),
                [str(g) for g in batch.grade],
                reasons,
            )
        assert self._challenger is not None
        pd = np.asarray(self._challenger.predict_pd(table), dtype=np.float64)
        points = points_from_pd(pd)
        rows = self._challenger.reasons(table)
        reasons = [
            [{"code": _code(r.feature), "variable": r.feature, "zh": r.zh, "en": r.en} for r in row]
            for row in rows
        ]
        return ScoredRows(self.model_id, points, pd, grades_of(points), reasons)

    def score_one(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """One person's score, PD, grade and reasons (the online path)."""
        if self._scorer is not None:
            row = self._scorer.score_row(values)
            return {
                "model_id": self.model_id,
                "score": row.score,
                "pd": row.pd,
                "grade": row.grade,
                "reasons": [
                    {"code": r.code, "variable": r.variable, "zh": r.zh, "en": r.en}
                    for r in row.reasons
                ],
            }
        table = pa.table({name: [values.get(name)] for name in self.features})
        scored = self.score_table(table)
        return {
            "model_id": self.model_id,
            "score": float(scored.score[0]),
            "pd": float(scored.pd[0]),
            "grade": scored.grade[0],
            "reasons": scored.reasons[0],
        }
