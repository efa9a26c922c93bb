"""The scorecard artifact's stored form: the versioned JSON a fitted ``Card`` is written as and read from.

The artifact is what a regulator reads and what the product deploys, so reading one checks
everything the scorer relies on (format and version, scaling, grade bands, bin order, splits,
categories) and refuses a file it cannot score with an ``ArtifactError`` that says what is wrong.
The dict form is also what the model registry stores. No files here: ``card_file.py`` reads and
writes them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from typing import Any, cast

from creditgraph.scoring.card import (
    Bin,
    BinKind,
    Card,
    GradeBand,
    Scaling,
    Variable,
    grade_problem,
)
from creditgraph.scoring.reasons import ReasonText

FORMAT = "creditgraph.scorecard"
FORMAT_VERSION = 1


class ArtifactError(ValueError):
    """A file that is not a scorecard artifact this version can read."""


def card_to_dict(card: Card) -> dict[str, Any]:
    """The artifact as JSON-ready values, in the order a reader meets them."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": card.created_at,
        "features": card.features,
        "scaling": {
            "base_score": card.scaling.base_score,
            "base_odds": card.scaling.base_odds,
            "pdo": card.scaling.pdo,
            "factor": card.scaling.factor,
            "offset": card.scaling.offset,
        },
        "intercept": card.intercept,
        "intercept_points": card.intercept_points,
        "grades": [{"grade": g.grade, "min_score": g.min_score} for g in card.grades],
        "variables": [_variable_dict(v) for v in card.variables],
        "training": dict(card.training),
    }


def card_to_json(card: Card) -> str:
    return json.dumps(card_to_dict(card), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


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


def card_from_dict(data: Mapping[str, Any]) -> Card:
    """A checked ``Card`` from the artifact's dict form; ``ArtifactError`` if it cannot be scored."""
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
