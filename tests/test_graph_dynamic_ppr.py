"""Dynamic personalised PageRank: the maintained exposure equals a fresh exact one.

Every reference vector is computed independently of the maintained state: the final ties are
kept in a plain dict, built into a CSR graph the way the feature build does it and solved by
power iteration at a tight tolerance. Distances are L1 and max-abs on the probability vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditgraph.features import graph_features
from creditgraph.graph.csr import build_graph
from creditgraph.graph.dynamic_ppr import ALPHA, REFRESH_TOL, DynamicPPR, TieStore
from creditgraph.graph.pagerank import personalized_pagerank

Ties = dict[tuple[int, int], float]


def reference(n: int, ties: Ties, seeds: Any) -> np.ndarray:
    """Exact personalised PageRank of the final ties, built as the feature build builds them."""
    keys = list(ties)
    a = np.array([k[0] for k in keys], dtype=np.int64)
    b = np.array([k[1] for k in keys], dtype=np.int64)
    w = np.array([ties[k] for k in keys], dtype=np.float64)
    graph = build_graph(
        a, b, w, directed=False, nodes=np.arange(n, dtype=np.int64), duplicates="max"
    )
    return np.asarray(personalized_pagerank(graph, seeds, alpha=ALPHA, tol=1e-13).scores)


def apply(state: DynamicPPR, ties: Ties, u: int, v: int, w: float) -> None:
    state.set_tie(u, v, w)
    if u == v:
        return
    key = (min(u, v), max(u, v))
    if w > 0:
        ties[key] = w
    else:
        ties.pop(key, None)


def random_start(rng: np.random.Generator, n: int, m: int) -> tuple[Ties, np.ndarray]:
    ties: Ties = {}
    for a, b, w in zip(
        rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m) + 0.1, strict=True
    ):
        if a != b:
            key = (int(min(a, b)), int(max(a, b)))
            ties[key] = max(ties.get(key, 0.0), float(w))  # duplicates merge by max
    return ties, rng.choice(n, max(1, n // 20), replace=False)


def start_state(n: int, ties: Ties, seeds: Any, eps: float) -> DynamicPPR:
    keys = list(ties)
    return DynamicPPR.from_edges(
        n,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [ties[k] for k in keys],
        seeds,
        eps=eps,
    )


def test_semantics_are_the_feature_builds() -> None:
    assert ALPHA == graph_features.ALPHA
    assert REFRESH_TOL == graph_features.PPR_TOL


def test_initial_state_is_the_exact_vector_and_duplicates_merge_by_max() -> None:
    state = DynamicPPR.from_edges(
        5, [0, 1, 1, 3, 2], [1, 0, 2, 3, 0], [1.0, 3.0, 2.0, 5.0, 0.5], [0]
    )
    ties = {(0, 1): 3.0, (1, 2): 2.0, (0, 2): 0.5}  # the self-loop is dropped
    expected = reference(5, ties, [0])
    assert np.abs(state.scores() - expected).max() < 1e-7
    assert state.weight(1, 0) == 3.0
    assert state.weight(3, 3) == 0.0
    # isolated node 4 and the dropped self-loop's node 3 get nothing
    assert state.scores()[3] == 0.0 and state.scores()[4] == 0.0


def test_stream_of_insertions_and_deletions_matches_a_fresh_exact_vector() -> None:
    rng = np.random.default_rng(3)
    n = 120
    ties, seeds = random_start(rng, n, 300)
    state = start_state(n, ties, seeds, eps=3e-9)
    for _ in range(150):
        u, v = (int(x) for x in rng.integers(0, n + 6, 2))  # some ties bring new people
        if rng.random() < 0.4 and ties:
            u, v = list(ties)[int(rng.integers(0, len(ties)))]
            apply(state, ties, u, v, 0.0)
        else:
            apply(state, ties, u, v, float(rng.random() + 0.1))
    expected = reference(state.n, ties, seeds)
    gap = np.abs(state.scores() - expected)
    assert gap.sum() < 1e-6
    assert gap.sum() <= state.error_bound + 1e-10  # the certificate holds
    assert state.ties.n_ties == len(ties)


def test_a_seed_losing_and_regaining_its_only_tie_keeps_the_invariant() -> None:
    ties: Ties = {(0, 1): 1.0, (1, 2): 2.0, (2, 3): 1.0}
    state = start_state(4, ties, [0], eps=1e-12)
    apply(state, ties, 0, 1, 0.0)  # seed 0 is now dangling: all mass stays on it
    assert np.abs(state.scores() - reference(4, ties, [0])).max() < 1e-9
    assert state.scores()[0] == pytest.approx(1.0, abs=1e-9)
    apply(state, ties, 0, 3, 0.7)
    assert np.abs(state.scores() - reference(4, ties, [0])).max() < 1e-9


def test_new_defaulters_are_folded_in_by_one_exact_refresh() -> None:
    rng = np.random.default_rng(5)
    n = 200
    ties, seeds = random_start(rng, n, 600)
    state = start_state(n, ties, seeds, eps=1e-8)
    for _ in range(20):
        u, v = (int(x) for x in rng.integers(0, n, 2))
        apply(state, ties, u, v, float(rng.random() + 0.1))
    state.add_defaulters([7, 11, 13])
    all_seeds = np.union1d(seeds, [7, 11, 13])
    assert np.array_equal(state.seeds, all_seeds)
    assert np.abs(state.scores() - reference(n, ties, all_seeds)).sum() < 1e-6
    apply(state, ties, 7, 150, 2.0)  # pushes go on from the refreshed state
    gap = np.abs(state.scores() - reference(n, ties, all_seeds))
    assert gap.max() < 1e-6 and gap.sum() <= state.error_bound + 1e-10


def test_without_defaulters_exposure_is_zero_everywhere() -> None:
    state = DynamicPPR.from_edges(4, [0, 1], [1, 2], [1.0, 1.0], [])
    state.set_tie(2, 3, 1.0)
    assert not state.scores().any() and state.error_bound == 0.0


def test_bad_weights_are_rejected() -> None:
    state = DynamicPPR(3)
    with pytest.raises(ValueError):
        state.set_tie(0, 1, -1.0)
    with pytest.raises(ValueError):
        state.set_tie(0, 1, float("nan"))


def test_tie_store_relocates_and_compacts_without_losing_ties() -> None:
    rng = np.random.default_rng(9)
    store = TieStore(30)
    model: Ties = {}
    for _ in range(3000):
        u, v = (int(x) for x in rng.integers(0, 30, 2))
        if u == v:
            continue
        w = 0.0 if rng.random() < 0.35 else float(rng.integers(1, 5))
        store.set_half(u, v, w)
        store.set_half(v, u, w)
        key = (min(u, v), max(u, v))
        if w:
            model[key] = w
        else:
            model.pop(key, None)
    dense = store.adjacency().toarray()
    expected = np.zeros((30, 30))
    for (a, b), w in model.items():
        expected[a, b] = expected[b, a] = w
    assert np.array_equal(dense, expected)
    assert np.allclose(store.strength[:30], expected.sum(axis=1), atol=1e-9)
    assert store.used <= 2 * store.live + 2 * int(store.cap.max())  # abandoned blocks reclaimed


operations = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 11), st.sampled_from([0.0, 0.0, 0.3, 1.0, 2.5])),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.lists(
        st.tuples(st.integers(0, 8), st.integers(0, 8), st.floats(0.1, 3.0)), max_size=20
    ),
    seeds=st.sets(st.integers(0, 8), min_size=1, max_size=3),
    ops=operations,
)
def test_property_small_random_graphs_stay_within_1e6(
    start: list[tuple[int, int, float]], seeds: set[int], ops: list[tuple[int, int, float]]
) -> None:
    ties: Ties = {}
    for a, b, w in start:
        if a != b:
            key = (min(a, b), max(a, b))
            ties[key] = max(ties.get(key, 0.0), w)
    state = start_state(9, ties, sorted(seeds), eps=1e-10)
    for u, v, w in ops:
        apply(state, ties, u, v, w)
    expected = reference(state.n, ties, sorted(seeds))
    gap = np.abs(state.scores() - expected)
    assert gap.sum() < 1e-6
    assert gap.sum() <= state.error_bound + 1e-10


def test_medium_graph_sampled_check() -> None:
    """~50k ties, a push threshold that leaves a visible residual: top-500 and a node sample."""
    rng = np.random.default_rng(11)
    n, m = 10_000, 50_000
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.random(m) + 0.1
    seeds = rng.choice(n, 200, replace=False)
    state = DynamicPPR.from_edges(n, a, b, w, seeds, eps=1e-8)
    ties: Ties = {}
    for x, y, z in zip(a.tolist(), b.tolist(), w.tolist(), strict=True):
        if x != y:
            key = (min(x, y), max(x, y))
            ties[key] = max(ties.get(key, 0.0), z)
    keys = list(ties)
    for i in range(900):
        if i % 3 == 0:
            u, v = keys[int(rng.integers(0, len(keys)))]
            apply(state, ties, u, v, 0.0)
        else:
            u, v = (int(x) for x in rng.integers(0, n, 2))
            apply(state, ties, u, v, float(rng.random() + 0.1))
    expected = reference(n, ties, seeds)
    got = state.scores()
    sample = rng.choice(n, 1000, replace=False)
    assert np.abs(got[sample] - expected[sample]).max() < 1e-6
    assert np.abs(got - expected).sum() <= state.error_bound + 1e-10
    top = 500
    overlap = np.intersect1d(np.argsort(-got)[:top], np.argsort(-expected)[:top]).size / top
    assert overlap >= 0.99
