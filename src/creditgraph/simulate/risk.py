"""Latent creditworthiness and who defaults.

Creditworthiness mixes what a lender can see (income, segment, city tier, age) with a shock shared by
the whole community (a factory closes, a harvest fails) and an idiosyncratic part smoothed over
each person's contacts, so that a defaulter's contacts default about twice as often as everyone
else. Defaults are then drawn with some luck on top, and the threshold is set so that the share of
historical loans that default matches the configured rate exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from creditgraph.simulate import vocab
from creditgraph.simulate.fraud import DEFAULT_PROBABILITY
from creditgraph.simulate.graph import SocialGraph
from creditgraph.simulate.population_model import Population

INCOME_WEIGHT = 0.2
COMMUNITY_SD = 0.5
HIT_COMMUNITY_SHARE = 0.04  # communities struck by a local shock
HIT_SIZE = -1.0
SMOOTHING = 2.0  # weight of the contacts' mean idiosyncratic draw
IDIOSYNCRATIC_SD = 0.9
LUCK_SD = 1.0  # noise between creditworthiness and the realised outcome
CONTAGION = 0.5  # how far each defaulted contact (times tie strength) pulls the outcome down
FRAUD_LATENT = -1.5


@dataclass
class Risk:
    """Per person: standardised creditworthiness (higher is better), true default probability and
    realised default (a counterfactual for people without a loan); when it happens is the loan
    book's business (``book.py``)."""

    latent: NDArray[np.float64]
    pd: NDArray[np.float64]
    defaulted: NDArray[np.bool_]
    community_shock: NDArray[np.float64]  # per community


def _neighbour_mean(graph: SocialGraph, x: NDArray[np.float64]) -> NDArray[np.float64]:
    deg = graph.degree()
    total = np.bincount(graph.u, weights=x[graph.v], minlength=graph.n) + np.bincount(
        graph.v, weights=x[graph.u], minlength=graph.n
    )
    return np.where(deg > 0, total / np.maximum(deg, 1), 0.0)


def _standardise(x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    mean = float(x[mask].mean()) if mask.any() else 0.0
    sd = float(x[mask].std()) if mask.sum() > 1 else 1.0
    return (x - mean) / (sd if sd > 0 else 1.0)


def _threshold(outcome: NDArray[np.float64], among: NDArray[np.bool_], k: int) -> float:
    """The k-th lowest outcome among ``among``: exactly k of them fall at or below it."""
    if k <= 0:
        return float("-inf")
    return float(np.partition(outcome[among], k - 1)[k - 1])


def draw_risk(
    pop: Population, graph: SocialGraph, default_rate: float, rng: np.random.Generator
) -> Risk:
    n, n_normal = pop.n, pop.n_normal
    normal = np.arange(n) < n_normal
    log_income = np.log(pop.income_fen / 100.0 + 100.0)
    age = pop.age
    age_effect = np.select([age < 22, age < 26, age <= 50, age <= 58], [-0.3, -0.1, 0.1, 0.0], -0.1)
    visible = (
        INCOME_WEIGHT * _standardise(log_income, normal)
        + np.array(vocab.SEGMENT_CREDIT)[pop.segment]
        + np.array(vocab.REGION_CREDIT)[pop.region]
        + age_effect
    )
    shock = rng.normal(0.0, COMMUNITY_SD, graph.n_communities)
    shock += np.where(rng.random(graph.n_communities) < HIT_COMMUNITY_SHARE, HIT_SIZE, 0.0)
    eps = rng.normal(0.0, 1.0, n)
    smooth = eps + SMOOTHING * _neighbour_mean(graph, eps)
    smooth = _standardise(smooth, normal)
    latent = _standardise(visible + shock[graph.community] + IDIOSYNCRATIC_SD * smooth, normal)
    latent = np.where(normal, latent, FRAUD_LATENT + rng.normal(0.0, 0.3, n))

    fraud_default = ~normal & (rng.random(n) < DEFAULT_PROBABILITY)
    outcome = latent + LUCK_SD * rng.normal(0.0, 1.0, n)
    loans = pop.borrower
    normal_loans = loans & normal
    wanted = default_rate * loans.sum() - fraud_default.sum()
    share = float(np.clip(wanted / max(normal_loans.sum(), 1), 0.0, 1.0))
    k = round(float(share * normal_loans.sum()))
    threshold = _threshold(outcome, normal_loans, k)
    pull: NDArray[np.float64] = np.zeros(n)
    if CONTAGION > 0 and k > 0:
        # financial contagion: a contact who defaults (above all a close one) pulls a person down
        first = normal & (outcome <= threshold)
        w = graph.strength
        pull = np.bincount(graph.u, weights=w * first[graph.v], minlength=n).astype(np.float64)
        pull += np.bincount(graph.v, weights=w * first[graph.u], minlength=n)
        outcome = outcome - CONTAGION * pull
        threshold = _threshold(outcome, normal_loans, k)
    defaulted = np.where(normal, outcome <= threshold, fraud_default)
    # true PD: everything but the person's own luck (creditworthiness and contagion)
    z = (threshold - latent + CONTAGION * pull) / LUCK_SD
    pd = np.asarray(ndtr(z), dtype=np.float64) if k > 0 else np.zeros(n)
    pd = np.where(normal, pd, DEFAULT_PROBABILITY)
    return Risk(latent=latent, pd=pd, defaulted=defaulted.astype(bool), community_shock=shock)
