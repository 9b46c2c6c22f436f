"""Fusion styles of the diagnostic: how frozen experts' evidence, masks and quality become one decision.

A style is a function ``fit(training) -> FittedFusion`` registered with ``@fusion_style(name)``. It sees
only a :class:`TrainingSet` (the arrays of the training rows, sliced before the call), and the fitted
rule records the row indices it was trained on (``train_rows``) so that the protocol can prove that no
test row reached any fit. ``predict`` takes one evidence/mask block and a batch of quality matrices
[B, n, M] (Clean-Q is B = 1; the K Broken-Q copies are B = K) and returns labels [B, n].

Styles (papers.md, part B): ``noq`` mean posterior (ignores Q, a null reference), ``weighted``
Q-normalised weighted mean, ``lr`` / ``hgb`` scikit-learn stackers on [evidence, masks, Q, Q x evidence]
with balanced class weights, ``moe`` a softmax router over [masks, Q] weighting expert log-probabilities.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from saboteur.errors import SaboteurError
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_bool, as_float, as_int

STACK_ROWS = 250_000
"""Rows per predict call of a stacker (K x n stacked feature rows are predicted in chunks of this size)."""
WEIGHT_FLOOR = 1e-12
"""Added to every available expert's weight: all-zero Q falls back to the plain mean instead of nothing."""


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """The training rows of one fold, already sliced: a fit cannot see any other row."""

    rows: IntArray
    """[n] global row indices of these rows in the study's ExpertData."""
    probs: FloatArray
    """[n, M, K] expert label distributions."""
    mask: BoolArray
    """[n, M] availability."""
    quality: FloatArray
    """[n, M] Clean-Q (finite; 0 where the expert is absent)."""
    truth: IntArray
    """[n] true labels."""
    n_labels: int
    """K."""
    seed: int = 0
    """Seed for stochastic fits."""

    def __post_init__(self) -> None:
        if not np.isfinite(self.quality).all():
            raise SaboteurError("training quality must be finite (impute it first)")


class FittedFusion(ABC):
    """A fusion rule after training: frozen, it maps (evidence, masks, a batch of Q) to labels."""

    name: str = ""
    train_rows: IntArray
    """Global row indices the rule was fitted on (empty for rules with nothing to fit)."""

    @abstractmethod
    def predict(self, probs: FloatArray, mask: BoolArray, quality: FloatArray) -> IntArray:
        """[B, n] fused labels for evidence [n, M, K], masks [n, M] and quality [B, n, M]."""


def single_thread() -> threadpool_limits:
    """One BLAS / OpenMP thread: the matrices here are small, and thread pools on a busy machine
    spin-wait (measured 10-100x slower on 2 shared cores)."""
    return threadpool_limits(limits=1)


FitFunction = Callable[[TrainingSet], FittedFusion]
_STYLES: dict[str, FitFunction] = {}


def fusion_style(name: str) -> Callable[[FitFunction], FitFunction]:
    """Register ``fit`` as fusion style ``name`` (decorator)."""

    def register(fit: FitFunction) -> FitFunction:
        _STYLES[name] = fit
        return fit

    return register


def styles() -> list[str]:
    """Names of the registered fusion styles."""
    return list(_STYLES)


def fit_style(name: str, training: TrainingSet) -> FittedFusion:
    """Fit style ``name`` on ``training`` (a clear error naming the known styles otherwise)."""
    try:
        fit = _STYLES[name]
    except KeyError:
        raise SaboteurError(f"unknown fusion style {name!r}: choose one of {', '.join(_STYLES)}") from None
    return fit(training)


# -- late fusion ------------------------------------------------------------------------------------
@dataclass(eq=False)
class MeanPosterior(FittedFusion):
    """``noq``: mean of the available experts' posteriors; Q plays no part (gap 0 by construction)."""

    train_rows: IntArray
    name: str = "noq"

    def predict(self, probs: FloatArray, mask: BoolArray, quality: FloatArray) -> IntArray:
        fused = np.einsum("nm,nmk->nk", mask.astype(np.float64), probs)
        return as_int(np.broadcast_to(fused.argmax(axis=1), quality.shape[:2]))


