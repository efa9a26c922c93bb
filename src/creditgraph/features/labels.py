"""Outcome labels as seeds, known strictly before the as-of instant, split into folds.

A person's own outcome must never reach their own features. Every label-based feature (PageRank
exposure, defaulted contacts, community default rate, shared-device defaulters) is computed
out-of-fold: a person in fold ``k`` sees only the labels of people in other folds. That also
removes the person's own label from paths that return to them (2-hop shares, PageRank restarts).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

FOLDS = 5


def fold_of(ids: npt.NDArray[np.object_] | list[str], folds: int = FOLDS) -> npt.NDArray[np.int64]:
    """A stable fold per id (CRC-32 of the id), the same on every engine and every run."""
    return np.fromiter(
        (zlib.crc32(str(i).encode()) % folds for i in ids), dtype=np.int64, count=len(ids)
    )


@dataclass(frozen=True)
class Seeds:
    """Per node: known bad (defaulted), known good (repaid), and the node's fold."""

    bad: npt.NDArray[np.bool_]
    good: npt.NDArray[np.bool_]
    fold: npt.NDArray[np.int64]

    def out_of_fold(self, which: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """An ``(n, FOLDS)`` matrix: column ``k`` holds ``which`` outside fold ``k``."""
        cols = [(which & (self.fold != k)).astype(np.float64) for k in range(FOLDS)]
        return np.stack(cols, axis=1)

    def pick(self, per_fold: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Each node's value from its own fold's column."""
        return np.asarray(per_fold[np.arange(per_fold.shape[0]), self.fold], dtype=np.float64)


def seeds_as_of(outcomes: pa.Table, node_ids: pa.Array | list[str], t_epoch: int) -> Seeds:
    """Bad and good labels of the nodes, from outcomes observed before ``t_epoch``."""
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
        fold=fold_of(nodes.to_pylist()),
    )
