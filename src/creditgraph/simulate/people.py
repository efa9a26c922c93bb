"""The persons table and the ground truth that stays out of the contract tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from creditgraph.contracts.schema import GENDERS, PERSONS, REGION_TIERS, SEGMENTS
from creditgraph.simulate import columns as col
from creditgraph.simulate import vocab
from creditgraph.simulate.population import GIVEN_NAMES, OCCUPATION_LIST
from creditgraph.simulate.world import Chunk, World

_SEGMENTS = pa.array(SEGMENTS, type=pa.string())
_REGIONS = pa.array(REGION_TIERS, type=pa.string())
_GENDERS = pa.array(GENDERS, type=pa.string())
_OCCUPATIONS = pa.array(OCCUPATION_LIST, type=pa.string())
_SURNAMES = pa.array(vocab.SURNAMES, type=pa.string())
_GIVEN = pa.array(GIVEN_NAMES, type=pa.string())


def _persons_table(world: World, people: NDArray[np.int64]) -> pa.Table:
    pop = world.pop
    named = pop.has_name[people]
    name = pc.binary_join_element_wise(
        col.labels(_SURNAMES, pop.surname[people], named),
        col.labels(_GIVEN, pop.given[people], named),
        " ",
    )
    phone = pop.phone[people]
    phone_text = pa.array(np.maximum(phone, 0), type=pa.int64(), mask=phone < 0).cast(pa.string())
    gender = pop.gender[people]
    return col.table(
        PERSONS,
        {
            "person_id": world.person_ids.take(pa.array(people)),
            "segment": col.labels(_SEGMENTS, pop.segment[people]),
            "region_tier": col.labels(_REGIONS, pop.region[people]),
            "birth_year": col.ints(pop.birth_year[people]),
            "gender": col.labels(_GENDERS, np.maximum(gender, 0), gender >= 0),
            "occupation": col.labels(_OCCUPATIONS, pop.occupation[people]),
            "declared_monthly_income": col.money(pop.income_fen[people]),
            "registered_at": col.timestamps(pop.registered_at[people]),
            "name": name,
            "phone": phone_text,
        },
    )


def persons(world: World, chunk_people: int) -> Iterator[Chunk]:
    """People in id order."""
    order = world.pop.by_id
    for a in range(0, len(order), chunk_people):
        people = order[a : a + chunk_people]
        yield _persons_table(world, people), a + len(people), len(order)


TRUTH_SCHEMA = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("community_id", pa.int64(), nullable=False),
        pa.field("fraud_ring_id", pa.int64()),
        pa.field("latent_score", pa.float64(), nullable=False),
        pa.field("pd_true", pa.float64(), nullable=False),
        pa.field("defaulted", pa.bool_(), nullable=False),
        pa.field("has_loan", pa.bool_(), nullable=False),
        pa.field("default_at", col.TIMESTAMP),
    ]
)


def write_truth(world: World, path: Path) -> int:
    """What the generator knows and a lender never sees, keyed by the raw person id.

    ``latent_score`` is standardised creditworthiness (higher is better); ``defaulted`` is the
    realised outcome for people with a historical loan and the counterfactual for the others;
    ``default_at`` is when the loan reached 90 days past due (its ``observed_at``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pop, risk = world.pop, world.risk
    order = pop.by_id
    ring = pop.ring[order]
    default_at = world.book.default_at_by_person(pop.n)[order]
    table = pa.Table.from_arrays(
        [
            world.person_ids.take(pa.array(order)),
            pa.array(world.graph.community[order], type=pa.int64()),
            pa.array(np.maximum(ring, 0), type=pa.int64(), mask=ring < 0),
            pa.array(risk.latent[order], type=pa.float64()),
            pa.array(risk.pd[order], type=pa.float64()),
            pa.array(risk.defaulted[order], type=pa.bool_()),
            pa.array(pop.borrower[order], type=pa.bool_()),
            col.timestamps(np.maximum(default_at, 0), default_at >= 0),
        ],
        schema=TRUTH_SCHEMA,
    )
    pq.write_table(table, path, compression="zstd")
    return int(table.num_rows)
