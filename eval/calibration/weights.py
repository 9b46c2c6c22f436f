"""Resampling weights: every calibration figure is a function of per-verdict weights.

A bootstrap resample of n verdicts is the same as weighting each verdict by how often it was drawn. Every
statistic in this package therefore takes a weight matrix ``w`` of shape [R, n] (one row per resample,
a row of ones for the point estimate) and returns [R] values. One implementation serves the point estimate
and all resamples, and the resamples run as matrix operations, never as a Python loop over resamples.
A verdict left out of a statistic (no self-assessment) simply gets weight 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.sparse import csr_matrix

from saboteur.eval.bootstrap import Interval
from saboteur.eval.table import FloatArray, IntArray, as_float

CHUNK_CELLS = 4_000_000
"""Largest weight matrix (resamples x verdicts) built at once; bounds memory for big runs."""


def as_weights(weights: FloatArray | None, n: int) -> FloatArray:
    """``weights`` as an [R, n] matrix (None: one row of ones, the point estimate)."""
    if weights is None:
        return np.ones((1, n), dtype=np.float64)
    w = as_float(weights)
    if w.ndim == 1:
        w = w[None, :]
    if w.shape[-1] != n:
        raise ValueError(f"weights have {w.shape[-1]} columns for {n} values")
    return w


def weighted_mean(values: FloatArray, w: FloatArray) -> FloatArray:
    """[R] weighted means of ``values`` [n] (NaN where a row's weights sum to 0)."""
    total = w.sum(axis=1)
    sums = w @ np.nan_to_num(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return as_float(np.where(total > 0, sums / np.where(total > 0, total, 1.0), np.nan))


def group_sums(w: FloatArray, group: IntArray, n_groups: int, values: FloatArray | None = None) -> FloatArray:
    """[R, G] weighted sums of ``values`` [n] (default 1) over the items of each group, for weights [R, n].

    One sparse [G, n] matrix (item values at (group, item)) times the weights: O(R n) for any G.
    """
    data = np.ones(group.size) if values is None else np.nan_to_num(as_float(values))
    member = csr_matrix((data, (group, np.arange(group.size))), shape=(n_groups, group.size))
    return as_float((member @ w.T).T)


def bootstrap_weights(
    n: int, resamples: int, rng: np.random.Generator, chunk_cells: int = CHUNK_CELLS
) -> Iterator[FloatArray]:
    """Bootstrap count matrices [r, n] (rows sum to n), ``resamples`` rows in all, in bounded chunks."""
    if n == 0:
        return
    step = max(1, chunk_cells // n)
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        draws = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)
        # column-major, so that the sparse group sums (membership @ w.T) read w.T without a copy
        yield as_float(np.asfortranarray(counts, dtype=np.float64))


def percentile_interval(value: float, samples: FloatArray, n: int, level: float = 0.95) -> Interval:
    """Point estimate with the percentile interval of its bootstrap ``samples`` (NaN samples ignored)."""
    finite = samples[np.isfinite(samples)]
    if not np.isfinite(value) or finite.size == 0:
        return Interval(value=value, low=float("nan"), high=float("nan"), n=n)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return Interval(value=value, low=float(low), high=float(high), n=n)
