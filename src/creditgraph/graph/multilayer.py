r"""Multilayer personalised PageRank: default exposure across a social and a device layer.

Single layer (Óskarsdóttir et al. 2019). With ``A`` the weighted adjacency, ``M`` its
column-normalised transition (``M_ij = A_ji / Σ_k A_jk``: the walker at ``j`` moves to ``i``) and
``z`` the restart vector on known defaulters (normalised to 1), the influence score is

    r = α M r + (1 − α) z                                                       (1)

M. Óskarsdóttir, C. Bravo, C. Sarraute, J. Vanthienen, B. Baesens, "The value of big data for
credit scoring: Enhancing financial inclusion using mobile phone data and social network
analytics", Applied Soft Computing 74 (2019) 26-39.

Multilayer (Bravo & Óskarsdóttir 2020; Óskarsdóttir & Bravo 2021). Layers ``ℓ = 1..L`` share
``n_c`` common nodes (the persons; here they are the first ``n_c`` nodes of every layer) and may
hold layer-specific nodes (here: devices). The supra-adjacency stacks the layer adjacencies
``A^ℓ`` on the block diagonal and couples each person's copies in every pair of layers:

    𝒜 = ⎡ A¹      ω C¹² ⎤      C^{ℓm}_{ij} = 1 iff i = j < n_c   (inter-layer coupling,
        ⎣ ω C²¹   A²    ⎦                                          weight ω, "stickiness")

``M`` is the column-normalised ``𝒜``. The restart is an N×N *influence matrix* ``P``: for each
defaulter ``k`` (weight ``w_k``) with copies ``c_ℓ(k)``, the scenarios are

    intra:     P[c_ℓ(k), c_ℓ(k)] = w_k              restart to the copy in the same layer
    inter:     P[c_ℓ(k), c_m(k)] = w_k  (ℓ ≠ m)     restart to the copy in another layer
    combined:  both

and the multilayer personalised PageRank is the Perron vector of

    G = α M + (1 − α) P / ‖P‖₁ ,      G r = λ r ,   r ≥ 0 ,   Σ r = 1 ,          (2)

where ``‖P‖₁`` is the sum of all entries of ``P``. ``G`` is not column-stochastic: a walker that
would teleport from a node that is not a defaulter copy is lost, so restarts happen only at
defaulters, and ``λ < 1``. A person's score is the sum over its copies, ``s_k = Σ_ℓ r_{c_ℓ(k)}``;
a device's score is its entry of ``r``. A column of ``𝒜`` with no links (a dangling supra-node)
is left at zero, as in the authors' reference implementation (the ``mulp`` package).

C. Bravo, M. Óskarsdóttir, "Evolution of credit risk using a personalized PageRank algorithm for
multilayer networks", KDD Workshop on Machine Learning in Finance (2020), arXiv:2005.12418.
M. Óskarsdóttir, C. Bravo, "Multilayer network analysis for improved credit risk prediction",
Omega 105 (2021) 102520.

``method="restart"`` instead solves (1) on the supra-graph with ``z`` uniform over the defaulter
copies (all three scenarios give the same ``z``): the walker restarts from anywhere, the system is
linear, and power iteration converges at rate α. It is (2) with ``P = z 1ᵀ``; dangling supra-nodes
then restart along ``z``, as in :func:`creditgraph.graph.pagerank.pagerank`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from creditgraph.graph.csr import check_nonnegative
from creditgraph.graph.pagerank import (
    ConvergenceError,
    ConvergenceWarning,
    OnNoConvergence,
    pagerank,
    transition,
)

Influence = Literal["intra", "inter", "combined"]
Method = Literal["influence", "restart"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Multilayer:
    """A supra-adjacency (row = source) and where each layer's block starts."""

    supra: Any  # scipy.sparse.csr_array (N, N)
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    n_common: int

    @property
    def n_supra(self) -> int:
        return int(self.supra.shape[0])

    def copies(self, persons: Any) -> npt.NDArray[np.int64]:
        """Supra positions of the given persons' copies: shape ``(len(persons), L)``."""
        k = np.asarray(persons, dtype=np.int64).reshape(-1)
        if k.size and (k.min() < 0 or k.max() >= self.n_common):
            raise IndexError(f"person positions must be in [0, {self.n_common})")
        return k[:, None] + np.asarray(self.offsets, dtype=np.int64)[None, :]


def social_device_layers(social: Any, person_device: Any) -> list[Any]:
    """The two layers of the credit graph: person-person ties, and the person-device bipartite."""
    s = sp.csr_array(social, dtype=np.float64)
    b = sp.csr_array(person_device, dtype=np.float64)
    if s.shape[0] != s.shape[1] or b.shape[0] != s.shape[0]:
        raise ValueError(f"social {s.shape} and person_device {b.shape} do not share persons")
    n_p, n_d = b.shape
    device_layer = sp.block_array([[sp.csr_array((n_p, n_p)), b], [b.T, sp.csr_array((n_d, n_d))]])
    return [s, sp.csr_array(device_layer)]


