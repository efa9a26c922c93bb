"""Raw feature values turned into what the card scores: floats for numeric variables, texts for categories.

Values arrive as Python objects (``None``, text from a CSV, numpy scalars), numpy arrays or pyarrow
columns. Fit and scoring read them through the same rules, so ``3``, ``3.0`` and ``"3"`` are one
category and a number is the same number whichever way it came in.

- a missing value (null, NaN, None, or empty text) stays missing: NaN for a number, ``None`` for a
  category; the scorer puts it in the variable's missing bin;
- text in a numeric column is a number when Python's ``float`` accepts it, and ``""``, ``NA``,
  ``N/A``, ``NaN``, ``null`` and ``None`` (any case) are missing values; any other text is a
  ``ScoringInputError`` naming the column, the first offending rows and values. Guessing a number
  from text would score an applicant on data nobody checked.

Pure: numpy and the standard library (pyarrow only when the caller hands in a pyarrow column).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

NULL_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none"})

FloatArray = npt.NDArray[np.float64]


class ScoringInputError(ValueError):
    """Input the card cannot score; the message names the columns (and rows) at fault."""


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


def as_numbers(column: Any, name: str) -> FloatArray:
    """A numeric variable's column as floats, NaN for missing; text that is no number is refused."""
    if is_arrow(column):
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


def as_categories(column: Any) -> npt.NDArray[Any]:
    """Category texts as a numpy array: unicode where possible; ``None`` or "" for missing."""
    values = np.asarray(column)
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind in "iu":
        return values.astype(str)
    return np.array([category_text(v) for v in values.tolist()], dtype=object)


# --- pyarrow columns (pyarrow is imported only when one is handed in) --------------------------


def is_arrow(column: Any) -> bool:
    """Whether a column (or table) is pyarrow's, told without importing pyarrow."""
    return type(column).__module__.startswith("pyarrow")


def arrow_column(column: Any) -> Any:
    """One contiguous, decoded pyarrow array, as the compute functions want it."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


def _arrow_numbers(column: Any, name: str) -> FloatArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = arrow_column(column)
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
