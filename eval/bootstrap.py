"""Bootstrap intervals without Python loops over resamples.

A mean of values that take few distinct values (flags, Shapley values of a few agents) is resampled
exactly through a multinomial over the distinct values: one draw per resample instead of N indices.
Other values are resampled by index, in chunks so that memory stays bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from saboteur.eval.table import FloatArray

DEFAULT_RESAMPLES = 1000
_MAX_DISTINCT = 256
_CHUNK_CELLS = 2_000_000


class Interval(BaseModel):
    """A point estimate with its bootstrap 95% interval."""

    value: float
    low: float
    high: float
    n: int


def bootstrap_means(
    values: NDArray[Any],
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """[B] means of ``values`` over bootstrap resamples (with replacement, same size)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    rng = rng if rng is not None else np.random.default_rng(0)
    if x.size == 0:
        return np.full(resamples, np.nan)
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size <= _MAX_DISTINCT:
        draws = rng.multinomial(x.size, counts / x.size, size=resamples)  # [B, distinct]
        return np.asarray(draws @ distinct / x.size, dtype=np.float64)
    means = np.empty(resamples)
    step = max(1, _CHUNK_CELLS // x.size)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    return means


def mean_interval(
    values: NDArray[Any],
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> Interval:
    """Mean of ``values`` with a percentile bootstrap interval."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return Interval(value=float("nan"), low=float("nan"), high=float("nan"), n=0)
    means = bootstrap_means(x, resamples, rng)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(value=float(x.mean()), low=float(low), high=float(high), n=int(x.size))
