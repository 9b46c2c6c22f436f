"""The protocol on simulated data with a known answer, its leakage guarantees, and the positive controls."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from saboteur.errors import SaboteurError
from saboteur.eval.permutation import (
    LeakageError,
    PermutationSettings,
    check_no_leak,
    iter_folds,
    permutation_test,
    run_fold,
    simulate_experts,
)
from saboteur.eval.permutation.controls import QualityModel, calibrated_quality, corrupt
from saboteur.eval.permutation.moe import Router
from saboteur.eval.permutation.protocol import impute_quality
from saboteur.eval.permutation.styles import Stacker


@pytest.mark.parametrize("fusion", ["weighted", "moe"])
def test_quality_independent_of_correctness_gives_uniform_p_values(fusion: str) -> None:
    settings = PermutationSettings(fusion=fusion, permutations=49, folds=3, seeds=1)
    p_values = []
    for seed in range(50):
        data = simulate_experts(240, accuracies=(0.5, 0.6, 0.7), n_labels=3, quality="independent", seed=seed)
        result = permutation_test(data, settings.model_copy(update={"seed": seed}))
        p_values.append(result.p_value_median)
    p = np.asarray(p_values)
    assert 0.0 <= (p < 0.05).mean() <= 0.15
    # near-uniform, not merely "rarely small": the p-values spread over the whole unit interval
    assert 0.3 < np.median(p) < 0.7 and (p > 0.5).mean() > 0.3


@pytest.mark.parametrize("fusion", ["weighted", "lr", "moe"])
def test_quality_that_identifies_the_right_expert_gives_a_large_significant_gap(fusion: str) -> None:
    data = simulate_experts(900, accuracies=(0.5, 0.6, 0.7), n_labels=4, quality="informative", seed=1)
    result = permutation_test(data, PermutationSettings(fusion=fusion, permutations=99, folds=3, seeds=1))
    assert result.gap_mean > 0.08
    assert result.p_value_median == pytest.approx(0.01)  # no permutation reached Clean-Q
    assert result.alignment_rho > 0.5
    # quality-blind fusion on the same data: nothing to lose
    blind = permutation_test(data, PermutationSettings(fusion="noq", permutations=20, folds=3, seeds=1))
    assert blind.gap_mean == 0.0 and blind.p_value_median == 1.0


def test_summary_pools_the_folds() -> None:
    data = simulate_experts(300, n_labels=3, quality="informative", seed=2)
    result = permutation_test(data, PermutationSettings(permutations=30, folds=3, seeds=2))
    assert len(result.folds) == 6 and len(result.broken) == 6 and len(result.broken[0]) == 30
    gaps = np.array([f.gap for f in result.folds])
    assert result.gap_mean == pytest.approx(gaps.mean()) and result.gap_std == pytest.approx(gaps.std(ddof=1))
    assert result.p_value_median == pytest.approx(np.median([f.p_value for f in result.folds]))
    pooled = np.mean(result.broken, axis=0)
    assert result.p_value_pooled == pytest.approx((1 + np.sum(pooled >= result.ba_clean)) / 31)
    for fold in result.folds:
        assert fold.gap == pytest.approx(fold.ba_clean - np.mean(result.broken[fold.seed * 3 + fold.fold]))
        assert fold.oracle_headroom == pytest.approx(fold.ba_oracle - fold.ba_clean)
    assert set(result.to_json()) >= {
        "ba_clean",
        "ba_broken_mean",
        "gap_mean",
        "gap_std",
        "p_value_median",
        "oracle_headroom",
        "alignment_rho",
        "competitiveness",
        "folds",
        "settings",
    }
    assert "broken" not in result.to_json()


@pytest.mark.parametrize("control", ["none", "corrupt", "calibrated"])
@pytest.mark.parametrize("fusion", ["noq", "weighted", "lr", "hgb", "moe"])
def test_no_test_row_reaches_any_fit(fusion: str, control: str) -> None:
    data = simulate_experts(150, n_labels=3, quality="informative", missing=0.1, seed=3)
    settings = PermutationSettings(
        fusion=fusion,
        permutations=5,
        folds=3,
        seeds=1,
        positive_control=control,
    )
    folds = list(iter_folds(data, settings))
    assert len(folds) == 3
    for outcome in folds:
        assert np.intersect1d(outcome.train_rows, outcome.test_rows).size == 0
        assert np.union1d(outcome.train_rows, outcome.test_rows).size == data.n_clips
        assert np.isin(outcome.eval_rows, outcome.test_rows).all()
        assert data.full_rows[outcome.eval_rows].all()
        assert outcome.fitted, "the fusion rule is always recorded"
        for fitted in outcome.fitted:
            assert np.intersect1d(fitted.train_rows, outcome.test_rows).size == 0
            assert np.isin(fitted.train_rows, outcome.train_rows).all()
        if control == "calibrated":
            assert sum(isinstance(f, QualityModel) for f in outcome.fitted) == data.n_experts


@pytest.mark.parametrize("fusion", ["lr", "moe"])
def test_fitted_rules_do_not_depend_on_test_rows(fusion: str) -> None:
    """Scrambling every test row's evidence, quality and truth leaves the fitted rule unchanged."""
    data = simulate_experts(400, n_labels=3, quality="informative", seed=4)
    train, test = np.arange(0, 400, 2), np.arange(1, 400, 2)
    rng = np.random.default_rng(0)
    probs, quality, truth = data.probs.copy(), data.quality.copy(), data.truth.copy()
    probs[test] = rng.dirichlet(np.ones(3), size=(test.size, 3))
    quality[test] = rng.random((test.size, 3))
    truth[test] = rng.integers(0, 3, size=test.size)
    scrambled = replace(data, probs=probs, quality=quality, truth=truth)
    settings = PermutationSettings(fusion=fusion, permutations=5)
    a = run_fold(data, settings, train, test).fitted[-1]
    b = run_fold(scrambled, settings, train, test).fitted[-1]
    if isinstance(a, Router) and isinstance(b, Router):
        np.testing.assert_array_equal(a.params, b.params)
    else:
        assert isinstance(a, Stacker) and isinstance(b, Stacker)
        np.testing.assert_array_equal(a.model[-1].coef_, b.model[-1].coef_)


