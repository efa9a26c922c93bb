"""Multilayer personalised PageRank against a dense, loop-by-loop evaluation of the equations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from creditgraph.graph.multilayer import (
    Influence,
    influence_matrix,
    multilayer_pagerank,
    social_device_layers,
    supra_adjacency,
)
from creditgraph.graph.pagerank import pagerank

# A small connected credit graph: 6 persons with social ties, 3 devices shared between them.
PERSONS = 6
DEVICES = 3
SOCIAL = [(0, 1, 1.0), (1, 2, 2.0), (2, 0, 1.0), (2, 3, 1.0), (3, 4, 3.0), (4, 5, 1.0)]
OWNS = [(0, 0), (1, 0), (3, 1), (4, 1), (5, 2), (2, 2)]
DEFAULTERS = [1, 4]
WEIGHTS = [1.0, 2.0]
ALPHA = 0.85
OMEGA = 0.7


def sparse_layers() -> list[object]:
    s = np.zeros((PERSONS, PERSONS))
    for u, v, w in SOCIAL:
        s[u, v] = s[v, u] = w
    b = np.zeros((PERSONS, DEVICES))
    for p, d in OWNS:
        b[p, d] = 1.0
    return social_device_layers(sp.csr_array(s), sp.csr_array(b))


def dense_supra() -> np.ndarray:
    """𝒜 with supra-nodes [persons in social | persons in device layer | devices]."""
    n = 2 * PERSONS + DEVICES
    a = np.zeros((n, n))
    for u, v, w in SOCIAL:
        a[u, v] = a[v, u] = w
    for p, d in OWNS:
        a[PERSONS + p, 2 * PERSONS + d] = a[2 * PERSONS + d, PERSONS + p] = 1.0
    for k in range(PERSONS):
        a[k, PERSONS + k] = a[PERSONS + k, k] = OMEGA
    return a


def dense_column_stochastic(a: np.ndarray) -> np.ndarray:
    """M_ij = weight of the link j -> i over j's total: the walker at j moves to i."""
    m = np.zeros_like(a)
    for j in range(a.shape[0]):
        total = a[j, :].sum()
        for i in range(a.shape[0]):
            m[i, j] = a[j, i] / total if total else 0.0
    return m


def dense_influence(scenario: str) -> np.ndarray:
    n = 2 * PERSONS + DEVICES
    p = np.zeros((n, n))
    for k, w in zip(DEFAULTERS, WEIGHTS, strict=True):
        copies = [k, PERSONS + k]
        for i in copies:
            for j in copies:
                same = i == j
                if (same and scenario in ("intra", "combined")) or (
                    not same and scenario in ("inter", "combined")
                ):
                    p[i, j] = w
    return p


@pytest.mark.parametrize("scenario", ["intra", "inter", "combined"])
def test_influence_method_matches_dense_eigenvector(scenario: Influence) -> None:
    ml = supra_adjacency(sparse_layers(), PERSONS, coupling=OMEGA)
    assert np.array_equal(ml.supra.toarray(), dense_supra())
    p_dense = dense_influence(scenario)
    assert np.array_equal(
        influence_matrix(ml, DEFAULTERS, WEIGHTS, scenario).toarray(),
        p_dense,
    )

    g = ALPHA * dense_column_stochastic(dense_supra()) + (1 - ALPHA) * p_dense / p_dense.sum()
    values, vectors = np.linalg.eig(g)
    top = int(np.argmax(values.real))
    expected = np.abs(vectors[:, top].real)
    expected /= expected.sum()

    result = multilayer_pagerank(
        ml,
        DEFAULTERS,
        seed_weights=WEIGHTS,
        alpha=ALPHA,
        scenario=scenario,
        tol=1e-15,
    )
    assert result.converged
    assert np.max(np.abs(result.supra_scores - expected)) < 1e-10
    assert abs(result.eigenvalue - values.real[top]) < 1e-10
    persons = expected[:PERSONS] + expected[PERSONS : 2 * PERSONS]
    assert np.max(np.abs(result.person_scores - persons)) < 1e-10
    assert np.allclose(result.layer_scores(ml, 1)[PERSONS:], expected[2 * PERSONS :], atol=1e-10)


def test_restart_method_matches_dense_linear_solve() -> None:
    ml = supra_adjacency(sparse_layers(), PERSONS, coupling=OMEGA)
    m = dense_column_stochastic(dense_supra())
    z = np.zeros(ml.n_supra)
    for k, w in zip(DEFAULTERS, WEIGHTS, strict=True):
        z[[k, PERSONS + k]] = w
    z /= z.sum()
    # equation (1): r = α M r + (1 − α) z  <=>  (I − α M) r = (1 − α) z
    expected = np.linalg.solve(np.eye(ml.n_supra) - ALPHA * m, (1 - ALPHA) * z)
    result = multilayer_pagerank(
        ml, DEFAULTERS, seed_weights=WEIGHTS, alpha=ALPHA, method="restart", tol=1e-15
    )
    assert np.max(np.abs(result.supra_scores - expected)) < 1e-10
    assert abs(result.supra_scores.sum() - 1) < 1e-12


def test_one_layer_restart_is_personalised_pagerank() -> None:
    layer = sparse_layers()[0]
    ml = supra_adjacency([layer], PERSONS)
    ours = multilayer_pagerank(ml, [2], method="restart", tol=1e-14).person_scores
    ref = pagerank(layer, personalization=np.eye(PERSONS)[2], tol=1e-14).scores
    assert np.max(np.abs(ours - ref)) < 1e-12


def test_coupling_zero_isolates_the_layers() -> None:
    ml = supra_adjacency(sparse_layers(), PERSONS, coupling=0.0)
    r = multilayer_pagerank(ml, [0], method="restart", tol=1e-14)
    # seeds restart in both layers but no mass crosses between them
    social_mass = r.layer_scores(ml, 0).sum()
    device_mass = r.layer_scores(ml, 1).sum()
    assert abs(social_mass - 0.5) < 1e-12 and abs(device_mass - 0.5) < 1e-12


def test_bad_input_rejected() -> None:
    ml = supra_adjacency(sparse_layers(), PERSONS)
    with pytest.raises(IndexError):
        multilayer_pagerank(ml, [PERSONS])  # a device position is not a person
    with pytest.raises(ValueError, match="positive weight"):
        multilayer_pagerank(ml, [1], seed_weights=[0.0])
    with pytest.raises(ValueError, match="square"):
        supra_adjacency([sp.csr_array((3, 4))], 3)
    with pytest.raises(ValueError, match="negative"):
        supra_adjacency([sp.csr_array(-np.eye(3))], 3)
