"""The scorecard as plain values: variables, their bins and points, the scaling and the grades.

A fitted card is a table of bins with points. ``Scorecard`` in ``scorecard.py`` builds a ``Card``;
``card_codec.py`` turns one into the stored JSON form and back, ``scorer.py`` runs one. This module
is pure scorecard maths: numpy and the standard library, no files.

Bins of a variable, in order: the regular bins (numeric ranges ``[splits[i-1], splits[i])``, the
first from minus infinity and the last to plus infinity, or groups of categories), then the
special bin, then the missing bin. ``score = intercept_points + sum of the bins' points``, and
``pd = 1 / (1 + exp((score - offset) / factor))`` with ``factor = pdo / ln 2`` and
``offset = base_score - factor * ln(base_odds)`` (odds are good:bad).

A special or missing bin the training data could not rate (fewer than one good and one bad row in
it) carries the points of the variable's worst regular bin, marked ``fallback="worst_bin"``,
because evidence the card never saw must not raise a score; a category not seen in training goes
to the worst regular bin for the same reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from creditgraph.scoring.reasons import ReasonText

BinKind = Literal["range", "group", "special", "missing"]
VariableKind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scaling:
    """Points scaling: ``base_score`` points at good:bad odds ``base_odds``; ``pdo`` points double them."""

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)


@dataclass(frozen=True)
class GradeBand:
    """Scores at or above ``min_score`` (down to the next band) get ``grade``; ``None`` is the floor."""

    grade: str
    min_score: float | None


def grade_problem(grades: Sequence[GradeBand]) -> str | None:
    """What is wrong with a list of grade bands, or ``None`` if it is usable."""
    floors = [g.min_score for g in grades]
    if not floors or floors[-1] is not None or None in floors[:-1]:
        return "the last band, and only it, must have no minimum score"
    scores = cast(list[float], floors[:-1])
    if any(a <= b for a, b in itertools.pairwise(scores)):
        return "minimum scores must decrease from the first band to the last"
    if len({g.grade for g in grades}) != len(grades):
        return "grade labels must be unique"
    return None


DEFAULT_GRADES: tuple[GradeBand, ...] = (
    GradeBand("A", 620.0),  # PD below about 1% at the default scaling
    GradeBand("B", 580.0),  # below about 4%
    GradeBand("C", 540.0),  # below about 14%
    GradeBand("D", 500.0),  # below about 39%
    GradeBand("E", None),
)


def grade_table(grades: Sequence[GradeBand]) -> tuple[FloatArray, npt.NDArray[np.str_]]:
    """(ascending floors, labels) so that ``labels[searchsorted(floors, score, "right")]`` is
    the grade of a score: the highest band whose floor it reaches."""
    floors = [g.min_score for g in grades if g.min_score is not None]
    return np.array(floors[::-1], dtype=np.float64), np.array([g.grade for g in grades][::-1])


def grades_of(scores: FloatArray, grades: Sequence[GradeBand] = DEFAULT_GRADES) -> list[str]:
    """The grade of each score under ``grades`` (the scorer's rule, for scores from elsewhere)."""
    floors, labels = grade_table(grades)
    return [str(g) for g in labels[np.searchsorted(floors, scores, side="right")]]


@dataclass(frozen=True)
class Bin:
    """One bin: its statistics on the training data, WoE, points and the reason it gives."""

    kind: BinKind
    label: str
    count: int
    event_rate: float | None
    woe: float
    points: float
    categories: tuple[str, ...] = ()
    fallback: str | None = None
    reason: ReasonText | None = None


@dataclass(frozen=True)
class Variable:
    """One variable of the card; ``bins`` are the regular bins, then special, then missing."""

    name: str
    kind: VariableKind
    bins: tuple[Bin, ...]
    splits: tuple[float, ...] = ()
    special_codes: tuple[float, ...] = ()
    trend: str = ""
    iv: float = 0.0
    coefficient: float = 0.0
    unseen_bin: int = -1  # -1: the worst regular bin

    @property
    def n_regular(self) -> int:
        return len(self.bins) - 2

    @property
    def special_bin(self) -> int:
        return len(self.bins) - 2

    @property
    def missing_bin(self) -> int:
        return len(self.bins) - 1

    @property
    def worst_bin(self) -> int:
        """The regular bin with the fewest points (the lowest WoE before points exist)."""
        regular = self.bins[: self.n_regular]
        key = [(b.points, b.woe) for b in regular]
        return min(range(len(regular)), key=lambda i: key[i])

    @property
    def unseen_category_bin(self) -> int:
        """Where a category not seen in training goes: the stated bin, else the worst regular one."""
        return self.unseen_bin if self.unseen_bin >= 0 else self.worst_bin

    @property
    def best_points(self) -> float:
        return max(b.points for b in self.bins)


@dataclass(frozen=True)
class Card:
    """A fitted scorecard as plain values; ``to_dict`` is the JSON artifact."""

    variables: tuple[Variable, ...]
    intercept: float
    intercept_points: float
    scaling: Scaling = field(default_factory=Scaling)
    grades: tuple[GradeBand, ...] = DEFAULT_GRADES
    created_at: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [v.name for v in self.variables]
