"""Simulated expert outputs with a known answer to "does Q identify the right expert?".

Used by the tests and the benchmark, and handy in a notebook to see what the diagnostic reports when Q
is pure noise (the gap must vanish and p-values be uniform) or when Q marks exactly which expert is right
(a large, significant gap for any style that uses Q).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from saboteur.eval.permutation.data import ExpertData
from saboteur.eval.table import as_bool, as_float, as_int

QualityKind = Literal["independent", "informative"]


def simulate_experts(
    n_clips: int,
    *,
    accuracies: Sequence[float] = (0.6, 0.6, 0.6),
    n_labels: int = 4,
    quality: QualityKind = "independent",
    missing: float = 0.0,
    sharpness: float = 2.0,
    seed: int = 0,
) -> ExpertData:
    """N clips judged by len(accuracies) experts.

    Each expert is right with its accuracy: its logits get ``sharpness`` on the truth (or on a random wrong
    label) on top of standard normal noise. Q is uniform noise independent of everything
    (``independent``), or 0.8 * correct + 0.2 * uniform noise (``informative``: it tells which expert is
    right). Each expert is missing on a ``missing`` share of clips.
    """
    rng = np.random.default_rng(seed)
    m, k = len(accuracies), n_labels
    truth = rng.integers(0, k, size=n_clips)
    right = rng.random((n_clips, m)) < np.asarray(accuracies)[None, :]
    wrong = (truth[:, None] + rng.integers(1, k, size=(n_clips, m))) % k
    peak = np.where(right, truth[:, None], wrong)
    logits = rng.normal(size=(n_clips, m, k))
    np.put_along_axis(
        logits, peak[:, :, None], np.take_along_axis(logits, peak[:, :, None], 2) + sharpness, 2
    )
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    mask = rng.random((n_clips, m)) >= missing
    correct = probs.argmax(axis=2) == truth[:, None]
    noise = rng.random((n_clips, m))
    q = 0.8 * correct + 0.2 * noise if quality == "informative" else noise
    return ExpertData(
        clip_ids=[f"clip{i:06d}" for i in range(n_clips)],
        experts=[f"expert{j}" for j in range(m)],
        labels=[f"label{c}" for c in range(k)],
        probs=as_float(np.where(mask[:, :, None], probs, 0.0)),
        mask=as_bool(mask),
        quality=as_float(np.where(mask, q, np.nan)),
        truth=as_int(truth),
        quality_name=f"synthetic:{quality}",
    )
