"""The scorecard as plain data: a versioned JSON artifact and the scorer that runs it.

A fitted card is a table of bins with points. Deploying it must not need the libraries that fitted
it, so this module uses only numpy and the standard library (pyarrow is used only when the caller
hands in a pyarrow Table). ``Scorecard`` in ``scorecard.py`` builds a ``Card``; ``Scorer`` runs one
over a batch (vectorised: ``np.searchsorted`` for numbers, a hash lookup for categories) or over
one row given as a dict (plain Python, a few microseconds).

Bins of a variable, in order: the regular bins (numeric ranges ``[splits[i-1], splits[i])``, the
first from minus infinity and the last to plus infinity, or groups of categories), then the
special bin, then the missing bin. ``score = intercept_points + sum of the bins' points``, and
``pd = 1 / (1 + exp((score - offset) / factor))`` with ``factor = pdo / ln 2`` and
``offset = base_score - factor * ln(base_odds)`` (odds are good:bad).

Bad input, and what the scorer does with it:

- a feature column absent from the input: ``ScoringInputError`` naming every missing column;
  nothing is scored, since a guessed value would be a silent error;
- a missing value (null, NaN, None, or empty text): the variable's missing bin;
- a special code listed at fit time (numeric variables): the special bin;
- a special or missing bin the training data could not rate (fewer than one good and one bad
  row in it): the points of the variable's worst regular bin, written into the artifact with
  ``"fallback": "worst_bin"``, because evidence the card never saw must not raise a score;
- a category not seen in training: the worst regular bin, for the same reason; an applicant
  cannot gain points from a typo or a new code, and the reason codes name the variable;
- a number beyond the training range: the first or last bin, which are open-ended;
- text that is not a number in a numeric column: ``ScoringInputError`` naming the column, the
  first offending rows and values. Text is read as a number when Python's ``float`` accepts it,
  and ``""``, ``NA``, ``N/A``, ``NaN``, ``null`` and ``None`` (any case) are missing values.
  Guessing a number from text would score an applicant on data nobody checked.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from creditgraph.scoring.reasons import (
    MAX_REASONS,
    Reason,
    ReasonText,
    loss_ranks,
    rank_row,
    smallest_ranks,
)

FORMAT = "creditgraph.scorecard"
FORMAT_VERSION = 1
CHUNK_ROWS = 1 << 16
NULL_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none"})

BinKind = Literal["range", "group", "special", "missing"]
VariableKind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class ScoringInputError(ValueError):
    """Input the card cannot score; the message names the columns (and rows) at fault."""


class ArtifactError(ValueError):
    """A file that is not a scorecard artifact this version can read."""


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "features": self.features,
            "scaling": {
                "base_score": self.scaling.base_score,
                "base_odds": self.scaling.base_odds,
                "pdo": self.scaling.pdo,
                "factor": self.scaling.factor,
                "offset": self.scaling.offset,
            },
            "intercept": self.intercept,
            "intercept_points": self.intercept_points,
            "grades": [{"grade": g.grade, "min_score": g.min_score} for g in self.grades],
            "variables": [_variable_dict(v) for v in self.variables],
            "training": dict(self.training),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Card:
        return _card_from_dict(data)


def _variable_dict(v: Variable) -> dict[str, Any]:
    return {
        "name": v.name,
        "type": v.kind,
        "trend": v.trend,
        "iv": v.iv,
        "coefficient": v.coefficient,
        "splits": list(v.splits),
        "special_codes": list(v.special_codes),
        "unseen_category_bin": v.unseen_category_bin if v.kind == "categorical" else None,
        "best_points": v.best_points,
        "bins": [_bin_dict(b) for b in v.bins],
    }


def _bin_dict(b: Bin) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": b.kind, "label": b.label}
    if b.kind == "group":
        out["categories"] = list(b.categories)
    out |= {"count": b.count, "event_rate": b.event_rate, "woe": b.woe, "points": b.points}
    if b.fallback:
        out["fallback"] = b.fallback
    out["reason"] = (
        None if b.reason is None else {"code": b.reason.code, "zh": b.reason.zh, "en": b.reason.en}
    )
    return out


def save(card: Card, path: Path) -> None:
    path.write_text(card.to_json(), encoding="utf-8")


def load(path: Path) -> Card:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a scorecard artifact")
    return Card.from_dict(data)


# --- reading an artifact ------------------------------------------------------------------


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ArtifactError(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ArtifactError(f"{where}: {key!r} has the wrong type")
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value = float(_get(data, key, (int, float), where))
    if not math.isfinite(value):
        raise ArtifactError(f"{where}: {key!r} must be finite")
    return value


def _card_from_dict(data: Mapping[str, Any]) -> Card:
    if data.get("format") != FORMAT:
        raise ArtifactError(f"not a scorecard artifact (format {data.get('format')!r})")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"scorecard format version {version!r}; this creditgraph reads version {FORMAT_VERSION}"
        )
    s = _get(data, "scaling", dict, "scaling")
    scaling = Scaling(
        _number(s, "base_score", "scaling"),
        _number(s, "base_odds", "scaling"),
        _number(s, "pdo", "scaling"),
    )
    if scaling.base_odds <= 0 or scaling.pdo <= 0:
        raise ArtifactError("scaling: base_odds and pdo must be positive")
    grades = tuple(_grade(g) for g in _get(data, "grades", list, "card"))
    problem = grade_problem(grades)
    if problem:
        raise ArtifactError(f"grades: {problem}")
    variables = tuple(_variable(v) for v in _get(data, "variables", list, "card"))
    if not variables:
        raise ArtifactError("a scorecard needs at least one variable")
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise ArtifactError("variables: names must be unique")
    if data.get("features", names) != names:
        raise ArtifactError("features must list the variables in order")
    return Card(
        variables=variables,
        intercept=_number(data, "intercept", "card"),
        intercept_points=_number(data, "intercept_points", "card"),
        scaling=scaling,
        grades=grades,
        created_at=str(data.get("created_at", "")),
        training=dict(data.get("training") or {}),
    )


def _grade(g: Any) -> GradeBand:
    if not isinstance(g, dict):
        raise ArtifactError("grades: each band must be an object")
    label = _get(g, "grade", str, "grades")
    floor = g.get("min_score")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int | float)):
        raise ArtifactError(f"grades: min_score of {label!r} must be a number or null")
    return GradeBand(label, None if floor is None else float(floor))


def _variable(v: Any) -> Variable:
    if not isinstance(v, dict):
        raise ArtifactError("variables: each variable must be an object")
    name = _get(v, "name", str, "variable")
    where = f"variable {name!r}"
    kind = _get(v, "type", str, where)
    if kind not in ("numeric", "categorical"):
        raise ArtifactError(f"{where}: type must be numeric or categorical")
    bins = tuple(_bin(b, where) for b in _get(v, "bins", list, where))
    splits = tuple(float(x) for x in v.get("splits", []))
    specials = tuple(float(x) for x in v.get("special_codes", []))
    kinds = [b.kind for b in bins]
    regular = "range" if kind == "numeric" else "group"
    if len(bins) < 3 or kinds[-2:] != ["special", "missing"] or set(kinds[:-2]) != {regular}:
        raise ArtifactError(f"{where}: bins must be {regular} bins, then special, then missing")
    if kind == "numeric":
        if len(splits) != len(bins) - 3:
            raise ArtifactError(f"{where}: {len(splits)} splits for {len(bins) - 2} bins")
        if any(not math.isfinite(x) for x in splits) or any(
            a >= b for a, b in itertools.pairwise(splits)
        ):
            raise ArtifactError(f"{where}: splits must be finite and increasing")
    unseen = v.get("unseen_category_bin")
    if kind == "categorical":
        seen: set[str] = set()
        for b in bins[:-2]:
            if seen & set(b.categories):
                raise ArtifactError(f"{where}: a category is in two bins")
            seen |= set(b.categories)
        if not isinstance(unseen, int) or not 0 <= unseen < len(bins):
            raise ArtifactError(f"{where}: unseen_category_bin must be a bin index")
    return Variable(
        name=name,
        kind=kind,
        bins=bins,
        splits=splits,
        special_codes=specials,
        trend=str(v.get("trend", "")),
        iv=float(v.get("iv", 0.0)),
        coefficient=float(v.get("coefficient", 0.0)),
        unseen_bin=unseen if isinstance(unseen, int) and kind == "categorical" else -1,
    )


def _bin(b: Any, where: str) -> Bin:
    if not isinstance(b, dict):
        raise ArtifactError(f"{where}: each bin must be an object")
    kind = _get(b, "kind", str, where)
    if kind not in ("range", "group", "special", "missing"):
        raise ArtifactError(f"{where}: unknown bin kind {kind!r}")
    reason = b.get("reason")
    text = None
    if reason is not None:
        if not isinstance(reason, dict):
            raise ArtifactError(f"{where}: a bin's reason must be an object or null")
        text = ReasonText(
            _get(reason, "code", str, where),
            _get(reason, "zh", str, where),
            _get(reason, "en", str, where),
        )
    rate = b.get("event_rate")
    return Bin(
        kind=cast(BinKind, kind),
        label=str(b.get("label", "")),
        count=int(b.get("count", 0)),
        event_rate=None if rate is None else float(rate),
        woe=_number(b, "woe", where),
        points=_number(b, "points", where),
        categories=tuple(str(c) for c in b.get("categories", [])),
        fallback=b.get("fallback"),
        reason=text,
    )


# --- reading input values -------------------------------------------------------------------


def category_text(value: object) -> str | None:
    """The text a category is matched by; ``None`` for a missing value.

    Fit and scoring both use it, so ``3``, ``3.0`` and ``"3"`` are one category.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def number_value(value: object) -> float | None:
    """A numeric variable's value as a float (NaN for missing), or ``None`` if it is not a number."""
    if value is None:
        return math.nan
    if isinstance(value, float):
        return value
    if isinstance(value, int | np.integer | np.floating | np.bool_):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in NULL_TEXT:
            return math.nan
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _numbers_from_objects(values: Sequence[object], name: str) -> FloatArray:
    out = np.empty(len(values), dtype=np.float64)
    bad: list[tuple[int, object]] = []
    for i, value in enumerate(values):
        number = number_value(value)
        if number is None:
            bad.append((i, value))
            out[i] = math.nan
        else:
            out[i] = number
    if bad:
        shown = ", ".join(f"row {i + 1}: {v!r}" for i, v in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ScoringInputError(f"column {name!r} must be numeric; found text ({shown}{more})")
    return out


def _as_numbers(column: Any, name: str) -> FloatArray:
    if _is_arrow(column):
        return _arrow_numbers(column, name)
    values = np.asarray(column)
    if values.dtype.kind in "biuf":
        return values.astype(np.float64, copy=False)
    if values.dtype.kind in "USO":
        if values.dtype.kind == "U":
            try:
                return values.astype(np.float64)
            except ValueError:
                pass
        return _numbers_from_objects(values.tolist(), name)
    raise ScoringInputError(f"column {name!r} must be numeric, not {values.dtype}")


def _as_categories(column: Any) -> npt.NDArray[Any]:
    """Category texts as a numpy array: unicode where possible; ``None`` or "" for missing."""
    values = np.asarray(column)
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind in "iu":
        return values.astype(str)
    return np.array([category_text(v) for v in values.tolist()], dtype=object)


# --- pyarrow input (imported only when a Table is handed in) ----------------------------------


def _is_arrow(column: Any) -> bool:
    return type(column).__module__.startswith("pyarrow")


def _arrow_column(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


def _arrow_numbers(column: Any, name: str) -> FloatArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = _arrow_column(column)
    kind = column.type
    if pa.types.is_null(kind):  # an all-empty CSV column
        return np.full(len(column), np.nan)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        cast_column = pc.cast(column, pa.float64())
        return np.asarray(cast_column.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_decimal(kind):
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            cast_column = pc.cast(column, pa.float64())
            return np.asarray(cast_column.to_numpy(zero_copy_only=False), dtype=np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _numbers_from_objects(column.to_pylist(), name)
    raise ScoringInputError(f"column {name!r} must be numeric, not {kind}")


def _arrow_category_bins(column: Any, compiled: _Compiled) -> IntArray | None:
    """Bins of a pyarrow string column by a hash lookup; ``None`` if the column is not text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = _arrow_column(column)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    # The value set ends with "" and null (the missing bin); a value not in it reads index -1,
    # the last entry of ``key_bins``: the unseen-category bin.
    value_set = pa.array([*compiled.keys, "", None], type=column.type)
    found = pc.index_in(column, value_set=value_set, skip_nulls=False).fill_null(-1)
    index = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.intp)
    return compiled.key_bins[index]


# --- the scorer ---------------------------------------------------------------------------------


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
            x = _as_numbers(column, c.name)
            bins = _count_splits_at_or_below(c.splits, x)
            for code in c.specials:
                bins[x == code] = c.special_bin
            bins[np.isnan(x)] = c.missing_bin
            return bins
        if _is_arrow(column):
            arrow_bins = _arrow_category_bins(column, c)
            if arrow_bins is not None:
                return arrow_bins
            column = column.to_numpy(zero_copy_only=False)
        values = _as_categories(column)
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
    if _is_arrow(data):
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


def load_scorer(path: Path) -> Scorer:
    return Scorer(load(path))
