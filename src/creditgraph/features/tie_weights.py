"""How much a declared tie says about closeness: the constants of tie strength.

The feature build (``features.relational.weighted_edges``, in Ibis) and the real-time monitor
(``monitoring.ties``, in plain Python) weigh a pair by the same formula; these are its numbers,
in one place, in a module that imports nothing so both may use it.
"""

from __future__ import annotations

KIND_WEIGHTS: dict[str, float] = {
    "family": 1.0,
    "emergency_contact": 1.0,
    "friend": 0.8,
    "colleague": 0.6,
    "contact": 0.4,
    "follow": 0.2,
}
OTHER_KIND_WEIGHT = 0.1
"""A declared kind not listed above."""
INTERACTION_ONLY_WEIGHT = 0.3
"""A pair joined by interactions and no declared tie."""
NON_RECIPROCAL_FACTOR = 0.75
"""A pair whose tie and interactions all go one way."""
DEFAULT_HALF_LIFE_DAYS = 60.0
"""Interactions decay with this half-life (``features build --half-life``)."""
