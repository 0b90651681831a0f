"""Synthetic seasonal series for the detector tests (deterministic per seed)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HOUR = 3600
DAY = 86_400


def seasonal(seed: int, days: int = 30, step: int = HOUR, noise: float | None = None
             ) -> npt.NDArray[np.float64]:
    """Level 100, a daily cycle of 20-50%, a weak weekly cycle and Gaussian noise."""
    rng = np.random.default_rng(seed)
    per_day = DAY // step
    t = np.arange(days * per_day)
    amp, phase, weekly = rng.uniform(0.2, 0.5), rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.1)
    base = 100 * (1 + amp * np.sin(2 * np.pi * t / per_day + phase)
                  + weekly * np.sin(2 * np.pi * t / (7 * per_day)))
    sd = rng.uniform(1, 5) if noise is None else noise
    return np.asarray(base + rng.normal(0, sd, t.size))


def matrix(seeds: range, days: int = 30, step: int = HOUR) -> npt.NDArray[np.float64]:
    return np.array([seasonal(seed, days, step) for seed in seeds])
