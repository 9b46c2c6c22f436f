"""Calibration figures: hand-computed cases, cross-checks against scikit-learn/scipy, resampling weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from saboteur.eval.calibration import (
    adaptive,
    auprc,
    aurc,
    auroc,
    bin_stats,
    brier,
    equal_mass,
    equal_width,
    expected_calibration_error,
    maximum_calibration_error,
    multiclass_brier,
    nll,
    pearson,
    risk_coverage,
    selective_accuracy,
    spearman,
)
from saboteur.eval.calibration.scores import optimal_aurc
from saboteur.eval.calibration.weights import bootstrap_weights


def _random(seed: int, n: int = 2000, discrete: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    conf = rng.random(n)
    if discrete:
        conf = np.round(conf * 20) / 20  # many ties, as verbalised confidences have
    correct = rng.random(n) < conf**1.5
    return conf, correct


# -- hand-computed cases -------------------------------------------------------------------------
def test_equal_width_bins_follow_the_contract_edges() -> None:
    conf = np.array([0.0, 0.05, 0.1, 0.3, 30 / 100, 0.7, 0.99, 1.0])
    # 0.3 (stored as 0.29999999999999998) is on the edge of [0.3, 0.4); 1.0 falls in the last bin
    assert equal_width(conf, 10).index.tolist() == [0, 0, 1, 3, 3, 7, 9, 9]
    assert equal_width(np.arange(101) / 100, 10).index.tolist() == [min(k // 10, 9) for k in range(101)]


def test_ece_and_mce_small_case_by_hand() -> None:
    conf = np.array([0.95, 0.9, 0.35, 0.3, 0.32, 1.0])
    correct = np.array([1, 0, 1, 0, 0, 1], dtype=bool)
    # bin 9: conf {0.95, 0.9, 1.0} mean 0.95, acc 2/3 -> gap 0.28333; bin 3: {0.35, 0.3, 0.32} mean 0.32333,
    # acc 1/3 -> gap 0.01; ECE = (3 * 0.283333 + 3 * 0.01) / 6
    assert expected_calibration_error(conf, correct) == pytest.approx((3 * (0.95 - 2 / 3) + 3 * 0.01) / 6)
    assert maximum_calibration_error(conf, correct) == pytest.approx(0.95 - 2 / 3)
    stats = bin_stats(equal_width(conf), conf, correct)
    assert stats.count[0].tolist() == [0, 0, 0, 3, 0, 0, 0, 0, 0, 3]
    # empty bins have no accuracy (NaN), never 0
    assert np.isnan(stats.accuracy[0][[0, 1, 2, 4, 5, 6, 7, 8]]).all()
    assert brier(conf, correct)[0] == pytest.approx(np.mean((conf - correct) ** 2))


def test_risk_coverage_aurc_and_selective_accuracy_by_hand() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 0, 1, 0], dtype=bool)
    curve = risk_coverage(conf, correct)
    assert curve.coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert curve.risk == pytest.approx([0.0, 0.5, 1 / 3, 0.5])
    assert aurc(conf, correct)[0] == pytest.approx((0 + 0.5 + 1 / 3 + 0.5) / 4)
    assert selective_accuracy(conf, correct, 0.5)[0] == pytest.approx(0.5)
    assert selective_accuracy(conf, correct, 0.75)[0] == pytest.approx(2 / 3)
    assert selective_accuracy(conf, correct, 1.0)[0] == pytest.approx(0.5)
    # a tie group cut by the boundary counts in proportion: 3 tied verdicts, 2 right, coverage 1/3
    tied = selective_accuracy(np.array([0.5, 0.5, 0.5]), np.array([1, 1, 0], dtype=bool), 1 / 3)
    assert tied[0] == pytest.approx(2 / 3)
    # a perfect ranking reaches the optimal AURC of its error rate (up to discreteness)
    n = 10_000
    perfect = aurc(np.linspace(1, 0, n), np.arange(n) < 0.7 * n)[0]
    assert perfect == pytest.approx(optimal_aurc(np.array([0.3]))[0], abs=1e-3)


def test_auroc_with_ties_by_hand() -> None:
    score = np.array([0.9, 0.5, 0.5, 0.1])
    positive = np.array([1, 1, 0, 0], dtype=bool)
    # pairs (pos, neg): (0.9, 0.5) 1, (0.9, 0.1) 1, (0.5, 0.5) 1/2, (0.5, 0.1) 1 -> 3.5 / 4
    assert auroc(score, positive)[0] == pytest.approx(3.5 / 4)
    assert np.isnan(auroc(score, np.ones(4, dtype=bool))[0])


def test_nll_floor_and_multiclass_brier_by_hand() -> None:
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    truth = np.array([0, 1])
    assert nll(probs, truth)[0] == pytest.approx((np.log(2) - np.log(1e-4)) / 2)
    assert multiclass_brier(probs, truth)[0] == pytest.approx(((0.25 + 0.25) + (1 + 1)) / 2)


# -- cross-checks against scikit-learn and scipy on random data ----------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("discrete", [False, True])
def test_against_sklearn(seed: int, discrete: bool) -> None:
    conf, correct = _random(seed, discrete=discrete)
    weights = np.random.default_rng(seed + 10).integers(0, 4, conf.size).astype(float)
    assert brier(conf, correct)[0] == pytest.approx(brier_score_loss(correct, conf))
    assert brier(conf, correct, weights)[0] == pytest.approx(
        brier_score_loss(correct, conf, sample_weight=weights)
    )
    assert auroc(conf, correct)[0] == pytest.approx(roc_auc_score(correct, conf))
    assert auroc(conf, correct, weights)[0] == pytest.approx(
        roc_auc_score(correct, conf, sample_weight=weights)
    )
    assert auprc(conf, correct)[0] == pytest.approx(average_precision_score(correct, conf))
    assert auprc(conf, correct, weights)[0] == pytest.approx(
        average_precision_score(correct, conf, sample_weight=weights)
    )
    quality = np.clip(conf + np.random.default_rng(seed).normal(0, 0.2, conf.size), 0, 1)
    assert spearman(quality, conf)[0] == pytest.approx(spearmanr(quality, conf).statistic)
    assert pearson(quality, conf)[0] == pytest.approx(pearsonr(quality, conf).statistic)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reliability_curve_against_calibration_curve(seed: int) -> None:
    conf, correct = _random(seed, n=3000)  # continuous: no confidence sits on an edge
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    stats = bin_stats(equal_width(conf), conf, correct)
    filled = stats.count[0] > 0
    np.testing.assert_allclose(stats.accuracy[0][filled], prob_true)
    np.testing.assert_allclose(stats.mean_confidence[0][filled], prob_pred)
    ece = expected_calibration_error(conf, correct)
    counts = stats.count[0][filled]
    assert ece == pytest.approx(np.sum(counts / conf.size * np.abs(prob_true - prob_pred)))


def test_multiclass_scores_against_sklearn() -> None:
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(6), size=500)
    truth = rng.integers(0, 6, 500)
    assert multiclass_brier(probs, truth)[0] == pytest.approx(brier_score_loss(truth, probs, labels=range(6)))
    assert nll(probs, truth)[0] == pytest.approx(log_loss(truth, probs, labels=range(6)))


def test_equal_mass_and_adaptive_bins() -> None:
    conf, correct = _random(3, n=5000)
    mass = equal_mass(conf, 10)
    counts = np.bincount(mass.index, minlength=mass.n_bins)
    assert mass.n_bins == 10 and counts.min() >= 499 and counts.max() <= 501
    sweep = adaptive(conf, correct)
    stats = bin_stats(sweep, conf, correct)
    assert sweep.n_bins >= 2
    assert np.all(np.diff(stats.accuracy[0]) >= 0)  # the sweep keeps accuracy monotone
    finer = bin_stats(equal_mass(conf, sweep.n_bins + 1), conf, correct)
    assert np.any(np.diff(finer.accuracy[0]) < 0)  # and one more bin would break it


# -- resampling weights --------------------------------------------------------------------------
def test_weights_equal_repeating_the_verdicts() -> None:
    """Integer weights give exactly the figures of the sample with each verdict repeated that often."""
    conf, correct = _random(7, n=400, discrete=True)
    quality = np.round(np.random.default_rng(7).random(400), 1)
    w = next(bootstrap_weights(conf.size, 3, np.random.default_rng(0)))
    assert w.shape == (3, 400) and np.all(w.sum(axis=1) == 400)
    for row in w:
        reps = row.astype(int)
        c, y, q = np.repeat(conf, reps), np.repeat(correct, reps), np.repeat(quality, reps)
        for func, args, rep_args in [
            (auroc, (conf, correct), (c, y)),
            (auprc, (conf, correct), (c, y)),
            (aurc, (conf, correct), (c, y)),
            (brier, (conf, correct), (c, y)),
            (spearman, (quality, conf), (q, c)),
        ]:
            assert func(*args, row[None, :])[0] == pytest.approx(func(*rep_args)[0])
        binning = equal_width(conf)
        assert bin_stats(binning, conf, correct, row[None, :]).ece[0] == pytest.approx(
            expected_calibration_error(c, y)
        )
        assert selective_accuracy(conf, correct, 0.3, row[None, :])[0] == pytest.approx(
            selective_accuracy(c, y, 0.3)[0]
        )
