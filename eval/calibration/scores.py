"""Scores of confidence as a predictor of correctness: Brier, NLL, AUROC/AUPRC, risk-coverage, correlation.

Every function takes per-verdict arrays [n] and optional weights [R, n] (see ``weights``) and returns [R]
values; without weights R = 1 (the point estimate). Ranking statistics sort the scores once and group
tied scores, so that R resamples cost one cumulative sum each. Conventions:

- AUROC: probability that a random correct verdict scores above a random wrong one (ties count 1/2);
  NaN when either class is absent (scikit-learn's ``roc_auc_score`` with ``sample_weight``).
- AUPRC: average precision with correct verdicts as the positive class (``average_precision_score``).
- Risk-coverage: verdicts are accepted from the most confident down; tied confidences are accepted
  together (a threshold cannot separate them). AURC = mean over verdicts of the risk (error rate) at the
  threshold that accepts them (Geifman et al. 2019); E-AURC subtracts the AURC of a perfect ranking with
  the same error rate r, r + (1 - r) ln(1 - r).
- Selective accuracy at coverage c: accuracy of the most confident share c of verdicts; a tie group
  cut by the boundary counts in proportion (the expectation over random tie-breaking).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

from saboteur.eval.calibration.weights import as_weights, group_sums, weighted_mean
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int

NLL_FLOOR = 1e-4
"""Probability given to a true label the agent left out of its ranking (-log = 9.2, not infinity)."""


# -- proper scores -------------------------------------------------------------------------------
def brier(confidence: FloatArray, correct: BoolArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] binary Brier score: mean (confidence - correct)^2."""
    loss = (as_float(confidence) - as_float(correct)) ** 2
    return weighted_mean(loss, as_weights(weights, loss.size))


def multiclass_brier(probs: FloatArray, truth: IntArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] multiclass Brier score of distributions [n, K]: mean sum_k (p_k - [k = truth])^2 (0 to 2)."""
    p = as_float(probs)
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), truth] = 1.0
    loss = ((p - onehot) ** 2).sum(axis=1)
    return weighted_mean(loss, as_weights(weights, loss.size))


def nll(
    probs: FloatArray, truth: IntArray, weights: FloatArray | None = None, floor: float = NLL_FLOOR
) -> FloatArray:
    """[R] mean negative log-likelihood of the true label (probabilities floored at ``floor``)."""
    p = as_float(probs)[np.arange(len(truth)), truth]
    loss = -np.log(np.maximum(p, floor))
    return weighted_mean(loss, as_weights(weights, loss.size))


def ranking_distribution(scores: FloatArray) -> FloatArray:
    """[..., K] an agent's ranking confidences normalised to sum to 1 (uniform when it scored nothing)."""
    s = as_float(scores)
    total = s.sum(axis=-1, keepdims=True)
    k = s.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return as_float(np.where(total > 0, s / np.where(total > 0, total, 1.0), 1.0 / k))


# -- tie groups ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TieGroups:
    """Verdicts sorted by score (descending) and grouped by equal score."""

    order: IntArray
    """[n] verdict indices, highest score first."""
    starts: IntArray
    """[G] start of each tie group in ``order``."""
    values: FloatArray
    """[G] the score of each group."""
    group_of: IntArray
    """[n] group of each verdict (original order)."""

    @property
    def size(self) -> int:
        """Number of groups G."""
        return int(self.starts.size)

    def sums(self, values: FloatArray, w: FloatArray) -> FloatArray:
        """[R, G] weighted sums of ``values`` [n] per group."""
        return group_sums(w, self.group_of, self.size, values)


def tie_groups(score: FloatArray, descending: bool = True) -> TieGroups:
    """Sort ``score`` once (stable) and find the runs of equal values."""
    s = as_float(score)
    order = np.argsort(-s if descending else s, kind="stable")
    ordered = s[order]
    new_group = np.concatenate([[True], ordered[1:] != ordered[:-1]])[: s.size]
    group_of = np.empty(s.size, dtype=np.int64)
    group_of[order] = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    return TieGroups(as_int(order), as_int(starts), as_float(ordered[as_int(starts)]), group_of)


# -- discrimination ------------------------------------------------------------------------------
def _class_weight_by_score(
    score: FloatArray, positive: BoolArray, weights: FloatArray | None
) -> tuple[FloatArray, FloatArray] | int:
    """[R, G] positive and negative weight per distinct score (descending), for every resample row.

    With no verdicts, returns the number of resample rows instead (the caller answers NaN for each).
    """
    s = as_float(score)
    w = as_weights(weights, s.size)
    if s.size == 0:
        return int(w.shape[0])
    groups = tie_groups(s)
    return groups.sums(as_float(positive), w), groups.sums(1.0 - as_float(positive), w)


def auroc(score: FloatArray, positive: BoolArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] area under the ROC curve of ``score`` for ``positive`` (ties 1/2; NaN with one class)."""
    counts = _class_weight_by_score(score, positive, weights)
    if isinstance(counts, int):
        return as_float(np.full(counts, np.nan))
    pos, neg = counts
    neg_total = neg.sum(axis=1, keepdims=True)
    below = neg_total - np.cumsum(neg, axis=1)  # negatives with a strictly lower score
    area = (pos * (below + 0.5 * neg)).sum(axis=1)
    denom = pos.sum(axis=1) * neg_total[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return as_float(np.where(denom > 0, area / np.where(denom > 0, denom, 1.0), np.nan))


def auprc(score: FloatArray, positive: BoolArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] average precision of ``score`` for ``positive`` (NaN without positives)."""
    counts = _class_weight_by_score(score, positive, weights)
    if isinstance(counts, int):
        return as_float(np.full(counts, np.nan))
    pos, neg = counts
    tp = np.cumsum(pos, axis=1)
    fp = np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1.0), 0.0)
        total = pos.sum(axis=1)
        return as_float(np.where(total > 0, (pos * precision).sum(axis=1) / total, np.nan))


