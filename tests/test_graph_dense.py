"""Dense-subgraph ring detection: planted rings found; the incremental peeling equals a full static
peeling after every update (random streams, a 100k-edge stream, window expiry), with the compiled
repair and with the Python one it falls back to without numba."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditgraph.graph import dense_kernels
from creditgraph.graph.dense import (
    SCALE,
    DenseBlock,
    IncrementalPeeler,
    Weighting,
    decode,
    densest_suffix,
    edge_weight_units,
    object_code,
    peel,
    person_code,
)

ENGINES = [
    pytest.param(True, id="compiled", marks=pytest.mark.skipif(
        not dense_kernels.AVAILABLE, reason="numba is not installed")),
    pytest.param(False, id="python"),
]  # fmt: skip


def planted_ring(seed: int, people: int = 4000, objects: int = 4000, edges: int = 4000):
    """A sparse random background plus 20 people (ids 10_000+) who all share 3 devices."""
    rng = np.random.default_rng(seed)
    p = rng.integers(0, people, edges)
    o = rng.integers(0, objects, edges)
    ring_people = np.arange(10_000, 10_020)
    ring_objects = np.array([5_000, 5_001, 5_002])
    rp, ro = np.meshgrid(ring_people, ring_objects)
    return (
        np.concatenate([p, rp.ravel()]),
        np.concatenate([o, ro.ravel()]),
        set(ring_people.tolist()),
        set(ring_objects.tolist()),
    )


def assert_same(inc: IncrementalPeeler, **kwargs: object) -> None:
    persons, objects = inc.edges()
    static = peel(persons, objects, weighting=inc.weighting, c=inc.c, **kwargs)  # type: ignore[arg-type]
    got = inc.peeling()
    assert np.array_equal(got.order, static.order)
    assert np.array_equal(got.weights, static.weights)
    assert got.start == static.start
    assert got.block == static.block
    assert inc.block() == static.block


@pytest.mark.parametrize("weighting", ["fraudar", "average"])
def test_static_peeling_finds_a_planted_ring(weighting: Weighting) -> None:
    persons, objects, ring_people, ring_objects = planted_ring(7)
    block = peel(persons, objects, weighting=weighting).block
    assert set(block.persons) == ring_people
    assert set(block.objects) == ring_objects
    units = edge_weight_units(20, weighting)
    assert block.density == pytest.approx(60 * units / SCALE / 23)


@pytest.mark.parametrize("compiled", ENGINES)
def test_incremental_finds_the_ring_as_it_forms_in_a_stream(compiled: bool) -> None:
    persons, objects, ring_people, ring_objects = planted_ring(11)
    order = np.random.default_rng(3).permutation(len(persons))
    inc = IncrementalPeeler(compiled=compiled)
    for t, k in enumerate(order):
        inc.insert(int(persons[k]), int(objects[k]), float(t))
    block = inc.block()
    assert set(block.persons) == ring_people and set(block.objects) == ring_objects
    assert_same(inc)


def test_fraudar_weights_discount_popular_objects() -> None:
    # 40 people on the same two call-centre phones vs 6 people sharing 2 devices: plain average
    # degree picks the crowd, FRAUDAR's weights pick the ring.
    persons = [p for p in range(200, 240) for _ in range(2)] + [
        p for p in range(100, 106) for _ in range(2)
    ]
    objects = [0, 1] * 40 + [2, 3] * 6
    crowd = peel(persons, objects, weighting="average").block
    assert set(crowd.persons) == set(range(200, 240)) and set(crowd.objects) == {0, 1}
    fraudar = peel(persons, objects, weighting="fraudar").block
    assert set(fraudar.persons) == set(range(100, 106)) and set(fraudar.objects) == {2, 3}


def test_small_cases_and_ties_are_deterministic() -> None:
    empty = peel([], [])
    assert empty.block == DenseBlock((), (), 0.0) and len(empty.order) == 0
    one = peel([4], [9])
    # two nodes of equal weight: the person (even code) is peeled first, the pair is densest
    assert one.order.tolist() == [person_code(4), object_code(9)]
    assert one.block == DenseBlock((4,), (9,), edge_weight_units(1, "fraudar") / SCALE / 2)
    assert decode(object_code(9)) == ("object", 9) and decode(person_code(4)) == ("person", 4)
    # equal densities: the largest of the best suffixes wins
    assert densest_suffix(np.array([2, 2, 2], dtype=np.int64))[0] == 0
    with pytest.raises(ValueError):
        peel([-1], [0])
    with pytest.raises(ValueError):
        IncrementalPeeler(weighting="nope")  # type: ignore[arg-type]


@pytest.mark.parametrize("compiled", ENGINES)
def test_priors_count_in_the_density_and_match_incrementally(compiled: bool) -> None:
    priors = {1: 2.0, 2: 0.5}
    inc = IncrementalPeeler(person_priors=priors, object_priors={7: 1.0}, compiled=compiled)
    for t, (p, o) in enumerate([(1, 7), (2, 7), (3, 8), (1, 8), (4, 9)]):
        inc.insert(p, o, float(t))
        assert_same(inc, person_priors=priors, object_priors={7: 1.0})
    assert 1 in inc.block().persons


edge = st.tuples(st.integers(0, 12), st.integers(0, 5))


@pytest.mark.parametrize("compiled", ENGINES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weighting=st.sampled_from(["fraudar", "average"]),
    ops=st.lists(st.tuples(st.sampled_from(["add", "add", "add", "del"]), edge), max_size=80),
)
def test_incremental_equals_static_after_every_update(
    compiled: bool, weighting: Weighting, ops: list
) -> None:
    inc = IncrementalPeeler(weighting=weighting, compiled=compiled)
    for t, (kind, (p, o)) in enumerate(ops):
        if kind == "add":
            inc.insert(p, o, float(t))
        else:
            inc.delete(p, o)
        assert_same(inc)


@pytest.mark.parametrize("compiled", ENGINES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), weighting=st.sampled_from(["fraudar", "average"]))
def test_incremental_equals_static_on_random_streams_of_thousands(
    compiled: bool, seed: int, weighting: Weighting
) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(500, 2500))
    persons = rng.integers(0, m // 3 + 1, m)
    objects = np.minimum((m // 4 * rng.random(m) ** 2).astype(np.int64), m // 4)
    inc = IncrementalPeeler(weighting=weighting, window=float(m // 2), compiled=compiled)
    batch = int(rng.integers(1, 50))
    for start in range(0, m, batch):
        stop = min(m, start + batch)
        inc.update([(int(persons[k]), int(objects[k]), float(k)) for k in range(start, stop)])
        assert_same(inc)


@pytest.mark.parametrize("compiled", ENGINES)
def test_window_expiry_equals_recomputation_on_the_remaining_edges(compiled: bool) -> None:
    rng = np.random.default_rng(5)
    window = 40.0
    inc = IncrementalPeeler(window=window, compiled=compiled)
    seen: dict[tuple[int, int], float] = {}
    for t in range(400):
        p, o = int(rng.integers(0, 30)), int(rng.integers(0, 8))
        inc.insert(p, o, float(t))
        seen[(p, o)] = float(t)
        kept = sorted(k for k, at in seen.items() if at > t - window)
        assert sorted(zip(*(a.tolist() for a in inc.edges()), strict=True)) == kept
        static = peel([k[0] for k in kept], [k[1] for k in kept])
        assert inc.block() == static.block
        assert np.array_equal(inc.peeling().order, static.order)
    inc.expire(1_000.0)  # everything leaves the window: an empty graph again
    assert inc.n_edges == 0 and inc.n_nodes == 0 and inc.block() == DenseBlock((), (), 0.0)


@pytest.mark.parametrize("compiled", ENGINES)
def test_a_refreshed_edge_outlives_its_first_sighting(compiled: bool) -> None:
    inc = IncrementalPeeler(window=10.0, compiled=compiled)
    inc.insert(1, 1, 0.0)
    inc.insert(1, 1, 8.0)
    inc.expire(12.0)
    assert inc.n_edges == 1
    inc.expire(18.0)
    assert inc.n_edges == 0


@pytest.mark.parametrize("compiled", ENGINES)
def test_a_warm_start_from_history_equals_static_and_keeps_updating(compiled: bool) -> None:
    rng = np.random.default_rng(9)
    persons, objects = rng.integers(0, 300, 1000), rng.integers(0, 120, 1000)
    inc = IncrementalPeeler.from_edges(
        persons, objects, np.arange(1000.0), window=600.0, compiled=compiled
    )
    assert inc.n_edges == len(set(zip(persons[400:].tolist(), objects[400:].tolist(), strict=True)))
    assert_same(inc)
    for t in range(1000, 1100):
        inc.insert(int(rng.integers(0, 300)), int(rng.integers(0, 120)), float(t))
    assert_same(inc)


@pytest.mark.parametrize(
    "compiled",
    [ENGINES[0], pytest.param(False, id="python", marks=pytest.mark.slow)],  # ~100 s in Python
)
def test_incremental_equals_static_on_a_100k_edge_stream_at_sampled_points(
    compiled: bool,
) -> None:
    rng = np.random.default_rng(2023)
    m = 100_000
    persons = np.arange(m) // 2 + rng.integers(0, 3, m)  # applicants arrive over time
    objects = np.minimum((40_000 * rng.random(m) ** 2).astype(np.int64), 39_999)
    ring = [(200_000 + i, 90_000 + d) for i in range(20) for d in range(3)]
    stream = list(zip(persons.tolist(), objects.tolist(), strict=True))
    for k, e in enumerate(ring):  # the ring forms in the middle of the stream
        stream.insert(50_000 + 7 * k, e)
    inc = IncrementalPeeler(window=30_000.0, compiled=compiled)
    batch = 100  # detection after every 100 edges, compared with static peeling at sampled points
    checkpoints = {1_000, 25_000, 50_500, 75_000, len(stream) // batch * batch}
    for start in range(0, len(stream), batch):
        inc.update(
            (p, o, float(t))
            for t, (p, o) in enumerate(stream[start : start + batch], start=start + 1)
        )
        inc.block()
        if start + batch in checkpoints:
            assert_same(inc)
    block = inc.block()
    assert math.isfinite(block.density) and block.size > 0


@pytest.mark.skipif(not dense_kernels.AVAILABLE, reason="numba is not installed")
def test_the_compiled_and_the_python_repair_agree_step_for_step() -> None:
    """Same stream, with deletions, expiry and new and vanishing nodes, through both repairs:
    the same order and weights after every batch, and the same number of replayed steps."""
    rng = np.random.default_rng(17)
    fast = IncrementalPeeler(window=300.0, compiled=True)
    slow = IncrementalPeeler(window=300.0, compiled=False)
    for t in range(0, 1500, 25):
        batch = [
            (int(rng.integers(0, 400)), int(min(150 * rng.random() ** 2, 149)), float(t + k))
            for k in range(25)
        ]
        gone = [(int(rng.integers(0, 400)), int(rng.integers(0, 150))) for _ in range(3)]
        for inc in (fast, slow):
            inc.update(batch, deletions=gone)
        a, b = fast.peeling(), slow.peeling()
        assert np.array_equal(a.order, b.order) and np.array_equal(a.weights, b.weights)
        assert fast.block() == b.block and fast.n_edges == slow.n_edges
    assert fast.repaired_steps == slow.repaired_steps


def test_the_compiled_densest_suffix_equals_the_numpy_one() -> None:
    rng = np.random.default_rng(4)
    for n in (1, 2, 7, 1000):
        w = rng.integers(0, 5 * SCALE, n).astype(np.int64)
        w[rng.random(n) < 0.3] = SCALE  # ties between suffixes of equal density
        start, best = dense_kernels.densest_suffix_kernel(w)
        suffix = np.cumsum(w[::-1].astype(np.float64))[::-1] / np.arange(n, 0, -1)
        assert start == int(np.argmax(suffix)) and best == float(suffix.max())


def test_compiled_needs_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense_kernels, "AVAILABLE", False)
    with pytest.raises(ValueError, match="numba"):
        IncrementalPeeler(compiled=True)
    assert IncrementalPeeler().compiled is False  # the default falls back to the Python repair


@pytest.mark.skipif(not dense_kernels.AVAILABLE, reason="numba is not installed")
@pytest.mark.parametrize("weighting", ["fraudar", "average"])
def test_the_compiled_static_peeling_equals_the_python_one(weighting: Weighting) -> None:
    persons, objects, _, _ = planted_ring(21)
    priors = {int(p): 0.25 for p in persons[:50]}
    for kwargs in ({}, {"person_priors": priors, "object_priors": {int(objects[0]): 3.0}}):
        fast = peel(persons, objects, weighting=weighting, compiled=True, **kwargs)  # type: ignore[arg-type]
        slow = peel(persons, objects, weighting=weighting, compiled=False, **kwargs)  # type: ignore[arg-type]
        assert np.array_equal(fast.order, slow.order)
        assert np.array_equal(fast.weights, slow.weights)
        assert fast.start == slow.start and fast.block == slow.block
