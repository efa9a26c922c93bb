"""The whole simulated world in memory: people, graph, risk, and when each tie was first observed.

Only per-person and per-tie arrays live here (a few hundred MB for a million people); table rows are
generated from them chunk by chunk while writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from creditgraph.simulate import columns as col
from creditgraph.simulate.book import LoanBook, draw_book
from creditgraph.simulate.clock import Timeline
from creditgraph.simulate.config import SimulationConfig
from creditgraph.simulate.distress import Distress, plant_distress
from creditgraph.simulate.fraud import RingPlan, plan_rings, ring_edges
from creditgraph.simulate.graph import SocialGraph, build_graph
from creditgraph.simulate.population import draw_population
from creditgraph.simulate.population_model import Population
from creditgraph.simulate.risk import Risk, draw_risk
from creditgraph.simulate.rng import stream

Progress = Callable[[str, int, int], None]
Chunk = tuple[pa.Table, int, int]  # a table chunk, units done so far, units in all


def id_width(n: int) -> int:
    return max(7, len(str(n)))


@dataclass
class World:
    config: SimulationConfig
    timeline: Timeline
    pop: Population
    rings: RingPlan
    graph: SocialGraph
    risk: Risk
    book: LoanBook
    person_ids: pa.Array  # internal index -> external id string
    # when each direction of a tie was first observed by the wechat connector
    created_uv: NDArray[np.int64]
    created_vu: NDArray[np.int64]
    # activity collapse before each default and income shocks (``distress.py``)
    distress: Distress


def _observed(
    formed: NDArray[np.int64], data_start: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """A tie older than the person's consent is first seen when the connector first reads the
    contact list, shortly after the consent; a newer one when it forms."""
    first_read = data_start + rng.integers(0, 3600, len(formed))
    return np.asarray(np.maximum(formed, first_read), dtype=np.int64)


def build_world(config: SimulationConfig, progress: Progress | None = None) -> World:
    """Draw people, rings, the graph and risk; deterministic in ``config`` (seed included)."""
    note = progress or (lambda stage, done, total: None)
    timeline = Timeline.from_config(config)
    note("world", 0, 4)
    plan = plan_rings(config, timeline, stream(config.seed, "rings"))
    pop = draw_population(config, timeline, plan, stream(config.seed, "population"))
    note("world", 1, 4)
    edges = ring_edges(plan, pop, stream(config.seed, "ring-edges"))
    graph = build_graph(pop, plan, edges, timeline, stream(config.seed, "graph"))
    note("world", 2, 4)
    risk = draw_risk(pop, graph, config.default_rate, stream(config.seed, "risk"))
    book = draw_book(pop, risk, stream(config.seed, "book"))
    distress = plant_distress(pop.n, book, stream(config.seed, "distress"))
    note("world", 3, 4)
    rng = stream(config.seed, "observed")
    created_uv = _observed(graph.formed_at, pop.data_start[graph.u], rng)
    created_vu = _observed(graph.formed_at, pop.data_start[graph.v], rng)
    person_ids = col.prefixed_ids("P", pop.id_number, id_width(pop.n))
    note("world", 4, 4)
    return World(
        config=config,
        timeline=timeline,
        pop=pop,
        rings=plan,
        graph=graph,
        risk=risk,
        book=book,
        person_ids=person_ids,
        created_uv=created_uv,
        created_vu=created_vu,
        distress=distress,
    )
