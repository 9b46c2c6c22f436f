"""Positive controls: settings where Q provably identifies the right expert, so the diagnostic must fire.

``corrupt``: one expert's evidence is pushed strongly toward a wrong class on a fraction of the rows
(0.5 by default), and Q says exactly where (Q = 1 - corruption mask for that expert, 1 for the others).
The fold's training rows are corrupted the same way as its test rows (independent draws), so a rule
fitted under Clean-Q can learn that Q marks the broken rows; a rule that uses Q must then lose accuracy
when Q is permuted.

``calibrated``: a training-only quality model per expert on [raw Q, |p_top - 0.5|] predicts whether the
expert's loss is below its training median; its probability replaces Q (papers.md, part B). Training
rows get cross-fitted predictions (as a model never sees its own rows), test rows the predictions of the
model fitted on all training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from saboteur.eval.permutation.data import ExpertData
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_bool, as_float

CORRUPT_STRENGTH = 0.95
"""Share of probability mass a corrupted expert moves onto its wrong class."""
LOSS_SMOOTHING = 1e-3
"""Additive smoothing in an expert's log-loss (a zero vote share gives a large, finite loss)."""


def best_expert(data: ExpertData, rows: IntArray) -> int:
    """The expert with the highest accuracy on ``rows`` (the training rows: no test truth is used)."""
    return int(np.argmax(data.expert_correct[rows].mean(axis=0)))


def corrupt(
    data: ExpertData,
    groups: Sequence[IntArray],
    expert: int,
    fraction: float,
    rng: np.random.Generator,
) -> tuple[ExpertData, BoolArray]:
    """Corrupt ``expert`` on ``fraction`` of the rows of each group where it is present.

    Args:
        data: the study's data.
        groups: row sets corrupted separately with the same fraction (a fold's training and test rows).
        expert: column of the expert to corrupt.
        fraction: share of each group's present rows to corrupt.
        rng: random source (which rows, which wrong class).
    Returns:
        The data with corrupted evidence and control quality (Q = 1 - corrupted for ``expert``, 1 for the
        others, NaN where absent), and the [N] corruption mask.
    """
    n, _, k = data.probs.shape
    corrupted = np.zeros(n, dtype=np.bool_)
    for rows in groups:
        present = rows[data.mask[rows, expert]]
        chosen = rng.choice(present, size=round(fraction * present.size), replace=False)
        corrupted[chosen] = True
    idx = np.flatnonzero(corrupted)
    wrong = (data.truth[idx] + rng.integers(1, k, size=idx.size)) % k
    probs = data.probs.copy()
    target = np.zeros((idx.size, k))
    target[np.arange(idx.size), wrong] = 1.0
    probs[idx, expert] = (1.0 - CORRUPT_STRENGTH) * probs[idx, expert] + CORRUPT_STRENGTH * target
    quality = np.where(data.mask, 1.0, np.nan)
    quality[:, expert] = np.where(data.mask[:, expert], 1.0 - corrupted, np.nan)
    return data.with_arrays(probs=as_float(probs), quality=as_float(quality)), as_bool(corrupted)


def expert_loss(probs: FloatArray, truth: IntArray) -> FloatArray:
    """[n, M] each expert's log-loss on the true label (smoothed)."""
    k = probs.shape[2]
    tp = np.take_along_axis(probs, truth[:, None, None], axis=2)[:, :, 0]
    return as_float(-np.log((tp + LOSS_SMOOTHING) / (1.0 + k * LOSS_SMOOTHING)))


def quality_features(probs: FloatArray, quality: FloatArray) -> FloatArray:
    """[n, 2] inputs of one expert's quality model: raw Q and |p_top - 0.5| (|p - 0.5| when binary)."""
    return as_float(np.stack([quality, np.abs(probs.max(axis=1) - 0.5)], axis=1))


@dataclass(eq=False)
class QualityModel:
    """One expert's fitted quality model; records the rows it was trained on."""

    expert: int
    train_rows: IntArray
    model: Pipeline | None
    """None when the training target had a single class (then Q is that class's share)."""
    constant: float = 0.5

    def predict(self, probs: FloatArray, quality: FloatArray) -> FloatArray:
        """[n] P(loss below the training median) for the expert's evidence [n, K] and raw Q [n]."""
        if self.model is None:
            return as_float(np.full(quality.shape[0], self.constant))
        return as_float(self.model.predict_proba(quality_features(probs, quality))[:, 1])


def _make_quality_model() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def calibrated_quality(
    data: ExpertData, quality: FloatArray, train: IntArray, test: IntArray, seed: int
) -> tuple[FloatArray, list[QualityModel]]:
    """[N, M] calibrated Q for the fold (0 where absent; rows outside the fold left 0) and the models.

    Args:
        data: the study's data (evidence, truth).
        quality: [N, M] raw Q, already imputed from training rows.
        train, test: the fold's row indices; only ``train`` rows' truth is used.
        seed: seed of the inner cross-fitting split.
    """
    out = np.zeros(quality.shape)
    models: list[QualityModel] = []
    loss = expert_loss(data.probs, data.truth)
    for m in range(data.n_experts):
        tr = train[data.mask[train, m]]
        te = test[data.mask[test, m]]
        target = loss[tr, m] < np.median(loss[tr, m])
        x_train = quality_features(data.probs[tr, m], quality[tr, m])
        counts = np.bincount(target.astype(np.int64), minlength=2)
        if counts.min() < 5:
            fitted = QualityModel(expert=m, train_rows=tr.copy(), model=None, constant=float(target.mean()))
            out[tr, m] = fitted.constant
        else:
            cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
            out[tr, m] = cross_val_predict(
                _make_quality_model(), x_train, target, cv=cv, method="predict_proba"
            )[:, 1]
            model = _make_quality_model().fit(x_train, target)
            fitted = QualityModel(expert=m, train_rows=tr.copy(), model=model)
        out[te, m] = fitted.predict(data.probs[te, m], quality[te, m])
        models.append(fitted)
    return as_float(out), models
