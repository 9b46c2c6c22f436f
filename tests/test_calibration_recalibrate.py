"""Recalibration: calibrators, leak-free cross-fitting, the ``calibrated`` fusion rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.base import clone

from saboteur.errors import SaboteurError
from saboteur.eval.calibration import (
    CALIBRATORS,
    TemperatureScaling,
    cross_fit,
    expected_calibration_error,
    recalibrate_table,
)
from saboteur.eval.fusion import confidence_rule, fuse, rules
from saboteur.eval.table import VerdictTable
from saboteur.labels import make_label_set


def overconfident_agent(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Stated confidence far above the true chance of being right (true p = sigmoid(logit(c) / 3))."""
    rng = np.random.default_rng(seed)
    stated = np.round(rng.uniform(0.5, 1.0, n), 2)
    truly = expit(logit(np.clip(stated, 1e-4, 1 - 1e-4)) / 3.0)
    return stated, rng.random(n) < truly


def small_table(seed: int, n: int = 400) -> VerdictTable:
    """Two agents over 3 labels: agent ``a`` well calibrated, agent ``b`` overconfident and often wrong."""
    rng = np.random.default_rng(seed)
    labels = make_label_set(["x", "y", "z"])
    truth = rng.integers(0, 3, n)
    conf_a = rng.uniform(0.4, 0.9, n)
    right_a = rng.random(n) < conf_a
    conf_b = rng.uniform(0.8, 1.0, n)
    right_b = rng.random(n) < 0.35
    conf = np.stack([conf_a, conf_b], axis=1)
    right = np.stack([right_a, right_b], axis=1)
    primary = np.where(right, truth[:, None], (truth[:, None] + rng.integers(1, 3, (n, 2))) % 3)
    scores = np.zeros((n, 2, 3))
    rank = np.full((n, 2, 3), 3)
    rows, cols = np.meshgrid(np.arange(n), np.arange(2), indexing="ij")
    scores[rows, cols, primary] = conf
    rank[rows, cols, primary] = 0
    other = (primary + 1) % 3
    scores[rows, cols, other] = conf * 0.5
    rank[rows, cols, other] = 1
    return VerdictTable(
        clip_ids=[f"c{i}" for i in range(n)],
        agents=["a", "b"],
        labels=labels,
        scores=scores,
        rank=rank,
        primary=primary,
        confidence=conf,
        quality=rng.random((n, 2)),
        mask=np.ones((n, 2), dtype=bool),
        truth=truth,
    )


@pytest.mark.parametrize("method", list(CALIBRATORS))
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_recalibration_never_increases_held_out_ece_of_an_overconfident_agent(method: str, seed: int) -> None:
    stated, correct = overconfident_agent(seed)
    fit = cross_fit(method, stated, correct, folds=5, seed=seed)
    before = expected_calibration_error(stated, correct)
    after = expected_calibration_error(fit.calibrated, correct)
    assert before > 0.1  # the agent really is overconfident
    assert after <= before
    assert after < 0.04


@pytest.mark.parametrize("method", list(CALIBRATORS))
def test_cross_fitting_is_leak_free(method: str) -> None:
    stated, correct = overconfident_agent(9, n=600)
    clips = np.arange(600) // 2  # two verdicts per clip: a clip never straddles folds
    fit = cross_fit(method, stated, correct, folds=4, groups=clips, seed=1)
    assert fit.leak_free()
    everyone = np.arange(600)
    for fold, fitted_on in fit.fitted_on.items():
        scored = np.flatnonzero(fit.fold == fold)
        assert np.intersect1d(fitted_on, scored).size == 0
        assert np.array_equal(np.union1d(fitted_on, scored), everyone)
        # the verdicts of a fold are scored by that fold's calibrator, the one that never saw them
        np.testing.assert_allclose(fit.calibrated[scored], fit.calibrators[fold].predict(stated[scored]))
    for clip in range(300):
        assert fit.fold[2 * clip] == fit.fold[2 * clip + 1]


@pytest.mark.parametrize("method", list(CALIBRATORS))
def test_a_verdicts_own_outcome_never_moves_its_recalibrated_confidence(method: str) -> None:
    """Behavioural proof of no leak: flipping verdict i's outcome leaves its held-out value unchanged."""
    stated, correct = overconfident_agent(4, n=500)
    base = cross_fit(method, stated, correct, folds=5, seed=0)
    for i in (17, 499):
        flipped = correct.copy()
        flipped[i] = ~flipped[i]
        again = cross_fit(method, stated, flipped, folds=5, seed=0)
        assert again.calibrated[i] == pytest.approx(base.calibrated[i], abs=1e-12)
        # while a fitted-on verdict's outcome does move other folds (the test can fail)
        assert not np.allclose(again.calibrated, base.calibrated)


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    stated = rng.uniform(0.05, 0.95, 40_000)
    correct = rng.random(stated.size) < expit(logit(stated) / 2.0)
    model = TemperatureScaling().fit(stated, correct)
    assert model.temperature_ == pytest.approx(2.0, rel=0.05)
    assert model.predict_proba(stated[:5])[:, 1] == pytest.approx(model.predict(stated[:5]))
    assert clone(model).get_params() == model.get_params()


def test_one_class_training_folds_get_a_constant() -> None:
    fit = cross_fit("platt", np.linspace(0.1, 0.9, 20), np.ones(20, dtype=bool), folds=4)
    assert np.all(fit.calibrated == 1.0)


def test_too_few_clips_is_a_clear_error() -> None:
    with pytest.raises(SaboteurError, match="too few"):
        cross_fit("isotonic", np.array([0.5, 0.6]), np.array([True, False]), folds=5)


def test_recalibrated_table_shares_clip_folds_and_keeps_rankings() -> None:
    table = small_table(0)
    recal = recalibrate_table(table, "isotonic", folds=5, seed=3)
    for agent, fit in recal.fits.items():
        assert fit.leak_free()
        np.testing.assert_array_equal(fit.fold, recal.clip_fold[recal.rows[agent]])
    new = recal.table
    # the primary label scores the recalibrated confidence, the runner-up keeps its ratio (0.5)
    rows, cols = np.nonzero(table.mask)
    np.testing.assert_allclose(new.scores[rows, cols, table.primary[rows, cols]], new.confidence[rows, cols])
    runner_up = (table.primary + 1) % 3
    np.testing.assert_allclose(
        new.scores[rows, cols, runner_up[rows, cols]], 0.5 * new.confidence[rows, cols]
    )
    # the overconfident agent b is pulled down towards its real accuracy (0.35)
    assert new.confidence[:, 1].mean() == pytest.approx(table.agent_correct[:, 1].mean(), abs=0.05)


def test_calibrated_fusion_rule_fuses_recalibrated_confidences() -> None:
    assert {"calibrated", "calibrated_temperature", "calibrated_isotonic"} <= set(rules())
    table = small_table(1)
    fused = fuse(table, "calibrated")
    expected = confidence_rule(recalibrate_table(table, "platt").table, table.mask)
    np.testing.assert_allclose(fused.scores, expected)
    plain = fuse(table, "confidence")
    accuracy = {
        name: float(np.mean(result.top1 == table.truth))
        for name, result in (("plain", plain), ("cal", fused))
    }
    # b's confident errors no longer outvote a: recalibration fuses better on this table
    assert accuracy["cal"] > accuracy["plain"] + 0.05