@dataclass(eq=False)
class QualityWeighted(FittedFusion):
    """``weighted``: sum_m Q_m p_m / sum_m Q_m over available experts (the argmax needs no division)."""

    train_rows: IntArray
    name: str = "weighted"

    def predict(self, probs: FloatArray, mask: BoolArray, quality: FloatArray) -> IntArray:
        weights = (np.clip(quality, 0.0, None) + WEIGHT_FLOOR) * mask[None, :, :]  # [B, n, M]
        # batched matmul over clips: [n, B, M] @ [n, M, K] -> [n, B, K]
        fused = np.matmul(weights.transpose(1, 0, 2), probs)
        return as_int(fused.argmax(axis=2).T)


@fusion_style("noq")
def _fit_noq(training: TrainingSet) -> FittedFusion:
    return MeanPosterior(train_rows=as_int(np.empty(0)))


@fusion_style("weighted")
def _fit_weighted(training: TrainingSet) -> FittedFusion:
    if (training.quality < 0).any():
        raise SaboteurError("the weighted style needs non-negative quality scores")
    return QualityWeighted(train_rows=as_int(np.empty(0)))


# -- learned stackers ------------------------------------------------------------------------------
def stack_features(probs: FloatArray, mask: BoolArray, quality: FloatArray) -> FloatArray:
    """[B * n, 2MK + 2M] stacker inputs [evidence, masks, Q, Q x evidence], one block of n rows per Q copy.

    The products Q_m p_m(k) let a linear stacker gate an expert's evidence by its quality (with Q and the
    evidence only as separate additive inputs, a logistic regression cannot discount an unreliable expert
    on the clips where Q says so, and would be blind to Q by construction).
    """
    n, m, k = probs.shape
    b = quality.shape[0]
    base = np.concatenate([probs.reshape(n, m * k), mask.astype(np.float64)], axis=1)
    gated = (quality[:, :, :, None] * probs[None]).reshape(b, n, m * k)
    stacked = np.concatenate([np.broadcast_to(base, (b, *base.shape)), quality, gated], axis=2)
    return as_float(stacked.reshape(b * n, -1))


@dataclass(eq=False)
class Stacker(FittedFusion):
    """A scikit-learn classifier on stacked features; predicts K x n rows in memory-bounded chunks."""

    train_rows: IntArray
    model: Any
    name: str = "stacker"

    def predict(self, probs: FloatArray, mask: BoolArray, quality: FloatArray) -> IntArray:
        b, n = quality.shape[:2]
        chunk = max(1, STACK_ROWS // max(n, 1))
        with single_thread():
            parts = [
                np.asarray(self.model.predict(stack_features(probs, mask, quality[start : start + chunk])))
                for start in range(0, b, chunk)
            ]
        return as_int(np.concatenate(parts).reshape(b, n))


def _stack_training(training: TrainingSet) -> tuple[FloatArray, IntArray]:
    keep = as_bool(training.mask.any(axis=1))
    x = stack_features(training.probs[keep], training.mask[keep], training.quality[keep][None])
    return x, as_int(training.truth[keep])


def make_lr() -> Pipeline:
    """Logistic regression on standardised inputs, balanced class weights (papers.md)."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))


def make_hgb(seed: int = 0) -> HistGradientBoostingClassifier:
    """Histogram gradient boosting: learning rate 0.05, depth 3, 300 iterations, balanced (papers.md)."""
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_depth=3,
        max_iter=300,
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
    )


@fusion_style("lr")
def _fit_lr(training: TrainingSet) -> FittedFusion:
    x, y = _stack_training(training)
    with single_thread():
        return Stacker(train_rows=training.rows.copy(), model=make_lr().fit(x, y), name="lr")


@fusion_style("hgb")
def _fit_hgb(training: TrainingSet) -> FittedFusion:
    x, y = _stack_training(training)
    with single_thread():
        model = make_hgb(training.seed).fit(x, y)
    return Stacker(train_rows=training.rows.copy(), model=model, name="hgb")


@fusion_style("moe")
def _fit_moe(training: TrainingSet) -> FittedFusion:
    from saboteur.eval.permutation.moe import fit_router

    return fit_router(training)
