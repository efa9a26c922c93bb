"""Synthetic population and social network with known ground truth, deterministic by seed.

``simulate`` writes every table of the input data contract to a directory (Parquet or CSV, streamed
in chunks) and the ground truth to ``<out>/_truth/``; ``report`` measures a written directory
against the calibration targets (degree, clustering, giant component, default rate, homophily,
fraud-ring share, consent coverage).
"""

from creditgraph.simulate.calibration import report
from creditgraph.simulate.config import SimulationConfig, SimulationResult
from creditgraph.simulate.engine import simulate

__all__ = ["SimulationConfig", "SimulationResult", "report", "simulate"]
