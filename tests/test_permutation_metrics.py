"""The diagnostic's statistics: hand-computed small cases and cross-checks against scikit-learn/numpy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from saboteur.eval.permutation.metrics import (
    alignment_rho,
    balanced_accuracy_batch,
    competitiveness,
    oracle_predictions,
    permutation_p_value,
    permute_within_present,
)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_balanced_accuracy_batch_matches_scikit_learn_row_by_row() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 5, size=200)
    truth[truth == 4] = 3  # a label never true: it must not count as a class
    pred = rng.integers(0, 5, size=(7, 200))
    got = balanced_accuracy_batch(pred, truth)
    want = [balanced_accuracy_score(truth, row) for row in pred]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_balanced_accuracy_small_case_by_hand() -> None:
    truth = np.array([0, 0, 0, 1])
    pred = np.array([[0, 0, 1, 1], [0, 0, 0, 0]])
    # row 0: recall 2/3 and 1 -> 5/6; row 1: recall 1 and 0 -> 1/2
    np.testing.assert_allclose(balanced_accuracy_batch(pred, truth), [5 / 6, 0.5])


def test_p_value_formula() -> None:
    broken = np.array([0.60, 0.70, 0.80, 0.65])
    assert permutation_p_value(0.70, broken) == pytest.approx(3 / 5)  # 0.70 and 0.80 reach it
    assert permutation_p_value(0.90, broken) == pytest.approx(1 / 5)  # none: the smallest possible
    assert permutation_p_value(0.10, broken) == pytest.approx(1.0)


def test_competitiveness_is_the_median_margin_of_true_class_probability() -> None:
    # 3 clips, 3 experts, 2 labels; true-class probabilities per clip:
    # clip 0 truth 0: .9 .6 .2 -> margin .3; clip 1 truth 1: .5 .5 .1 -> 0; clip 2 truth 0: .8 .1 .3 -> .5
    p0 = np.array([0.9, 0.6, 0.2])
    p1 = np.array([0.5, 0.5, 0.1])
    p2 = np.array([0.8, 0.1, 0.3])
    probs = np.zeros((3, 3, 2))
    probs[0, :, 0], probs[0, :, 1] = p0, 1 - p0
    probs[1, :, 1], probs[1, :, 0] = p1, 1 - p1
    probs[2, :, 0], probs[2, :, 1] = p2, 1 - p2
    truth = np.array([0, 1, 0])
    assert competitiveness(probs, truth) == pytest.approx(0.3)


def test_oracle_takes_a_correct_expert_else_the_most_confident_in_the_truth() -> None:
    # labels 0..2. Clip 0 (truth 0): expert 1 is right -> the oracle answers 0.
    # Clip 1 (truth 1): nobody is right; expert 0 gives the truth .4 (its top is 2), expert 1 gives it .1
    # (its top is 0) -> the oracle follows expert 0 and answers 2.
    probs = np.array(
        [
            [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]],
            [[0.05, 0.4, 0.55], [0.6, 0.1, 0.3]],
        ]
    )
    truth = np.array([0, 1])
    np.testing.assert_array_equal(oracle_predictions(probs, truth), [0, 2])


def test_alignment_rho_is_the_mean_pearson_correlation() -> None:
    rng = np.random.default_rng(0)
    q = rng.random((50, 2))
    correct = rng.random((50, 2)) < q
    want = np.mean([np.corrcoef(q[:, m], correct[:, m])[0, 1] for m in range(2)])
    assert alignment_rho(q, correct) == pytest.approx(want)
    q[:, 1] = 0.5  # constant Q: that expert is skipped, not a NaN
    assert alignment_rho(q, correct) == pytest.approx(np.corrcoef(q[:, 0], correct[:, 0])[0, 1])


def test_permutations_shuffle_only_among_present_rows() -> None:
    rng = np.random.default_rng(1)
    n = 40
    quality = rng.random((n, 2))
    mask = np.ones((n, 2), dtype=bool)
    mask[::4, 1] = False
    quality[~mask] = -1.0  # fill value of absent rows: must stay where it is
    out = permute_within_present(quality, mask, 64, np.random.default_rng(7))
    assert out.shape == (64, n, 2)
    for m in range(2):
        present = mask[:, m]
        for copy in out[:, :, m]:
            np.testing.assert_array_equal(np.sort(copy[present]), np.sort(quality[present, m]))
            np.testing.assert_array_equal(copy[~present], -1.0)
    # the copies differ from each other and from the original, and experts are shuffled independently
    assert len({tuple(c) for c in out[:, :, 0]}) == 64
    order0 = np.argsort(out[:, mask[:, 1], 0], axis=1)
    order1 = np.argsort(out[:, mask[:, 1], 1], axis=1)
    assert not np.array_equal(order0, order1)
    again = permute_within_present(quality, mask, 64, np.random.default_rng(7))
    np.testing.assert_array_equal(out, again)
