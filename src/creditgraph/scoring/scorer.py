"""The scorer: runs a ``Card`` over a batch (vectorised) or over one row (plain Python).

A batch bins numbers with ``np.searchsorted`` (or one comparison per split) and categories with a
hash lookup; one row given as a dict takes a few microseconds. Up to four reasons come with each
score: the variables whose bins lost the most points against their best bin.

Bad input, and what the scorer does with it:

- a feature column absent from the input: ``ScoringInputError`` naming every missing column;
  nothing is scored, since a guessed value would be a silent error;
- a missing value (null, NaN, None, or empty text): the variable's missing bin;
- a special code listed at fit time (numeric variables): the special bin;
- a special or missing bin the training data could not rate: that bin's points, which the card
  already set to the worst regular bin's (``"fallback": "worst_bin"``);
- a category not seen in training: the worst regular bin, so an applicant cannot gain points from
  a typo or a new code, and the reason codes name the variable;
- a number beyond the training range: the first or last bin, which are open-ended;
- text that is not a number in a numeric column: ``ScoringInputError`` (see ``coercion.py``).

Pure scorecard maths: numpy and the standard library (pyarrow only when handed a pyarrow Table).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from creditgraph.scoring.card import Card, Variable, grade_table
from creditgraph.scoring.coercion import (
    ScoringInputError,
    arrow_column,
    as_categories,
    as_numbers,
    category_text,
    is_arrow,
    number_value,
)
from creditgraph.scoring.reasons import (
    MAX_REASONS,
    Reason,
    ReasonText,
    loss_ranks,
    rank_row,
    smallest_ranks,
)

CHUNK_ROWS = 1 << 16

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class RowScore:
    """One row's result."""

    score: float
    pd: float
    grade: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class BatchScores:
    """Results for a batch, as arrays in input order; reasons as ids into the scorer's tables."""

    score: FloatArray
    pd: FloatArray
    grade: npt.NDArray[np.str_]
    reason_ids: IntArray  # (rows, 4): a bin id into the tables below, -1 for no reason
    _codes: npt.NDArray[Any]
    _zh: npt.NDArray[Any]
    _en: npt.NDArray[Any]
    _variables: npt.NDArray[Any]
    _lost: FloatArray

    def __len__(self) -> int:
        return int(self.score.shape[0])

    def _take(self, table: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return table[self.reason_ids]  # id -1 reads the empty entry at the end of each table

    def reason_codes(self) -> npt.NDArray[Any]:
        return self._take(self._codes)

    def reason_texts(self, language: Literal["zh", "en"]) -> npt.NDArray[Any]:
        return self._take(self._zh if language == "zh" else self._en)

    def row_reasons(self, row: int) -> tuple[Reason, ...]:
        return tuple(
            Reason(
                str(self._codes[i]),
                str(self._variables[i]),
                float(self._lost[i]),
                str(self._zh[i]),
                str(self._en[i]),
            )
            for i in self.reason_ids[row]
            if i >= 0
        )


@dataclass(frozen=True)
class _Compiled:
    """One variable turned into arrays and lookups for fast scoring."""

    name: str
    numeric: bool
    splits: FloatArray
    splits_list: list[float]
    specials: tuple[float, ...]
    lookup: dict[str, int]
    keys: list[str]
    sorted_keys: npt.NDArray[np.str_]
    sorted_bins: IntArray
    key_bins: IntArray
    unseen_bin: int
    special_bin: int
    missing_bin: int
    points: FloatArray
    lost: FloatArray
    woe: FloatArray
    points_list: list[float]
    lost_list: list[float]
    texts: list[ReasonText | None]


def _compile(v: Variable) -> _Compiled:
    points = np.array([b.points for b in v.bins], dtype=np.float64)
    lookup = {c: i for i, b in enumerate(v.bins) for c in b.categories}
    keys = sorted(lookup)
    unseen = v.unseen_category_bin
    with_empty = {**lookup, "": v.missing_bin}
    sorted_keys = np.array(sorted(with_empty), dtype=str)
    sorted_bins = np.array([with_empty[k] for k in sorted(with_empty)], dtype=np.intp)
    best = float(points.max())
    lost = best - points
    return _Compiled(
        name=v.name,
        numeric=v.kind == "numeric",
        splits=np.array(v.splits, dtype=np.float64),
        splits_list=list(v.splits),
        specials=v.special_codes,
        lookup=lookup,
        keys=keys,
        sorted_keys=sorted_keys,
        sorted_bins=sorted_bins,
        key_bins=np.array(
            [*(lookup[k] for k in keys), v.missing_bin, v.missing_bin, unseen], dtype=np.intp
        ),
        unseen_bin=unseen,
        special_bin=v.special_bin,
        missing_bin=v.missing_bin,
        points=points,
        lost=lost,
        woe=np.array([b.woe for b in v.bins], dtype=np.float64),
        points_list=points.tolist(),
        lost_list=lost.tolist(),
        texts=[b.reason for b in v.bins],
    )


class Scorer:
    """Runs a ``Card``: vectorised batches and a plain-Python single row."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self._vars = [_compile(v) for v in card.variables]
        # Reasons compare variables in name order, so ties go to the first name.
        self._by_name = sorted(range(len(self._vars)), key=lambda j: self._vars[j].name)
        self._row_order = [self._vars[j] for j in self._by_name]
        self._texts = {c.name: c.texts for c in self._vars}
        sizes = [len(v.bins) for v in card.variables]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        tables: dict[str, list[Any]] = {k: [] for k in ("code", "zh", "en", "var", "lost")}
        for v, c in zip(card.variables, self._vars, strict=True):
            for b, lost in zip(v.bins, c.lost_list, strict=True):
                text = b.reason or ReasonText("", "", "")
                tables["code"].append(text.code)
                tables["zh"].append(text.zh)
                tables["en"].append(text.en)
                tables["var"].append(v.name)
                tables["lost"].append(lost)
        for key in ("code", "zh", "en", "var"):
            tables[key].append("")
        tables["lost"].append(0.0)
        self._codes = np.array(tables["code"], dtype=object)
        self._zh = np.array(tables["zh"], dtype=object)
        self._en = np.array(tables["en"], dtype=object)
        self._variables = np.array(tables["var"], dtype=object)
        self._lost = np.array(tables["lost"], dtype=np.float64)
        self._points = np.concatenate([c.points for c in self._vars])
        # Reasons by rank: entry ids ordered by loss, then name; a row's reasons are its smallest.
        entries = len(self._points)
        self._ranks = loss_ranks(tables["lost"][:entries], tables["var"][:entries])
        self._no_reason = entries
        self._id_of_rank = np.full(entries + 1, -1, dtype=np.intp)
        ranked = self._ranks < entries
        self._id_of_rank[self._ranks[ranked]] = np.flatnonzero(ranked)
        self._grade_floors, self._grade_labels = grade_table(card.grades)
        self._factor = card.scaling.factor
        self._offset = card.scaling.offset

    @property
    def features(self) -> list[str]:
        return self.card.features

    # batch -----------------------------------------------------------------------------

    def bins(self, data: Any) -> npt.NDArray[np.integer[Any]]:
        """Each variable's bin for each row: (variables, rows), variables in card order.

        Stored as int16 (a variable has far fewer bins), so a million rows of 60 variables
        take 120 MB rather than 480.
        """
        columns, n = _columns(data, self.features)
        small = max(len(v.bins) for v in self.card.variables) < 2**15
        out = np.empty((len(self._vars), n), dtype=np.int16 if small else np.intp)
        for j, (c, column) in enumerate(zip(self._vars, columns, strict=True)):
            out[j] = self._bin_column(c, column)
        return out

    def _bin_column(self, c: _Compiled, column: Any) -> IntArray:
        if c.numeric:
            x = as_numbers(column, c.name)
            bins = _count_splits_at_or_below(c.splits, x)
            for code in c.specials:
                bins[x == code] = c.special_bin
            bins[np.isnan(x)] = c.missing_bin
            return bins
        if is_arrow(column):
            arrow_bins = _arrow_category_bins(column, c)
            if arrow_bins is not None:
                return arrow_bins
            column = column.to_numpy(zero_copy_only=False)
        values = as_categories(column)
        if values.dtype.kind == "U":
            at = np.minimum(np.searchsorted(c.sorted_keys, values), len(c.sorted_keys) - 1)
            found = c.sorted_keys[at] == values
            return np.where(found, c.sorted_bins[at], c.unseen_bin).astype(np.intp, copy=False)
        return np.array(
            [
                c.missing_bin if v is None else c.lookup.get(v, c.unseen_bin)
                for v in values.tolist()
            ],
            dtype=np.intp,
        )

    def woe(self, data: Any) -> FloatArray:
        """The WoE matrix (rows, variables) the card's logistic regression reads."""
        bins = self.bins(data)
        out = np.empty((bins.shape[1], bins.shape[0]), dtype=np.float64)
        for j, c in enumerate(self._vars):
            out[:, j] = c.woe[bins[j]]
        return out

    def score_batch(self, data: Any) -> BatchScores:
        """Score, PD, grade and reasons of every row of a pyarrow Table or a dict of arrays."""
        bins = self.bins(data)
        n = bins.shape[1]
        score = np.empty(n, dtype=np.float64)
        reason_ids = np.empty((n, MAX_REASONS), dtype=np.intp)
        offsets = self._offsets[:, None]
        for start in range(0, n, CHUNK_ROWS):
            ids = bins[:, start : start + CHUNK_ROWS] + offsets  # (variables, rows) bin ids
            score[start : start + CHUNK_ROWS] = self.card.intercept_points + self._points[ids].sum(
                axis=0
            )
            top = smallest_ranks(self._ranks[ids], self._no_reason)
            reason_ids[start : start + CHUNK_ROWS] = self._id_of_rank[top]
        pd = 1.0 / (1.0 + np.exp((score - self._offset) / self._factor))
        grade = self._grade_labels[np.searchsorted(self._grade_floors, score, side="right")]
        return BatchScores(
            score,
            pd,
            grade,
            reason_ids,
            self._codes,
            self._zh,
            self._en,
            self._variables,
            self._lost,
        )

    # one row ------------------------------------------------------------------------------

    def score_row(self, row: Mapping[str, object]) -> RowScore:
        """One applicant given as ``{feature: value}``; plain Python, no numpy on the way."""
        absent = [c.name for c in self._row_order if c.name not in row]
        if absent:
            raise ScoringInputError(_absent_message(absent))
        total = self.card.intercept_points
        losses: list[tuple[float, str, int]] = []
        for c in self._row_order:
            value = row[c.name]
            b = self._row_bin(c, value)
            total += c.points_list[b]
            lost = c.lost_list[b]
            if lost > 0.0:
                losses.append((lost, c.name, b))
        reasons = []
        for lost, name, b in rank_row(losses):
            text = self._texts[name][b]
            if text is not None:
                reasons.append(Reason(text.code, name, lost, text.zh, text.en))
        pd = 1.0 / (1.0 + math.exp((total - self._offset) / self._factor))
        return RowScore(total, pd, self._grade_of(total), tuple(reasons))

    def _row_bin(self, c: _Compiled, value: object) -> int:
        if c.numeric:
            x = value if type(value) is float else number_value(value)
            if x is None:
                raise ScoringInputError(f"column {c.name!r} must be numeric; got {value!r}")
            if x != x:
                return c.missing_bin
            if x in c.specials:
                return c.special_bin
            return bisect.bisect_right(c.splits_list, x)
        text = value if type(value) is str else category_text(value)
        if not text:
            return c.missing_bin
        return c.lookup.get(text, c.unseen_bin)

    def _grade_of(self, score: float) -> str:
        for band in self.card.grades:
            if band.min_score is None or score >= band.min_score:
                return band.grade
        return self.card.grades[-1].grade


def _count_splits_at_or_below(splits: FloatArray, x: FloatArray) -> IntArray:
    """``np.searchsorted(splits, x, side="right")``: the regular bin of each value.

    A card has a handful of splits per variable; one vectorised comparison per split is then
    several times faster than a binary search per value, and gives the same bins.
    """
    if len(splits) > 32:
        return np.searchsorted(splits, x, side="right").astype(np.intp, copy=False)
    bins = np.zeros(x.shape, dtype=np.int8)
    for split in splits:
        bins += x >= split
    return bins.astype(np.intp)


def _absent_message(absent: list[str]) -> str:
    listed = ", ".join(repr(a) for a in absent)
    return f"missing feature column{'s' if len(absent) > 1 else ''}: {listed}"


def _columns(data: Any, names: list[str]) -> tuple[list[Any], int]:
    """The named columns of a pyarrow Table, a dict of arrays or a DataFrame, and the row count."""
    if is_arrow(data):
        present = set(data.column_names)
        getter = data.column
    else:
        present = {str(k) for k in data}
        getter = data.__getitem__
    absent = [n for n in names if n not in present]
    if absent:
        raise ScoringInputError(_absent_message(absent))
    columns = [getter(n) for n in names]
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise ScoringInputError("feature columns have different lengths")
    return columns, lengths.pop()


def _arrow_category_bins(column: Any, compiled: _Compiled) -> IntArray | None:
    """Bins of a pyarrow string column by a hash lookup; ``None`` if the column is not text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = arrow_column(column)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    # The value set ends with "" and null (the missing bin); a value not in it reads index -1,
    # the last entry of ``key_bins``: the unseen-category bin.
    value_set = pa.array([*compiled.keys, "", None], type=column.type)
    found = pc.index_in(column, value_set=value_set, skip_nulls=False).fill_null(-1)
    index = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.intp)
    return compiled.key_bins[index]
