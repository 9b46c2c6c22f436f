"""Recalibration of verbalised confidence: scikit-learn-style calibrators and k-fold cross-fitting.

A calibrator maps an agent's stated confidence to the probability that its primary label is right. It is
learnt from verdicts with a known truth, so scoring it on those same verdicts would flatter it: every
recalibrated confidence here is *cross-fitted*. Clips are split into k folds; the calibrator that scores
fold f was fitted only on the other folds. ``CrossFit`` returns the fold of every verdict and the indices
each fold's calibrator was fitted on, so that this can be checked directly (``CrossFit.leak_free``).
All agents of a clip share its fold, so a fused decision is never made from a calibrator that saw the clip.

Calibrators (all ``fit(X, y)`` / ``predict(X)`` / ``predict_proba(X)`` estimators, X = confidence):

- ``temperature``: p' = sigmoid(logit(p) / T), one parameter fitted by maximum likelihood;
- ``platt``: p' = sigmoid(a logit(p) + b), logistic regression on the confidence's logit;
- ``isotonic``: the best monotone step function (scikit-learn's ``IsotonicRegression``).

Confidences are clipped to [1e-4, 1 - 1e-4] before taking logits (agents often say 100%). A training fold
with one class only gets a constant calibrator (its accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from saboteur.errors import SaboteurError
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int

EPS = 1e-4
DEFAULT_FOLDS = 5


class Calibrator(Protocol):
    """What cross-fitting needs from a calibrator (any scikit-learn regressor or these classes)."""

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict(self, X: Any) -> Any: ...


def _column(X: Any) -> FloatArray:
    x = as_float(X)
    return x[:, 0] if x.ndim == 2 else x


def _logit(x: FloatArray) -> FloatArray:
    return as_float(logit(np.clip(x, EPS, 1.0 - EPS)))


class _ConfidenceCalibrator(BaseEstimator):  # type: ignore[misc]
    """Shared fit/predict plumbing: 1-D or [n, 1] input, the one-class case, outputs in [0, 1]."""

    constant_: float | None

    def fit(self, X: Any, y: Any) -> Self:
        x, target = _column(X), as_float(y)
        if x.size == 0 or x.size != target.size:
            raise ValueError("fit needs as many confidences as outcomes, at least one")
        single = target.min() == target.max()
        self.constant_ = float(target.mean()) if single else None
        if not single:
            self._fit(x, target)
        return self

    def predict(self, X: Any) -> FloatArray:
        x = _column(X)
        if self.constant_ is not None:
            return as_float(np.full(x.size, self.constant_))
        return as_float(np.clip(self._predict(x), 0.0, 1.0))

    def predict_proba(self, X: Any) -> FloatArray:
        p = self.predict(X)
        return as_float(np.column_stack([1.0 - p, p]))

    def _fit(self, x: FloatArray, target: FloatArray) -> None:
        raise NotImplementedError

    def _predict(self, x: FloatArray) -> FloatArray:
        raise NotImplementedError


class TemperatureScaling(_ConfidenceCalibrator):
    """p' = sigmoid(logit(p) / T); T > 1 softens an overconfident agent."""

    temperature_: float

    def _fit(self, x: FloatArray, target: FloatArray) -> None:
        z = _logit(x)

        def loss(log_t: float) -> float:
            a = z / np.exp(log_t)
            return float(np.mean(target * np.logaddexp(0.0, -a) + (1.0 - target) * np.logaddexp(0.0, a)))

        result = minimize_scalar(loss, bounds=(-6.0, 6.0), method="bounded")
        self.temperature_ = float(np.exp(result.x))

    def _predict(self, x: FloatArray) -> FloatArray:
        return as_float(expit(_logit(x) / self.temperature_))


class PlattScaling(_ConfidenceCalibrator):
    """p' = sigmoid(a logit(p) + b), a logistic regression (``C``: inverse L2 strength)."""

    def __init__(self, C: float = 1e4) -> None:
        self.C = C

    def _fit(self, x: FloatArray, target: FloatArray) -> None:
        self.model_ = LogisticRegression(C=self.C).fit(_logit(x)[:, None], target.astype(np.int64))

    def _predict(self, x: FloatArray) -> FloatArray:
        return as_float(self.model_.predict_proba(_logit(x)[:, None])[:, 1])


