"""Synthetic VerdictTables of any size, for benchmarks (agents of varied skill, real-looking rankings)."""

from __future__ import annotations

import numpy as np

from saboteur.eval.table import VerdictTable
from saboteur.labels import make_label_set


def synthetic_table(n_clips: int, n_agents: int, n_labels: int, seed: int = 0) -> VerdictTable:
    """N clips x M agents x K labels; agent m is right with probability 0.35 + 0.1 m."""
    rng = np.random.default_rng(seed)
    labels = make_label_set([f"label{k}" for k in range(n_labels)])
    truth = rng.integers(0, n_labels, n_clips)
    skill = 0.35 + 0.1 * np.arange(n_agents)
    right = rng.random((n_clips, n_agents)) < skill
    primary = np.where(right, truth[:, None], rng.integers(0, n_labels, (n_clips, n_agents)))
    raw = rng.dirichlet(np.ones(n_labels), size=(n_clips, n_agents))
    raw[np.arange(n_clips)[:, None], np.arange(n_agents)[None, :], primary] += 1.0
    scores = np.round(raw / raw.max(axis=2, keepdims=True), 2)
    order = np.argsort(-scores, axis=2, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_labels)[None, None, :], axis=2)
    primary = order[:, :, 0]
    mask = rng.random((n_clips, n_agents)) > 0.03
    return VerdictTable(
        clip_ids=[f"clip{i}" for i in range(n_clips)],
        agents=[f"agent{m}" for m in range(n_agents)],
        labels=labels,
        scores=scores,
        rank=rank.astype(np.int64),
        primary=primary.astype(np.int64),
        confidence=np.take_along_axis(scores, primary[:, :, None], axis=2)[:, :, 0],
        quality=rng.random((n_clips, n_agents)),
        mask=mask,
        truth=truth.astype(np.int64),
    )