def supra_adjacency(layers: Sequence[Any], n_common: int, coupling: float = 1.0) -> Multilayer:
    """Stack the layers and couple each common node's copies in every pair of layers."""
    if not layers:
        raise ValueError("at least one layer is needed")
    if coupling < 0 or not np.isfinite(coupling):
        raise ValueError("coupling must be finite and non-negative")
    mats = [sp.csr_array(layer, dtype=np.float64) for layer in layers]
    for i, mat in enumerate(mats):
        if mat.shape[0] != mat.shape[1] or mat.shape[0] < n_common:
            raise ValueError(f"layer {i} has shape {mat.shape}; needs square with >= {n_common}")
        check_nonnegative(mat, f"layer {i}")
    sizes = tuple(int(m.shape[0]) for m in mats)
    offsets = tuple(int(o) for o in np.cumsum((0, *sizes[:-1])))
    n = sum(sizes)
    blocks = [sp.block_diag(mats, format="csr")]
    if coupling > 0 and len(mats) > 1 and n_common > 0:
        k = np.arange(n_common)
        rows, cols = [], []
        for a, oa in enumerate(offsets):
            for b, ob in enumerate(offsets):
                if a != b:
                    rows.append(oa + k)
                    cols.append(ob + k)
        data = np.full(sum(r.size for r in rows), coupling)
        rc = (np.concatenate(rows), np.concatenate(cols))
        blocks.append(sp.csr_array((data, rc), shape=(n, n)))
    supra = sp.csr_array(sum(blocks[1:], blocks[0]))
    supra.sort_indices()
    return Multilayer(supra, offsets, sizes, n_common)


def influence_matrix(
    ml: Multilayer, seeds: Any, seed_weights: Any = None, scenario: Influence = "combined"
) -> Any:
    """The influence (personal) matrix ``P`` of equation (2), as a CSR array."""
    if scenario not in ("intra", "inter", "combined"):
        raise ValueError(f"scenario must be intra, inter or combined, got {scenario!r}")
    c = ml.copies(seeds)
    w = np.ones(c.shape[0]) if seed_weights is None else np.asarray(seed_weights, np.float64)
    if w.shape != (c.shape[0],) or (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("seed_weights must be finite, non-negative, one per seed")
    n_layers = c.shape[1]
    rows, cols, data = [], [], []
    for a in range(n_layers):
        for b in range(n_layers):
            if (a == b and scenario != "inter") or (a != b and scenario != "intra"):
                rows.append(c[:, a])
                cols.append(c[:, b])
                data.append(w)
    n = ml.n_supra
    if not rows:
        return sp.csr_array((n, n))
    return sp.csr_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


@dataclass(frozen=True, eq=False)
class MultilayerResult:
    """Supra-node scores, per-person sums over layers, and the solver's account."""

    supra_scores: FloatArray
    person_scores: FloatArray
    eigenvalue: float  # λ of equation (2); 1.0 for method="restart"
    iterations: int
    residual: float
    converged: bool

    def layer_scores(self, ml: Multilayer, layer: int) -> FloatArray:
        """The block of ``supra_scores`` that belongs to one layer (persons first)."""
        start = ml.offsets[layer]
        return self.supra_scores[start : start + ml.sizes[layer]]


def multilayer_pagerank(
    ml: Multilayer,
    seeds: Any,
    *,
    seed_weights: Any = None,
    alpha: float = 0.85,
    scenario: Influence = "combined",
    method: Method = "influence",
    tol: float = 1e-12,
    max_iter: int = 10_000,
    on_no_convergence: OnNoConvergence = "raise",
) -> MultilayerResult:
    """Multilayer personalised PageRank seeded on defaulting persons (positions < n_common)."""
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    p = influence_matrix(ml, seeds, seed_weights, scenario)
    total = float(p.sum())
    if total <= 0:
        raise ValueError("no seed with positive weight: the influence matrix is empty")
    op = transition(ml.supra)
    if method == "restart":
        z = np.asarray(p.sum(axis=1)).reshape(-1)
        res = pagerank(
            op,
            alpha=alpha,
            personalization=z,
            tol=tol,
            max_iter=max_iter,
            on_no_convergence=on_no_convergence,
        )
        r = np.asarray(res.scores, dtype=np.float64)
        return _result(ml, r, 1.0, res.iterations, res.residual, res.converged)
    if method != "influence":
        raise ValueError(f"method must be 'influence' or 'restart', got {method!r}")

    # Power iteration on G = α M + (1-α) P/‖P‖₁ (M = op.matrix_t; dangling columns stay zero),
    # renormalised each step; λ is the mass of G r for a unit-mass r >= 0.
    g = sp.csr_array(alpha * op.matrix_t + ((1 - alpha) / total) * p)
    r = np.full(ml.n_supra, 1.0 / ml.n_supra)
    lam, residual, it = 0.0, np.inf, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        nxt = g @ r
        lam = float(nxt.sum())
        if lam <= 0:
            raise ValueError("G r vanished: no seed is reachable; the supra-graph is degenerate")
        nxt /= lam
        residual = float(np.abs(nxt - r).sum())
        r = nxt
        if residual < tol:
            break
    converged = residual < tol
    if not converged:
        err = ConvergenceError(it, residual, tol, np.dtype(np.float64))
        if on_no_convergence == "raise":
            raise err
        warnings.warn(str(err), ConvergenceWarning, stacklevel=2)
    return _result(ml, r, lam, it, residual, converged)


def _result(
    ml: Multilayer, r: FloatArray, lam: float, it: int, residual: float, converged: bool
) -> MultilayerResult:
    persons = r[ml.copies(np.arange(ml.n_common))].sum(axis=1)
    return MultilayerResult(r, persons, lam, it, residual, converged)