class IsotonicCalibrator(_ConfidenceCalibrator):
    """The best non-decreasing step function from confidence to accuracy."""

    def _fit(self, x: FloatArray, target: FloatArray) -> None:
        self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, target)

    def _predict(self, x: FloatArray) -> FloatArray:
        return as_float(self.model_.predict(x))


CALIBRATORS: dict[str, type[_ConfidenceCalibrator]] = {
    "temperature": TemperatureScaling,
    "platt": PlattScaling,
    "isotonic": IsotonicCalibrator,
}


def make_calibrator(method: str) -> _ConfidenceCalibrator:
    """A fresh calibrator by name (``temperature``, ``platt``, ``isotonic``)."""
    try:
        return CALIBRATORS[method]()
    except KeyError:
        raise SaboteurError(
            f"unknown recalibration method {method!r}: choose {', '.join(CALIBRATORS)}"
        ) from None


# -- cross-fitting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossFit:
    """Held-out recalibrated confidences and the bookkeeping that proves them held out."""

    calibrated: FloatArray
    """[n] each verdict's confidence as recalibrated by the calibrator of its own fold."""
    fold: IntArray
    """[n] fold of each verdict (its calibrator never saw it)."""
    fitted_on: dict[int, IntArray]
    """fold -> indices of the verdicts that fold's calibrator was fitted on."""
    calibrators: dict[int, Calibrator]
    """fold -> the fitted calibrator that scored it."""

    def leak_free(self) -> bool:
        """True when no calibrator was fitted on a verdict it scored."""
        return all(
            not np.intersect1d(self.fitted_on[f], np.flatnonzero(self.fold == f)).size for f in self.fitted_on
        )


def assign_folds(groups: IntArray, folds: int, seed: int = 0) -> IntArray:
    """[n] fold of each item; items of one group (clip) share a fold; folds differ in size by at most 1."""
    if folds < 2:
        raise SaboteurError("cross-fitting needs at least 2 folds")
    unique, inverse = np.unique(as_int(groups), return_inverse=True)
    if unique.size < folds:
        raise SaboteurError(f"{unique.size} labelled clip(s) are too few for {folds}-fold cross-fitting")
    order = np.random.default_rng(seed).permutation(unique.size)
    group_fold = np.empty(unique.size, dtype=np.int64)
    group_fold[order] = np.arange(unique.size) % folds
    return as_int(group_fold[inverse.ravel()])


def cross_fit(
    calibrator: Calibrator | str,
    confidence: FloatArray,
    correct: BoolArray,
    *,
    folds: int | IntArray = DEFAULT_FOLDS,
    groups: IntArray | None = None,
    seed: int = 0,
) -> CrossFit:
    """Recalibrate every verdict with a calibrator fitted on the other folds.

    Args:
        calibrator: a name in ``CALIBRATORS`` or an unfitted estimator (cloned per fold).
        confidence, correct: [n] stated confidences and outcomes.
        folds: number of folds, or an explicit [n] fold assignment (shared across agents by the caller).
        groups: [n] group (clip) of each verdict; a group never straddles folds (default: each verdict).
        seed: seed of the fold assignment.
    """
    conf = as_float(confidence)
    hits = as_float(correct)
    template = make_calibrator(calibrator) if isinstance(calibrator, str) else calibrator
    if isinstance(folds, int):
        fold = assign_folds(groups if groups is not None else as_int(np.arange(conf.size)), folds, seed)
    else:
        fold = as_int(folds)
    present = np.unique(fold)
    if present.size < 2:
        raise SaboteurError("cross-fitting needs verdicts in at least 2 folds")
    calibrated = np.empty(conf.size, dtype=np.float64)
    fitted_on: dict[int, IntArray] = {}
    fitted: dict[int, Calibrator] = {}
    for f in present.tolist():
        train = as_int(np.flatnonzero(fold != f))
        test = np.flatnonzero(fold == f)
        estimator = clone(template).fit(conf[train], hits[train])
        calibrated[test] = np.clip(as_float(estimator.predict(conf[test])), 0.0, 1.0)
        fitted_on[f] = train
        fitted[f] = estimator
    return CrossFit(as_float(calibrated), fold, fitted_on, fitted)
