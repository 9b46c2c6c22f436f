"""The diagnostic's statistics as pure array functions with a batch axis for permutations.

Every function takes label indices / probabilities as arrays; the leading ``B`` axis of predictions is the
permutation axis, so K Broken-Q evaluations are one array operation, not a Python loop.
"""

from __future__ import annotations

import numpy as np

from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int


def balanced_accuracy_batch(pred: IntArray, truth: IntArray) -> FloatArray:
    """[B] balanced accuracy of each prediction row: mean recall over the classes present in ``truth``.

    Args:
        pred: [B, n] predicted label indices (or [n], treated as B = 1).
        truth: [n] true label indices.
    Returns:
        [B] multiclass balanced accuracy (scikit-learn's ``balanced_accuracy_score`` per row).
    """
    pred2 = np.atleast_2d(pred)
    classes = np.unique(truth)
    onehot = (truth[:, None] == classes[None, :]).astype(np.float64)  # [n, C]
    support = onehot.sum(axis=0)
    correct = (pred2 == truth[None, :]).astype(np.float64)  # [B, n]
    recall = (correct @ onehot) / support[None, :]
    return as_float(recall.mean(axis=1))


def permutation_p_value(clean: float, broken: FloatArray) -> float:
    """One-sided p-value (1 + #{k: BA_broken_k >= BA_clean}) / (K + 1) (papers.md, part B)."""
    return float((1 + np.count_nonzero(broken >= clean)) / (broken.size + 1))


def permute_within_present(
    quality: FloatArray, mask: BoolArray, n_permutations: int, rng: np.random.Generator
) -> FloatArray:
    """[K, n, M] K Broken-Q copies: each column permuted independently among the rows where it is present.

    Rows where an expert is absent keep their (fill) value, so availability never changes; only the
    assignment of quality scores to clips does. One vectorised ``Generator.permuted`` per expert.
    """
    n, m = quality.shape
    out = np.broadcast_to(quality, (n_permutations, n, m)).copy()
    for col in range(m):
        present = np.flatnonzero(mask[:, col])
        if present.size > 1:
            values = np.broadcast_to(quality[present, col], (n_permutations, present.size))
            out[:, present, col] = rng.permuted(values, axis=1)
    return as_float(out)


def true_class_probs(probs: FloatArray, truth: IntArray) -> FloatArray:
    """[n, M] each expert's probability of the true label."""
    return as_float(np.take_along_axis(probs, truth[:, None, None], axis=2)[:, :, 0])


def oracle_predictions(probs: FloatArray, truth: IntArray) -> IntArray:
    """[n] the oracle's labels: a correct expert if one exists, else the expert most confident in the truth.

    Among correct experts (most probable label = truth) the one with the highest true-class probability is
    chosen, which predicts the truth; otherwise the expert with the highest true-class probability, whose
    (wrong) most probable label is the oracle's answer.
    """
    top = probs.argmax(axis=2)  # [n, M]
    tp = true_class_probs(probs, truth)
    correct = top == truth[:, None]
    chosen = np.argmax(np.where(correct, 2.0 + tp, tp), axis=1)
    return as_int(top[np.arange(top.shape[0]), chosen])


def competitiveness(probs: FloatArray, truth: IntArray) -> float:
    """Median over clips of (best minus second-best true-class probability across experts)."""
    tp = np.sort(true_class_probs(probs, truth), axis=1)
    if tp.shape[1] < 2 or tp.shape[0] == 0:
        return float("nan")
    return float(np.median(tp[:, -1] - tp[:, -2]))


def alignment_rho(quality: FloatArray, correct: BoolArray) -> float:
    """Mean over experts of Pearson corr(Q_m, expert m correct); constant Q or outcome: skipped."""
    q = quality - quality.mean(axis=0)
    c = correct.astype(np.float64) - correct.mean(axis=0)
    denom = np.sqrt((q**2).sum(axis=0) * (c**2).sum(axis=0))
    valid = denom > 1e-12
    if not valid.any():
        return float("nan")
    rho = (q * c).sum(axis=0)[valid] / denom[valid]
    return float(rho.mean())
