"""Classification metrics as pure array functions (predictions and truths are label indices).

Rows whose truth is unknown (negative) are left out by the caller; a prediction of -1 (no prediction) is
always wrong.
"""

from __future__ import annotations

import numpy as np

from saboteur.eval.table import FloatArray, IntArray


def confusion_matrix(truth: IntArray, pred: IntArray, n_labels: int) -> IntArray:
    """[K, K+1] counts: row = true label, column = predicted label, last column = no prediction."""
    cols = np.where(pred >= 0, pred, n_labels)
    flat = truth * (n_labels + 1) + cols
    counts = np.bincount(flat, minlength=n_labels * (n_labels + 1))
    return counts.reshape(n_labels, n_labels + 1).astype(np.int64)


def accuracy(truth: IntArray, pred: IntArray) -> float:
    """Share of rows where the prediction equals the truth (NaN for no rows)."""
    return float(np.mean(truth == pred)) if truth.size else float("nan")


def balanced_accuracy(truth: IntArray, pred: IntArray, n_labels: int) -> float:
    """Mean recall over the classes present in the truth."""
    if not truth.size:
        return float("nan")
    cm = confusion_matrix(truth, pred, n_labels)
    support = cm.sum(axis=1)
    present = support > 0
    recall = np.diag(cm[:, :n_labels])[present] / support[present]
    return float(recall.mean())


def macro_f1(truth: IntArray, pred: IntArray, n_labels: int) -> float:
    """Unweighted mean F1 over the classes present in the truth or the predictions (scikit-learn's set)."""
    if not truth.size:
        return float("nan")
    cm = confusion_matrix(truth, pred, n_labels)[:, :n_labels]
    tp = np.diag(cm).astype(np.float64)
    support = confusion_matrix(truth, pred, n_labels).sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    present = (support > 0) | (predicted > 0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean())


def top_k_curve(truth_position: IntArray, n_labels: int) -> FloatArray:
    """[K] coverage: share of rows whose truth is among the k best fused labels, k = 1..K."""
    if not truth_position.size:
        return np.full(n_labels, np.nan)
    counts = np.bincount(np.clip(truth_position, 0, n_labels), minlength=n_labels + 1)[:n_labels]
    return np.cumsum(counts) / truth_position.size
