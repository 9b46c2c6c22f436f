"""Recalibrated tables and the ``calibrated`` fusion rules that fuse them.

``recalibrate_table`` replaces every agent's confidences by cross-fitted recalibrated ones (folds are
assigned per clip and shared by all agents, so no clip's fused decision uses a calibrator that saw that
clip). The agent's ranking is rescaled so that its primary label's score equals the recalibrated
probability of being right, and the other labels keep their ratio to it: the ranking's order and shape
stay the agent's, its weight in the vote becomes how often such a claim is actually right.

Fusion rules (registered on import of ``saboteur.eval.calibration``):

- ``calibrated``: the paper's confidence-weighted vote over Platt-recalibrated rankings;
- ``calibrated_temperature`` / ``calibrated_isotonic``: the same with those calibrators.

They use 5 folds and seed 0; call ``recalibrate_table`` for other settings. Clips without a known truth are
recalibrated by a calibrator fitted on all of the agent's labelled verdicts (they are never scored).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import clone

from saboteur.eval.calibration.recalibrate import (
    DEFAULT_FOLDS,
    CrossFit,
    assign_folds,
    cross_fit,
    make_calibrator,
)
from saboteur.eval.fusion import confidence_rule, fusion_rule
from saboteur.eval.table import BoolArray, FloatArray, IntArray, VerdictTable, as_float, as_int


@dataclass(frozen=True)
class Recalibrated:
    """A table whose confidences are cross-fitted recalibrated ones, with the fits behind them."""

    table: VerdictTable
    method: str
    clip_fold: IntArray
    """[N] fold of each clip (-1: no known truth, recalibrated by a calibrator fitted on all folds)."""
    rows: dict[str, IntArray]
    """agent -> table rows of its scored verdicts (the order of ``fits[agent]``' arrays)."""
    fits: dict[str, CrossFit]
    """agent -> its cross-fit over its scored verdicts."""


def recalibrate_table(
    table: VerdictTable, method: str = "platt", folds: int = DEFAULT_FOLDS, seed: int = 0
) -> Recalibrated:
    """Cross-fitted recalibration of every agent of ``table`` (see the module docstring)."""
    template = make_calibrator(method)
    labelled = np.flatnonzero(table.has_truth)
    clip_fold = np.full(table.n_clips, -1, dtype=np.int64)
    clip_fold[labelled] = assign_folds(as_int(labelled), folds, seed)
    confidence = table.confidence.copy()
    rows_of: dict[str, IntArray] = {}
    fits: dict[str, CrossFit] = {}
    for col, agent in enumerate(table.agents):
        rows = as_int(np.flatnonzero(table.mask[:, col] & table.has_truth))
        if np.unique(clip_fold[rows]).size < 2:
            continue  # too few labelled verdicts to cross-fit: keep the stated confidences
        fit = cross_fit(
            template, table.confidence[rows, col], table.agent_correct[rows, col], folds=clip_fold[rows]
        )
        confidence[rows, col] = fit.calibrated
        unlabelled = np.flatnonzero(table.mask[:, col] & ~table.has_truth)
        if unlabelled.size:
            full = clone(template).fit(table.confidence[rows, col], table.agent_correct[rows, col])
            confidence[unlabelled, col] = np.clip(full.predict(table.confidence[unlabelled, col]), 0.0, 1.0)
        rows_of[agent], fits[agent] = rows, fit
    scores = rescale_scores(table, as_float(confidence))
    new_table = replace(table, confidence=as_float(confidence), scores=scores)
    return Recalibrated(new_table, method, as_int(clip_fold), rows_of, fits)


def rescale_scores(table: VerdictTable, confidence: FloatArray) -> FloatArray:
    """[N, M, K] rankings rescaled so that each primary label scores ``confidence`` (ratios kept)."""
    old = table.confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(old > 0, confidence / np.where(old > 0, old, 1.0), 0.0)
    scaled = table.scores * ratio[:, :, None]
    zero = (old <= 0)[:, :, None]
    scaled = np.where(zero, table.primary_onehot * confidence[:, :, None], scaled)
    return as_float(np.clip(np.where(table.mask[:, :, None], scaled, table.scores), 0.0, 1.0))


_CACHE: weakref.WeakKeyDictionary[VerdictTable, dict[str, VerdictTable]] = weakref.WeakKeyDictionary()


def cached_recalibration(table: VerdictTable, method: str) -> VerdictTable:
    """``recalibrate_table(table, method).table``, computed once per table (attribution fuses 2^M times)."""
    per_table = _CACHE.setdefault(table, {})
    if method not in per_table:
        per_table[method] = recalibrate_table(table, method).table
    return per_table[method]


@fusion_rule("calibrated")
def calibrated_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Confidence-weighted vote over cross-fitted Platt-recalibrated rankings."""
    return confidence_rule(cached_recalibration(table, "platt"), mask)


@fusion_rule("calibrated_temperature")
def calibrated_temperature_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Confidence-weighted vote over cross-fitted temperature-scaled rankings."""
    return confidence_rule(cached_recalibration(table, "temperature"), mask)


@fusion_rule("calibrated_isotonic")
def calibrated_isotonic_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Confidence-weighted vote over cross-fitted isotonic-recalibrated rankings."""
    return confidence_rule(cached_recalibration(table, "isotonic"), mask)
