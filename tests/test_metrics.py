"""Metrics cross-checked against scikit-learn, and the bootstrap interval against plain resampling."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from saboteur.eval.bootstrap import bootstrap_means, mean_interval
from saboteur.eval.metrics import accuracy, balanced_accuracy, macro_f1, top_k_curve
from saboteur.eval.metrics import confusion_matrix as our_confusion


# one class is never true, on purpose: scikit-learn warns about it
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(5))
def test_against_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 6
    truth = rng.integers(0, k - 1, 300)  # class k-1 never true: must not enter balanced accuracy
    pred = np.where(rng.random(300) < 0.5, truth, rng.integers(0, k, 300))
    assert accuracy(truth, pred) == pytest.approx(accuracy_score(truth, pred))
    assert balanced_accuracy(truth, pred, k) == pytest.approx(balanced_accuracy_score(truth, pred))
    assert macro_f1(truth, pred, k) == pytest.approx(f1_score(truth, pred, average="macro"))
    ours = our_confusion(truth, pred, k)
    assert ours[:, :k].tolist() == confusion_matrix(truth, pred, labels=list(range(k))).tolist()


def test_no_prediction_counts_as_wrong() -> None:
    truth = np.array([0, 1, 1])
    pred = np.array([0, -1, 1])
    assert accuracy(truth, pred) == pytest.approx(2 / 3)
    assert balanced_accuracy(truth, pred, 2) == pytest.approx((1 + 0.5) / 2)
    assert our_confusion(truth, pred, 2).tolist() == [[1, 0, 0], [0, 1, 1]]


def test_top_k_curve() -> None:
    # positions of the truth in 5 rankings over 3 labels; 3 = not covered at any k
    curve = top_k_curve(np.array([0, 1, 0, 2, 3]), 3)
    assert curve.tolist() == pytest.approx([0.4, 0.6, 0.8])


def test_multinomial_bootstrap_matches_index_resampling() -> None:
    rng = np.random.default_rng(1)
    flags = rng.random(500) < 0.3
    fast = bootstrap_means(flags, 4000, np.random.default_rng(2))
    idx = np.random.default_rng(3).integers(0, flags.size, (4000, flags.size))
    slow = flags[idx].mean(axis=1)
    assert fast.mean() == pytest.approx(slow.mean(), abs=0.003)
    assert fast.std() == pytest.approx(slow.std(), rel=0.08)
    interval = mean_interval(flags)
    assert interval.low < flags.mean() < interval.high
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * np.sqrt(0.3 * 0.7 / 500), rel=0.15)


def test_bootstrap_of_many_distinct_values_uses_indices() -> None:
    values = np.random.default_rng(0).normal(size=1000)
    interval = mean_interval(values, resamples=2000)
    assert interval.high - interval.low == pytest.approx(2 * 1.96 / np.sqrt(1000), rel=0.15)
    assert mean_interval(np.array([])).n == 0
