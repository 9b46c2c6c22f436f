"""Confidence bins and the calibration errors computed over them (ECE, MCE, reliability curves).

Three binnings:

- equal-width (contract.md): B bins [i/B, (i+1)/B) over [0, 1], 1.0 in the last bin. A confidence within
  1e-9 of an edge counts as on the edge, so 0.3 (= 30/100, stored as 0.29999999999999998) falls in
  [0.3, 0.4) as it does in exact arithmetic;
- equal-mass: edges at the quantiles of the confidences, so every bin holds about n/B verdicts
  (duplicate edges of discrete confidences are merged, so there may be fewer bins);
- adaptive ("ECE sweep", Roelofs et al. 2022): the largest number of equal-mass bins for which the bin
  accuracies still rise monotonically with confidence.

Bins are chosen once on the full sample and then held fixed, so bootstrap resamples differ only in the
weights of the verdicts (see ``weights``). Empty bins have no accuracy (NaN), never accuracy 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saboteur.eval.calibration.weights import as_weights, group_sums
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int

DEFAULT_BINS = 10
"""Bins of the contract's ECE/MCE."""
EDGE_DIGITS = 9
"""Confidences are rounded to this many decimals (after scaling by B) before binning."""
MAX_SWEEP_BINS = 100
"""The adaptive sweep stops here (beyond it a bin rarely holds enough verdicts to mean anything)."""


@dataclass(frozen=True)
class Binning:
    """Which bin each verdict falls in, and the bins' edges."""

    index: IntArray
    """[n] bin of each verdict, in [0, n_bins)."""
    edges: FloatArray
    """[n_bins + 1] bin edges from 0 to 1."""
    kind: str
    """``equal-width``, ``equal-mass`` or ``adaptive``."""

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return int(self.edges.size - 1)


def equal_width(confidence: FloatArray, n_bins: int = DEFAULT_BINS) -> Binning:
    """B equal-width bins over [0, 1] (contract.md), 1.0 in the last bin."""
    if n_bins < 1:
        raise ValueError("need at least one bin")
    scaled = np.round(np.clip(as_float(confidence), 0.0, 1.0) * n_bins, EDGE_DIGITS)
    index = np.minimum(np.floor(scaled), n_bins - 1)
    return Binning(as_int(index), as_float(np.linspace(0.0, 1.0, n_bins + 1)), "equal-width")


def equal_mass(confidence: FloatArray, n_bins: int = DEFAULT_BINS, kind: str = "equal-mass") -> Binning:
    """About n/B verdicts per bin; edges at quantiles (a value on an edge goes to the upper bin)."""
    conf = as_float(confidence)
    if conf.size == 0:
        return Binning(as_int(np.zeros(0)), as_float([0.0, 1.0]), kind)
    inner = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]) if n_bins > 1 else np.zeros(0)
    inner = np.unique(inner)
    inner = inner[(inner > 0.0) & (inner < 1.0) & (inner > conf.min())]
    index = np.searchsorted(inner, conf, side="right")
    return Binning(as_int(index), as_float(np.concatenate([[0.0], inner, [1.0]])), kind)


def adaptive(confidence: FloatArray, correct: BoolArray, max_bins: int = MAX_SWEEP_BINS) -> Binning:
    """Equal-mass bins, as many as keep the bin accuracies monotone (the ECE sweep)."""
    conf = as_float(confidence)
    hits = as_float(correct)
    best = equal_mass(conf, 1, "adaptive")
    for n_bins in range(2, min(max_bins, max(conf.size, 1)) + 1):
        binning = equal_mass(conf, n_bins, "adaptive")
        if binning.n_bins <= best.n_bins:
            continue
        count = np.bincount(binning.index, minlength=binning.n_bins)
        right = np.bincount(binning.index, weights=hits, minlength=binning.n_bins)
        accuracy = right[count > 0] / count[count > 0]
        if np.any(np.diff(accuracy) < 0):
            break
        best = binning
    return best


@dataclass(frozen=True)
class BinStats:
    """Weighted per-bin sums for R weight rows."""

    count: FloatArray
    """[R, B] total weight in each bin."""
    confidence_sum: FloatArray
    """[R, B] weighted sum of confidences in each bin."""
    correct_sum: FloatArray
    """[R, B] weighted number of correct verdicts in each bin."""

    @property
    def mean_confidence(self) -> FloatArray:
        """[R, B] mean confidence per bin (NaN where empty)."""
        return _ratio(self.confidence_sum, self.count)

    @property
    def accuracy(self) -> FloatArray:
        """[R, B] accuracy per bin (NaN where empty: an empty bin has no accuracy, not accuracy 0)."""
        return _ratio(self.correct_sum, self.count)

    @property
    def ece(self) -> FloatArray:
        """[R] expected calibration error: sum over bins of (n_b / n) |accuracy_b - confidence_b|."""
        total = self.count.sum(axis=1)
        gap = np.abs(self.correct_sum - self.confidence_sum).sum(axis=1)
        return _ratio(gap, total)

    @property
    def mce(self) -> FloatArray:
        """[R] maximum calibration error over non-empty bins."""
        gap = np.abs(self.accuracy - self.mean_confidence)
        filled = np.where(self.count > 0, gap, -np.inf).max(axis=1)
        return as_float(np.where(np.isfinite(filled), filled, np.nan))


def bin_stats(
    binning: Binning, confidence: FloatArray, correct: BoolArray, weights: FloatArray | None = None
) -> BinStats:
    """Per-bin sums for every weight row (one matrix product each)."""
    conf = as_float(confidence)
    w = as_weights(weights, conf.size)
    index, n_bins = binning.index, binning.n_bins
    return BinStats(
        count=group_sums(w, index, n_bins),
        confidence_sum=group_sums(w, index, n_bins, conf),
        correct_sum=group_sums(w, index, n_bins, as_float(correct)),
    )


def expected_calibration_error(
    confidence: FloatArray, correct: BoolArray, n_bins: int = DEFAULT_BINS
) -> float:
    """ECE with B equal-width bins (contract.md definition)."""
    conf = as_float(confidence)
    return float(bin_stats(equal_width(conf, n_bins), conf, correct).ece[0])


def maximum_calibration_error(
    confidence: FloatArray, correct: BoolArray, n_bins: int = DEFAULT_BINS
) -> float:
    """MCE with B equal-width bins (contract.md definition)."""
    conf = as_float(confidence)
    return float(bin_stats(equal_width(conf, n_bins), conf, correct).mce[0])


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return as_float(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))
