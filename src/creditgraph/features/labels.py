"""Outcome labels as seeds, known strictly before the as-of instant, split into folds.

A person's own outcome must never reach their own features. Every label-based feature (PageRank
exposure, defaulted contacts, community default rate, shared-device defaulters) is computed
out-of-fold: a person in fold ``k`` sees only the labels of people in other folds. That also
removes the person's own label from paths that return to them (2-hop shares, PageRank restarts).

A person's fold is stored with the person (``persons.fold``), assigned at first sight from the
lender's own external id hashed with a fixed, public salt: not from the pseudonym, which depends
on a home's secret key. The same data ingested into two homes therefore gets the same folds, and
the same training data gives the same model. Nodes without a stored fold (contacts who are not
customers, or a person without an identity row) fall back to a CRC-32 of their id.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select, update

FOLDS = 5
FOLD_SALT = b"creditgraph label fold v1/"  # public on purpose: folds must agree across homes


def fold_of(ids: npt.NDArray[np.object_] | list[str], folds: int = FOLDS) -> npt.NDArray[np.int64]:
    """A stable fold per id (CRC-32 of the id), the same on every engine and every run."""
    return np.fromiter(
        (zlib.crc32(str(i).encode()) % folds for i in ids), dtype=np.int64, count=len(ids)
    )


def stable_fold(external_id: str, folds: int = FOLDS) -> int:
    """The fold of a person from the lender's own id: SHA-256 with a fixed salt, mod ``folds``."""
    digest = hashlib.sha256(FOLD_SALT + external_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % folds


def external_ids(engine: Engine) -> dict[str, str]:
    """Every person's lender's id, decrypted (each data key unwrapped once per process run).

    Read once per feature build for the folds and the node order; never logged or stored.
    """
    from creditgraph.privacy.fieldcrypt import open_column
    from creditgraph.privacy.keys import provider_for
    from creditgraph.store.models import PersonKey

    with engine.connect() as conn:
        if conn.execute(select(PersonKey.person_id).limit(1)).first() is None:
            return {}  # no one to decrypt: no master key needed
        return {p: e for p, e in open_column(conn, provider_for(engine), "external_id") if e}


def order_keys(engine: Engine, ids: dict[str, str] | None = None) -> pa.Table:
    """(person_id, order_key): a 63-bit key per person from the lender's own id (same salt).

    Graph algorithms whose result depends on the order of the nodes (Leiden) visit the people in
    this order rather than in pseudonym order, so that two homes find the same communities.
    """
    rows = list((external_ids(engine) if ids is None else ids).items())
    keys = [
        int.from_bytes(hashlib.sha256(FOLD_SALT + str(e).encode()).digest()[8:16], "big") >> 1
        for _, e in rows
    ]
    return pa.table(
        {
            "person_id": pa.array([str(p) for p, _ in rows], pa.string()),
            "order_key": pa.array(keys, pa.int64()),
        }
    )


def canonical_order(keys: npt.NDArray[np.int64], adjacency: Any) -> npt.NDArray[np.int64] | None:
    """A node order that does not depend on pseudonyms: people by ``keys``; nodes without a key
    (contacts outside the book) after them, by the sorted keys of their neighbours. ``None`` when
    no node has a key."""
    known = keys >= 0
    if not known.any():
        return None
    n = keys.size
    indptr, indices = adjacency.indptr, adjacency.indices
    unknown = np.flatnonzero(~known)
    signature = {}
    for i in unknown.tolist():
        around = keys[indices[indptr[i] : indptr[i + 1]]]
        signature[i] = tuple(sorted(around[around >= 0].tolist()))
    first = np.flatnonzero(known)[np.argsort(keys[known], kind="stable")]
    rest = sorted(unknown.tolist(), key=lambda i: (signature[i], i))
    return np.concatenate([first, np.asarray(rest, dtype=np.int64)]).astype(np.int64)[:n]


def assign_folds(engine: Engine, ids: dict[str, str] | None = None) -> int:
    """Give every person without a stored fold one; returns how many were assigned.

    Run before features are built, so a person has a fold from the first build that sees them
    and keeps it (the stored value is never recomputed). ``ids``: the lender's ids already
    decrypted (``external_ids``), read here only when someone lacks a fold.
    """
    from creditgraph.store.models import Person

    with engine.connect() as conn:
        missing = list(
            conn.execute(select(Person.person_id).where(Person.fold.is_(None))).scalars()
        )
    if not missing:
        return 0
    ids = external_ids(engine) if ids is None else ids
    by_fold: dict[int, list[str]] = {}
    for person_id in missing:
        external_id = ids.get(person_id)
        fold = stable_fold(external_id) if external_id is not None else int(fold_of([person_id])[0])
        by_fold.setdefault(fold, []).append(person_id)
    with engine.begin() as conn:
        for fold, people in by_fold.items():
            for start in range(0, len(people), 500):
                chunk = people[start : start + 500]
                conn.execute(
                    update(Person)
                    .where(Person.person_id.in_(chunk), Person.fold.is_(None))
                    .values(fold=fold)
                )
    return len(missing)


def node_folds(
    node_ids: pa.Array | list[str], stored: pa.Table | None = None
) -> npt.NDArray[np.int64]:
    """Each node's fold: the stored one (``stored``: person_id, fold) where known, else CRC-32."""
    nodes = node_ids if isinstance(node_ids, pa.Array) else pa.array(node_ids, pa.string())
    fold = fold_of(nodes.to_pylist())
    if stored is None or stored.num_rows == 0:
        return fold
    where = pc.index_in(nodes, value_set=stored["person_id"].combine_chunks())
    known = pc.is_valid(where).to_numpy(zero_copy_only=False)
    values = pc.take(stored["fold"].combine_chunks(), pc.fill_null(where, 0))
    values = pc.fill_null(pc.cast(values, pa.int64()), -1).to_numpy(zero_copy_only=False)
    use = known & (values >= 0)
    fold[use] = values[use] % FOLDS
    return fold


@dataclass(frozen=True)
class Seeds:
    """Per node: known bad (defaulted), known good (repaid), and the node's fold."""

    bad: npt.NDArray[np.bool_]
    good: npt.NDArray[np.bool_]
    fold: npt.NDArray[np.int64]
    order_key: npt.NDArray[np.int64] | None = None  # stable per person, -1 when unknown

    def out_of_fold(self, which: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """An ``(n, FOLDS)`` matrix: column ``k`` holds ``which`` outside fold ``k``."""
        cols = [(which & (self.fold != k)).astype(np.float64) for k in range(FOLDS)]
        return np.stack(cols, axis=1)

    def pick(self, per_fold: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Each node's value from its own fold's column."""
        return np.asarray(per_fold[np.arange(per_fold.shape[0]), self.fold], dtype=np.float64)


def seeds_as_of(
    outcomes: pa.Table,
    node_ids: pa.Array | list[str],
    t_epoch: int,
    folds: pa.Table | None = None,
) -> Seeds:
    """Bad and good labels of the nodes, from outcomes observed before ``t_epoch``.

    ``folds`` (person_id, fold): the stored folds; nodes not in it get the CRC-32 fold.
    """
    nodes = node_ids if isinstance(node_ids, pa.Array) else pa.array(node_ids, pa.string())
    observed = pc.less(
        pc.cast(pc.cast(outcomes["observed_at"], pa.timestamp("s")), pa.int64()), t_epoch
    )
    known = outcomes.filter(observed)
    bad_ids = known.filter(known["defaulted"])["person_id"]
    bad = pc.is_in(nodes, value_set=bad_ids.combine_chunks()).to_numpy(zero_copy_only=False)
    labelled = pc.is_in(nodes, value_set=known["person_id"].combine_chunks()).to_numpy(
        zero_copy_only=False
    )
    return Seeds(
        bad=np.asarray(bad, dtype=bool),
        good=np.asarray(labelled & ~bad, dtype=bool),
        fold=node_folds(nodes, folds),
        order_key=node_keys(nodes, folds),
    )


def node_keys(nodes: pa.Array, stored: pa.Table | None) -> npt.NDArray[np.int64] | None:
    """Each node's ``order_key`` from ``stored`` (person_id, ..., order_key), -1 when unknown."""
    if stored is None or "order_key" not in stored.column_names:
        return None
    where = pc.index_in(nodes, value_set=stored["person_id"].combine_chunks())
    values = pc.take(stored["order_key"].combine_chunks(), where)
    return np.asarray(
        pc.fill_null(pc.cast(values, pa.int64()), -1).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