def test_check_no_leak_refuses_an_overlap() -> None:
    model = QualityModel(expert=0, train_rows=np.array([1, 2, 3]), model=None)
    check_no_leak([model], np.array([4, 5]))
    with pytest.raises(LeakageError, match="1 test row"):
        check_no_leak([model], np.array([3, 4]))


def test_imputation_uses_training_rows_only() -> None:
    data = simulate_experts(6, accuracies=(0.5, 0.5), n_labels=2, seed=0)
    q = np.array([[0.1, 0.2], [0.3, np.nan], [0.5, 0.6], [np.nan, 0.9], [100.0, 100.0], [np.nan, np.nan]])
    out = impute_quality(data, q, np.array([0, 1, 2, 3]))
    # medians over training rows 0-3: expert 0 -> median(.1,.3,.5) = .3; expert 1 -> median(.2,.6,.9) = .6
    np.testing.assert_allclose(out[1], [0.3, 0.6])
    np.testing.assert_allclose(out[5], [0.3, 0.6])
    np.testing.assert_allclose(out[4], [100.0, 100.0])


def test_corrupt_control_breaks_half_of_each_group_and_q_marks_it() -> None:
    data = simulate_experts(200, accuracies=(0.6, 0.9), n_labels=4, seed=5)
    train, test = np.arange(0, 120), np.arange(120, 200)
    out, corrupted = corrupt(data, [train, test], 1, 0.5, np.random.default_rng(0))
    assert corrupted[train].sum() == 60 and corrupted[test].sum() == 40
    top = out.probs[:, 1].argmax(axis=1)
    assert (top[corrupted] != data.truth[corrupted]).all()
    np.testing.assert_array_equal(out.probs[~corrupted], data.probs[~corrupted])
    np.testing.assert_allclose(out.probs.sum(axis=2), 1.0)
    np.testing.assert_array_equal(out.quality[:, 1], 1.0 - corrupted)
    np.testing.assert_array_equal(out.quality[:, 0], 1.0)


def test_corrupt_control_is_detected_by_every_quality_aware_style() -> None:
    data = simulate_experts(600, accuracies=(0.6, 0.8), n_labels=3, quality="independent", seed=6)
    for fusion in ("weighted", "lr", "moe"):
        settings = PermutationSettings(
            fusion=fusion, permutations=39, folds=3, seeds=1, positive_control="corrupt"
        )
        result = permutation_test(data, settings)
        assert result.gap_mean > 0.05, fusion
        assert result.p_value_median == pytest.approx(1 / 40), fusion
        assert {f.corrupted_expert for f in result.folds} == {"expert1"}  # the more accurate expert


def test_calibrated_quality_predicts_low_loss_from_training_rows() -> None:
    data = simulate_experts(800, accuracies=(0.5, 0.7), n_labels=3, quality="informative", seed=7)
    train, test = np.arange(0, 600), np.arange(600, 800)
    q, models = calibrated_quality(data, np.nan_to_num(data.quality), train, test, seed=0)
    assert [m.expert for m in models] == [0, 1]
    assert ((q >= 0) & (q <= 1)).all()
    # informative raw Q -> the calibrated Q separates right from wrong experts on held-out rows
    correct = data.expert_correct[test]
    assert q[test][correct].mean() > q[test][~correct].mean() + 0.3


def test_bad_settings_are_clear_errors() -> None:
    data = simulate_experts(30, n_labels=3, seed=8)
    with pytest.raises(SaboteurError, match="unknown fusion style"):
        permutation_test(data, PermutationSettings(fusion="nope", permutations=2, folds=2, seeds=1))
    with pytest.raises(SaboteurError, match="folds"):
        permutation_test(data, PermutationSettings(permutations=2, folds=25, seeds=1))
    with pytest.raises(SaboteurError, match="unknown expert"):
        permutation_test(
            data,
            PermutationSettings(
                permutations=2, folds=2, seeds=1, positive_control="corrupt", corrupt_expert="ghost"
            ),
        )
