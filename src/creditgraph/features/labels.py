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


def seeds_as_of(outcomes: pa.Table, node_ids: npt.NDArray[np.object_], t_epoch: int) -> Seeds:
    """Bad and good labels of the nodes, from outcomes observed before ``t_epoch``."""
    observed = pc.less(
        pc.cast(pc.cast(outcomes["observed_at"], pa.timestamp("s")), pa.int64()), t_epoch
    )
    known = outcomes.filter(observed)
    bad_ids = set(known.filter(known["defaulted"])["person_id"].to_pylist())
    all_ids = set(known["person_id"].to_pylist())
    bad = np.fromiter((i in bad_ids for i in node_ids), dtype=bool, count=len(node_ids))
    labelled = np.fromiter((i in all_ids for i in node_ids), dtype=bool, count=len(node_ids))
    return Seeds(bad=bad, good=labelled & ~bad, fold=fold_of(node_ids))
