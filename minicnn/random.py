"""The random-number generator that weight initialisation and dropout draw from.

One seeded ``numpy.random.Generator`` makes a whole run reproducible:
``minicnn.seed(0)`` before building a model gives the same weights every time.
"""

from __future__ import annotations

import numpy as np

_rng = [np.random.default_rng()]


def seed(s: int) -> None:
    """Re-seed minicnn's generator (weights, dropout masks, samplers)."""
    _rng[0] = np.random.default_rng(s)


def get_rng() -> np.random.Generator:
    return _rng[0]
