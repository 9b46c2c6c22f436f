"""Fusion styles: hand cases, batched prediction equal to one-at-a-time, the router's exact gradient."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from saboteur.errors import SaboteurError
from saboteur.eval.permutation import TrainingSet, fit_style, simulate_experts, styles
from saboteur.eval.permutation.moe import Router, balanced_weights, log_evidence, router_loss
from saboteur.eval.permutation.styles import stack_features


def training_set(n: int = 600, quality: str = "informative", seed: int = 0) -> TrainingSet:
    data = simulate_experts(n, accuracies=(0.55, 0.6, 0.65), n_labels=3, quality=quality, seed=seed)  # type: ignore[arg-type]
    return TrainingSet(
        rows=np.arange(n),
        probs=data.probs,
        mask=data.mask,
        quality=np.nan_to_num(data.quality),
        truth=data.truth,
        n_labels=data.n_labels,
    )


def test_registered_styles() -> None:
    assert styles()[:5] == ["noq", "weighted", "lr", "hgb", "moe"]
    with pytest.raises(SaboteurError, match="unknown fusion style"):
        fit_style("bogus", training_set(30))


def test_weighted_and_noq_by_hand() -> None:
    # one clip, two experts: expert 0 says label 0 (.9), expert 1 says label 1 (.6)
    probs = np.array([[[0.9, 0.1], [0.4, 0.6]]])
    mask = np.ones((1, 2), dtype=bool)
    quality = np.array([[[1.0, 0.0]], [[0.1, 0.9]], [[0.0, 0.0]], [[0.5, 0.5]]])  # 4 quality copies
    ts = TrainingSet(np.arange(1), probs, mask, quality[0], np.array([0]), 2)
    weighted = fit_style("weighted", ts)
    # weights (1, 0) -> label 0; (.1, .9): .09+.36=.45 vs .01+.54=.55 -> label 1;
    # all zero -> plain mean (.65 vs .35) -> label 0; equal -> label 0
    np.testing.assert_array_equal(weighted.predict(probs, mask, quality), [[0], [1], [0], [0]])
    noq = fit_style("noq", ts)
    np.testing.assert_array_equal(noq.predict(probs, mask, quality), [[0], [0], [0], [0]])
    # an absent expert never counts, whatever its quality
    absent = np.array([[True, False]])
    np.testing.assert_array_equal(weighted.predict(probs, absent, quality[1:2]), [[0]])
    with pytest.raises(SaboteurError, match="non-negative"):
        fit_style("weighted", TrainingSet(np.arange(1), probs, mask, -quality[0], np.array([0]), 2))


def test_stack_features_layout() -> None:
    probs = np.arange(12, dtype=float).reshape(2, 2, 3) / 10
    mask = np.array([[True, False], [True, True]])
    quality = np.array([[[0.5, 0.0], [1.0, 2.0]]])
    x = stack_features(probs, mask, quality)
    assert x.shape == (2, 2 * 2 * 3 + 2 * 2)
    np.testing.assert_allclose(x[1, :6], probs[1].ravel())
    np.testing.assert_allclose(x[1, 6:8], [1.0, 1.0])
    np.testing.assert_allclose(x[1, 8:10], [1.0, 2.0])
    np.testing.assert_allclose(x[1, 10:], np.concatenate([1.0 * probs[1, 0], 2.0 * probs[1, 1]]))


@pytest.mark.parametrize("name", ["weighted", "lr", "hgb", "moe"])
def test_batched_prediction_equals_one_copy_at_a_time(name: str) -> None:
    ts = training_set(300)
    fitted = fit_style(name, ts)
    assert fitted.name == name
    rng = np.random.default_rng(5)
    test = simulate_experts(80, accuracies=(0.55, 0.6, 0.65), n_labels=3, seed=9)
    copies = rng.random((6, 80, 3))
    batched = fitted.predict(test.probs, test.mask, copies)
    single = np.stack([fitted.predict(test.probs, test.mask, c[None])[0] for c in copies])
    np.testing.assert_array_equal(batched, single)
    assert batched.shape == (6, 80)


def test_router_gradient_is_exact() -> None:
    ts = training_set(120)
    m = ts.mask.shape[1]
    rng = np.random.default_rng(2)
    x = np.concatenate([ts.mask.astype(float), ts.quality], axis=1)
    logp = log_evidence(ts.probs, ts.mask)
    weights = balanced_weights(ts.truth, ts.n_labels)
    args = (x, ts.mask, logp, ts.truth, weights)
    for _ in range(3):
        params = rng.normal(scale=0.7, size=m * 2 * m + m)
        err = check_grad(lambda p: router_loss(p, *args)[0], lambda p: router_loss(p, *args)[1], params)
        assert err < 1e-5


def test_balanced_weights_match_scikit_learn() -> None:
    from sklearn.utils.class_weight import compute_sample_weight

    truth = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(balanced_weights(truth, 4), compute_sample_weight("balanced", truth))


def test_router_learns_to_follow_the_expert_that_quality_marks() -> None:
    ts = training_set(1500, quality="informative")
    router = fit_fitted_router(ts)
    assert router.converged
    # high Q on expert 0 only -> most weight on expert 0; and symmetrically for expert 2
    mask = np.ones((1, 3), dtype=bool)
    w0 = router.weights(mask, np.array([[[1.0, 0.1, 0.1]]]))[0, 0]
    w2 = router.weights(mask, np.array([[[0.1, 0.1, 1.0]]]))[0, 0]
    assert w0.argmax() == 0 and w0[0] > 0.6
    assert w2.argmax() == 2 and w2[2] > 0.6
    # and that makes it more accurate than the quality-blind mean on fresh informative data
    test = simulate_experts(1500, accuracies=(0.55, 0.6, 0.65), n_labels=3, quality="informative", seed=4)
    q = np.nan_to_num(test.quality)[None]
    acc_router = (router.predict(test.probs, test.mask, q)[0] == test.truth).mean()
    acc_mean = (fit_style("noq", ts).predict(test.probs, test.mask, q)[0] == test.truth).mean()
    assert acc_router > acc_mean + 0.1


def fit_fitted_router(ts: TrainingSet) -> Router:
    fitted = fit_style("moe", ts)
    assert isinstance(fitted, Router)
    np.testing.assert_array_equal(fitted.train_rows, ts.rows)
    again = fit_style("moe", ts)
    assert isinstance(again, Router)
    np.testing.assert_array_equal(fitted.params, again.params)  # deterministic
    return fitted
