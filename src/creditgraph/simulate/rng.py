"""Independent random streams per stage, all derived from the one seed.

Each stage draws from its own stream, so changing how one table is generated leaves every other
table of the same seed unchanged.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """A generator for stage ``name``; same seed and name give the same draws on every platform."""
    return np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode("utf-8"))]))
