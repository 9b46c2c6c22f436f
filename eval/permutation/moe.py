"""The MoE router style: a softmax gate over [masks, Q] that weights the experts' log-probabilities.

weights = softmax_m(W [M_1..M_M, Q_1..Q_M] + b) over the available experts; fused logit_k =
sum_m weight_m log p_m(k) (papers.md, part B). W and b are fitted on the training rows under Clean-Q
by minimising class-balanced cross-entropy (+ a small L2 term that makes the optimum unique) with
L-BFGS and an analytic gradient, starting from zero (equal weights): deterministic and small. The router
is then frozen and reused unchanged for every Broken-Q copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from saboteur.errors import SaboteurError
from saboteur.eval.permutation.styles import FittedFusion, TrainingSet
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int

SMOOTHING = 1e-3
"""Additive smoothing of expert probabilities before the log (a zero vote share stays finite)."""
L2 = 1e-3
"""L2 penalty on the gate parameters (unique optimum; negligible next to the data term)."""


def log_evidence(probs: FloatArray, mask: BoolArray) -> FloatArray:
    """[n, M, K] smoothed expert log-probabilities (0 where the expert is absent)."""
    k = probs.shape[2]
    logp = np.log((probs + SMOOTHING) / (1.0 + k * SMOOTHING))
    return as_float(np.where(mask[:, :, None], logp, 0.0))


@dataclass(frozen=True)
class GateScaling:
    """Standardisation of Q per expert, from training rows where the expert is present."""

    mean: FloatArray
    scale: FloatArray

    def inputs(self, mask: BoolArray, quality: FloatArray) -> FloatArray:
        """[..., n, 2M] gate inputs [masks, standardised Q] for quality [..., n, M]."""
        q = np.where(mask, (quality - self.mean) / self.scale, 0.0)
        m = np.broadcast_to(mask.astype(np.float64), q.shape)
        return as_float(np.concatenate([m, q], axis=-1))


def gate_weights(params: FloatArray, x: FloatArray, mask: BoolArray) -> FloatArray:
    """[..., n, M] softmax gate over the available experts for inputs x [..., n, 2M]."""
    m = mask.shape[1]
    w = params[: m * 2 * m].reshape(m, 2 * m)
    b = params[m * 2 * m :]
    z = x @ w.T + b
    z = np.where(mask, z, -np.inf)
    z = np.where(mask.any(axis=1, keepdims=True), z, 0.0)  # no expert at all: harmless uniform
    return as_float(softmax(z, axis=-1) * mask)


def router_loss(
    params: FloatArray,
    x: FloatArray,
    mask: BoolArray,
    logp: FloatArray,
    truth: IntArray,
    sample_weight: FloatArray,
) -> tuple[float, FloatArray]:
    """Class-balanced cross-entropy of the fused logits (+ L2), and its gradient in ``params``."""
    n, _, k = logp.shape
    weights = gate_weights(params, x, mask)  # [n, M]
    fused = np.einsum("nm,nmk->nk", weights, logp)
    logq = log_softmax(fused, axis=1)
    total = sample_weight.sum()
    loss = -float((sample_weight * logq[np.arange(n), truth]).sum() / total)
    loss += 0.5 * L2 * float(params @ params)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), truth] = 1.0
    g_fused = sample_weight[:, None] * (np.exp(logq) - onehot) / total  # [n, K]
    g_weights = np.einsum("nk,nmk->nm", g_fused, logp)
    g_z = weights * (g_weights - (weights * g_weights).sum(axis=1, keepdims=True))
    grad = np.concatenate([(g_z.T @ x).ravel(), g_z.sum(axis=0)]) + L2 * params
    return loss, as_float(grad)


def balanced_weights(truth: IntArray, n_labels: int) -> FloatArray:
    """scikit-learn's ``class_weight="balanced"``: n / (classes * count[y]) per row."""
    counts = np.bincount(truth, minlength=n_labels).astype(np.float64)
    classes = np.count_nonzero(counts)
    return as_float(truth.size / (classes * counts[truth]))


@dataclass(eq=False)
class Router(FittedFusion):
    """The frozen MoE router."""

    train_rows: IntArray
    params: FloatArray
    scaling: GateScaling
    converged: bool = True
    name: str = "moe"

    def weights(self, mask: BoolArray, quality: FloatArray) -> FloatArray:
        """[B, n, M] expert weights for quality [B, n, M]."""
        return gate_weights(self.params, self.scaling.inputs(mask, quality), mask)

    def predict(self, probs: FloatArray, mask: BoolArray, quality: FloatArray) -> IntArray:
        logp = log_evidence(probs, mask)
        w = self.weights(mask, quality)  # [B, n, M]
        fused = np.matmul(w.transpose(1, 0, 2), logp)  # [n, B, K]
        return as_int(fused.argmax(axis=2).T)


def fit_router(training: TrainingSet) -> Router:
    """Fit the gate on the training rows under Clean-Q (L-BFGS from zero: equal weights)."""
    keep = training.mask.any(axis=1)
    mask, quality, truth = training.mask[keep], training.quality[keep], training.truth[keep]
    if truth.size == 0:
        raise SaboteurError("the MoE router has no training rows with an available expert")
    present_q = np.where(mask, quality, np.nan)
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(np.nanmean(present_q, axis=0))
        scale = np.nan_to_num(np.nanstd(present_q, axis=0))
    scaling = GateScaling(mean=as_float(mean), scale=as_float(np.where(scale > 1e-12, scale, 1.0)))
    x = scaling.inputs(mask, quality)
    logp = log_evidence(training.probs[keep], mask)
    m = mask.shape[1]
    start = np.zeros(m * 2 * m + m)
    result = minimize(
        router_loss,
        start,
        args=(x, mask, logp, truth, balanced_weights(truth, training.n_labels)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 500},
    )
    return Router(
        train_rows=training.rows.copy(),
        params=as_float(result.x),
        scaling=scaling,
        converged=bool(result.success),
    )
