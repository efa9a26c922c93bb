"""The population as a value: every person's attributes as whole-population arrays.

Apart from ``population`` (which draws it) so the fraud rings, which rewrite some members, and the
draw, which plans the rings, do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass
class Population:
    """Per-person arrays, all of length ``n`` and indexed by the internal person index."""

    n: int
    n_normal: int
    id_number: NDArray[np.int64]  # 1..n, a permutation: P<id_number>
    region: NDArray[np.int64]
    segment: NDArray[np.int64]
    birth_year: NDArray[np.int64]
    gender: NDArray[np.int64]  # index into GENDERS, -1 when not given
    occupation: NDArray[np.int64]  # index into OCCUPATION_LIST
    income_fen: NDArray[np.int64]
    engagement: NDArray[np.float64]  # activity multiplier, mean about 1
    uses: NDArray[np.bool_]  # (n, len(SOURCES)): which sources the person is on
    borrower: NDArray[np.bool_]
    applied_at: NDArray[np.int64]  # -1 when the person has no historical loan
    registered_at: NDArray[np.int64]
    data_start: NDArray[np.int64]  # when connectors began sending the person's data
    ring: NDArray[np.int64]  # fraud ring index, -1 for ordinary people
    surname: NDArray[np.int64]
    given: NDArray[np.int64]
    has_name: NDArray[np.bool_]
    phone: NDArray[np.int64]  # 11 digits, -1 when not given
    ref_year: int  # the world's current year, for ages

    @property
    def by_id(self) -> NDArray[np.int64]:
        """Internal indices in external-id order: how per-person tables are written."""
        return np.argsort(self.id_number, kind="stable")

    @property
    def age(self) -> NDArray[np.int64]:
        return self.ref_year - self.birth_year