# -- selective prediction ------------------------------------------------------------------------
@dataclass(frozen=True)
class RiskCoverage:
    """The risk-coverage curve: one point per distinct confidence threshold, most confident first."""

    threshold: FloatArray
    coverage: FloatArray
    risk: FloatArray


def risk_coverage(confidence: FloatArray, correct: BoolArray) -> RiskCoverage:
    """Coverage and risk (error rate among accepted) at each distinct confidence threshold."""
    groups = tie_groups(as_float(confidence))
    w = as_weights(None, groups.order.size)
    accepted = np.cumsum(groups.sums(np.ones(groups.order.size), w), axis=1)[0]
    errors = np.cumsum(groups.sums(1.0 - as_float(correct), w), axis=1)[0]
    total = accepted[-1] if accepted.size else 0.0
    return RiskCoverage(groups.values, as_float(accepted / max(total, 1.0)), as_float(errors / accepted))


def aurc(confidence: FloatArray, correct: BoolArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] area under the risk-coverage curve (lower is better)."""
    conf = as_float(confidence)
    w = as_weights(weights, conf.size)
    if conf.size == 0:
        return as_float(np.full(w.shape[0], np.nan))
    groups = tie_groups(conf)
    count = groups.sums(np.ones(conf.size), w)
    errors = groups.sums(1.0 - as_float(correct), w)
    accepted = np.cumsum(count, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        risk = np.where(accepted > 0, np.cumsum(errors, axis=1) / np.where(accepted > 0, accepted, 1.0), 0.0)
        total = accepted[:, -1]
        return as_float(np.where(total > 0, (count * risk).sum(axis=1) / total, np.nan))


def optimal_aurc(error_rate: FloatArray) -> FloatArray:
    """[R] AURC of a perfect ranking with the given error rate: r + (1 - r) ln(1 - r)."""
    r = np.clip(as_float(error_rate), 0.0, 1.0)
    return as_float(r + xlogy(1.0 - r, 1.0 - r))


def selective_accuracy(
    confidence: FloatArray, correct: BoolArray, coverage: float = 0.5, weights: FloatArray | None = None
) -> FloatArray:
    """[R] accuracy over the most confident share ``coverage`` of the verdicts."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError("coverage must be in (0, 1]")
    conf = as_float(confidence)
    w = as_weights(weights, conf.size)
    if conf.size == 0:
        return as_float(np.full(w.shape[0], np.nan))
    groups = tie_groups(conf)
    count = groups.sums(np.ones(conf.size), w)
    right = groups.sums(as_float(correct), w)
    accepted = np.cumsum(count, axis=1)
    target = coverage * accepted[:, -1]
    cut = np.argmax(accepted >= target[:, None] - 1e-12, axis=1)  # first group reaching the target
    rows = np.arange(w.shape[0])
    before = accepted[rows, cut] - count[rows, cut]
    right_before = np.cumsum(right, axis=1)[rows, cut] - right[rows, cut]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(count[rows, cut] > 0, (target - before) / count[rows, cut], 0.0)
        taken = right_before + share * right[rows, cut]
        return as_float(np.where(target > 0, taken / np.where(target > 0, target, 1.0), np.nan))


# -- correlation ---------------------------------------------------------------------------------
def pearson(x: FloatArray, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] weighted Pearson correlation of ``x`` and ``y`` [n] or [R, n]."""
    xs, ys = as_float(x), as_float(y)
    w = as_weights(weights, xs.shape[-1])
    total = w.sum(axis=1)
    if xs.ndim == 1 and ys.ndim == 1:  # one matrix-vector product per moment
        sx, sy, sxx, syy, sxy = (w @ np.stack([xs, ys, xs * xs, ys * ys, xs * ys], axis=1)).T
    else:
        wx, wy = w * xs, w * ys
        sx, sy = wx.sum(axis=1), wy.sum(axis=1)
        sxx, syy, sxy = (wx * xs).sum(axis=1), (wy * ys).sum(axis=1), (wx * ys).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / total
        var = (sxx - sx * sx / total) * (syy - sy * sy / total)
        ok = var > 1e-12 * np.maximum(total, 1.0) ** 2
        return as_float(np.where(ok, cov / np.sqrt(np.where(ok, var, 1.0)), np.nan))


def spearman(x: FloatArray, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """[R] weighted Spearman correlation: Pearson of the weighted mid-ranks of each resample."""
    xs, ys = as_float(x), as_float(y)
    w = as_weights(weights, xs.size)
    gx, gy = tie_groups(xs, descending=False), tie_groups(ys, descending=False)
    rank_x, rank_y = _midranks(gx, w), _midranks(gy, w)
    # every (x group, y group) pair present is one weighted cell: sums over cells, not verdicts
    pairs, cell = np.unique(gx.group_of * gy.size + gy.group_of, return_inverse=True)
    cell_w = group_sums(w, as_int(cell.ravel()), int(pairs.size))
    return pearson(rank_x[:, pairs // gy.size], rank_y[:, pairs % gy.size], cell_w)


def _midranks(groups: TieGroups, w: FloatArray) -> FloatArray:
    """[R, G] weighted mid-rank of each tie group (ascending groups; ties share a rank)."""
    count = group_sums(w, groups.group_of, groups.size)
    return as_float(np.cumsum(count, axis=1) - 0.5 * count)
