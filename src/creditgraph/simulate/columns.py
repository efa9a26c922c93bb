"""Numpy arrays to Arrow columns of the contract's types.

The generators work in integers (epoch seconds, fen, indices) because that is fast and exact; this
module is the one place that turns them into the contract's storage types.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from creditgraph.contracts.schema import Kind, TableSpec

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)

ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.STRING: pa.string(),
    Kind.ENUM: pa.string(),
    Kind.INT: pa.int64(),
    Kind.MONEY: MONEY,
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP: TIMESTAMP,
    Kind.BOOL: pa.bool_(),
}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """Typed schema of a contract table, columns in contract order (optional ones included)."""
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.kind], nullable=True) for c in spec.all_columns]
    )


def _validity(valid: NDArray[np.bool_] | None, n: int) -> pa.Buffer | None:
    if valid is None or bool(valid.all()):
        return None
    return pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little").tobytes())


def timestamps(seconds: NDArray[np.int64], valid: NDArray[np.bool_] | None = None) -> pa.Array:
    """Epoch seconds as UTC microsecond timestamps; ``valid`` False gives nulls."""
    micros = np.ascontiguousarray(seconds, dtype=np.int64) * 1_000_000
    buf = pa.py_buffer(micros.tobytes())
    return pa.Array.from_buffers(TIMESTAMP, len(micros), [_validity(valid, len(micros)), buf])


def dates(days: NDArray[np.int64]) -> pa.Array:
    """Days since the epoch as Arrow dates."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32())


def money(fen: NDArray[np.int64], valid: NDArray[np.bool_] | None = None) -> pa.Array:
    """Integer fen as decimal(18, 2) CNY, built from the raw 128-bit words so it stays exact."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    words = np.empty((len(fen), 2), dtype=np.int64)
    words[:, 0] = fen
    words[:, 1] = fen >> 63
    buf = pa.py_buffer(words.tobytes())
    return pa.Array.from_buffers(MONEY, len(fen), [_validity(valid, len(fen)), buf])


def ints(values: NDArray[np.integer], valid: NDArray[np.bool_] | None = None) -> pa.Array:
    arr = np.asarray(values, dtype=np.int64)
    mask = None if valid is None else ~valid
    return pa.array(arr, type=pa.int64(), mask=mask)


def bools(values: NDArray[np.bool_]) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), type=pa.bool_())


def labels(
    vocabulary: pa.Array, index: NDArray[np.integer], valid: NDArray[np.bool_] | None = None
) -> pa.Array:
    """Strings picked from a small vocabulary by index (null where ``valid`` is False)."""
    idx = np.asarray(index, dtype=np.int64)
    mask = None if valid is None else ~valid
    return vocabulary.take(pa.array(idx, type=pa.int64(), mask=mask))


def prefixed_ids(prefix: str, numbers: NDArray[np.integer], width: int) -> pa.Array:
    """Identifiers such as ``P0000001``: a prefix and a zero-padded number."""
    digits = pc.utf8_lpad(
        pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def table(spec: TableSpec, columns: Mapping[str, pa.Array]) -> pa.Table:
    """A typed contract table; optional columns not given are all null, unknown names are an error."""
    schema = arrow_schema(spec)
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"{spec.name}: columns not in the contract: {sorted(unknown)}")
    lengths = {len(a) for a in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"{spec.name}: columns differ in length: {lengths}")
    n = lengths.pop()
    arrays = []
    for f in schema:
        if f.name in columns:
            arr = columns[f.name]
            arrays.append(arr if arr.type == f.type else arr.cast(f.type))
        else:
            if spec.column(f.name).required:
                raise KeyError(f"{spec.name}: required column {f.name!r} missing")
            arrays.append(pa.nulls(n, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
