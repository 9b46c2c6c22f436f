"""VerdictTable: the array view of many verdicts that every statistic works on.

Verdicts are turned into arrays once per study; fusion, attribution, calibration and the permutation
diagnostic then run as vectorised numpy over these arrays and never touch a model or a Python loop
over clips.

Shapes: N clips, M agents (fusion order), K labels (label-set order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from saboteur.errors import SaboteurError
from saboteur.labels import LabelSet
from saboteur.schemas import Verdict

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def as_float(values: object) -> FloatArray:
    """``values`` as a float64 array (also pins numpy's loosely typed results for mypy)."""
    return np.asarray(values, dtype=np.float64)


def as_int(values: object) -> IntArray:
    """``values`` as an int64 array."""
    return np.asarray(values, dtype=np.int64)


def as_bool(values: object) -> BoolArray:
    """``values`` as a bool array."""
    return np.asarray(values, dtype=np.bool_)


NO_LABEL = -1
"""Index used for a missing or unknown label (an error verdict, a truth outside the label set)."""


@dataclass(frozen=True, eq=False)
class VerdictTable:
    """Verdicts of M agents over N clips as arrays (one strategy and model per agent)."""

    clip_ids: list[str]
    """Clip identifiers, row order."""
    agents: list[str]
    """Agent (modality) names in fusion order; ties between fused labels keep this order."""
    labels: LabelSet
    """The label set; its order is the label axis."""
    scores: FloatArray
    """[N, M, K] confidence each agent gave each label (0 when the label is not in its ranking)."""
    rank: IntArray
    """[N, M, K] position of each label in the agent's ranking (K when absent)."""
    primary: IntArray
    """[N, M] index of each agent's primary label (NO_LABEL when missing, an error, or outside the set)."""
    confidence: FloatArray
    """[N, M] confidence in the primary label."""
    quality: FloatArray
    """[N, M] self-assessment score in [0, 1] (NaN when the agent gave none)."""
    mask: BoolArray
    """[N, M] True where the agent produced a valid verdict for the clip."""
    truth: IntArray
    """[N] index of the true label (NO_LABEL when unknown)."""
    strategy: str = ""
    """Strategy the verdicts came from (``mixed`` when agents differ)."""
    model: str = ""
    """Model the verdicts came from (``mixed`` when agents differ)."""
    unknown_labels: dict[str, int] = field(default_factory=dict)
    """Labels outside the set that agents or truths used, with counts (reported, not fused)."""

    # -- sizes -----------------------------------------------------------------------------------
    @property
    def n_clips(self) -> int:
        """N."""
        return len(self.clip_ids)

    @property
    def n_agents(self) -> int:
        """M."""
        return len(self.agents)

    @property
    def n_labels(self) -> int:
        """K."""
        return self.labels.size

    @cached_property
    def has_truth(self) -> BoolArray:
        """[N] True where the clip's true label is known and in the label set."""
        return self.truth >= 0

    @cached_property
    def primary_onehot(self) -> FloatArray:
        """[N, M, K] 1 at each available agent's primary label."""
        onehot = np.zeros(self.scores.shape, dtype=np.float64)
        n_idx, m_idx = np.nonzero(self.primary >= 0)
        onehot[n_idx, m_idx, self.primary[n_idx, m_idx]] = 1.0
        return onehot

    @cached_property
    def agent_correct(self) -> BoolArray:
        """[N, M] True where the agent is available and its primary label equals the truth."""
        return as_bool(self.mask & (self.primary == self.truth[:, None]) & self.has_truth[:, None])

    # -- selection -------------------------------------------------------------------------------
    def select_agents(self, agents: Sequence[str]) -> VerdictTable:
        """A table with only ``agents``, in the order given (``--agents``)."""
        missing = [name for name in agents if name not in self.agents]
        if missing:
            raise SaboteurError(
                f"unknown agent(s) {', '.join(missing)}: this run has {', '.join(self.agents)}"
            )
        if not agents:
            raise SaboteurError("choose at least one agent")
        cols = [self.agents.index(name) for name in agents]
        return replace(
            self,
            agents=list(agents),
            scores=self.scores[:, cols],
            rank=self.rank[:, cols],
            primary=self.primary[:, cols],
            confidence=self.confidence[:, cols],
            quality=self.quality[:, cols],
            mask=self.mask[:, cols],
        )

    def select_clips(self, rows: IntArray | BoolArray) -> VerdictTable:
        """A table with only the given clip rows (index array or boolean mask)."""
        rows_idx = np.flatnonzero(rows) if rows.dtype == np.bool_ else np.asarray(rows)
        return replace(
            self,
            clip_ids=[self.clip_ids[i] for i in rows_idx],
            scores=self.scores[rows_idx],
            rank=self.rank[rows_idx],
            primary=self.primary[rows_idx],
            confidence=self.confidence[rows_idx],
            quality=self.quality[rows_idx],
            mask=self.mask[rows_idx],
            truth=self.truth[rows_idx],
        )

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_verdicts(
        cls,
        verdicts: Sequence[Verdict],
        labels: LabelSet,
        *,
        agents: Sequence[str] | None = None,
        strategy: str | None = None,
        model: str | None = None,
    ) -> VerdictTable:
        """Build the table from verdicts of one strategy and model.

        Args:
            verdicts: verdicts, duplicates already resolved (``RunDir.load`` does that).
            labels: the label set; labels outside it are matched case-insensitively and through synonyms,
                else counted in ``unknown_labels`` and left out of the arrays.
            agents: agents to keep, in fusion order (default: order of first appearance).
            strategy, model: which strategy / model to use when the verdicts hold several.
        """
        chosen = _select_condition(verdicts, strategy, model)
        if not chosen:
            raise SaboteurError("no verdicts to evaluate")
        order = list(agents) if agents else list(dict.fromkeys(v.modality for v in chosen))
        agent_col = {name: col for col, name in enumerate(order)}
        clip_row: dict[str, int] = {}
        for verdict in chosen:
            if verdict.modality in agent_col:
                clip_row.setdefault(verdict.clip_id, len(clip_row))
        if agents:
            missing = [name for name in agents if not any(v.modality == name for v in chosen)]
            if missing:
                present = ", ".join(dict.fromkeys(v.modality for v in chosen))
                raise SaboteurError(f"unknown agent(s) {', '.join(missing)}: this run has {present}")

        n, m, k = len(clip_row), len(order), labels.size
        scores = np.zeros((n, m, k), dtype=np.float64)
        rank = np.full((n, m, k), k, dtype=np.int64)
        primary = np.full((n, m), NO_LABEL, dtype=np.int64)
        confidence = np.zeros((n, m), dtype=np.float64)
        quality = np.full((n, m), np.nan, dtype=np.float64)
        mask = np.zeros((n, m), dtype=np.bool_)
        truth = np.full(n, NO_LABEL, dtype=np.int64)
        truth_seen = np.zeros(n, dtype=np.bool_)
        unknown: Counter[str] = Counter()
        index_of = _LabelIndexer(labels, unknown)

        for verdict in chosen:
            col = agent_col.get(verdict.modality)
            if col is None:
                continue
            row = clip_row[verdict.clip_id]
            if verdict.truth is not None and not truth_seen[row]:
                truth_seen[row] = True
                truth[row] = index_of(verdict.truth)
            if not verdict.ok:
                continue
            mask[row, col] = True
            primary[row, col] = index_of(verdict.label)
            confidence[row, col] = verdict.confidence
            if verdict.self_assessment is not None:
                quality[row, col] = verdict.self_assessment.score
            ranking = verdict.ranking or []
            if not ranking and verdict.label is not None:
                entries = [(verdict.label, verdict.confidence)]
            else:
                entries = [(item.label, item.confidence) for item in ranking]
            position = 0
            for label, conf in entries:
                idx = index_of(label)
                if idx < 0 or rank[row, col, idx] < k:
                    continue
                scores[row, col, idx] = conf
                rank[row, col, idx] = position
                position += 1

        strategies = {v.strategy for v in chosen}
        models = {v.model for v in chosen}
        return cls(
            clip_ids=list(clip_row),
            agents=order,
            labels=labels,
            scores=scores,
            rank=rank,
            primary=primary,
            confidence=confidence,
            quality=quality,
            mask=mask,
            truth=truth,
            strategy=strategies.pop() if len(strategies) == 1 else "mixed",
            model=models.pop() if len(models) == 1 else "mixed",
            unknown_labels=dict(unknown.most_common()),
        )


def conditions(verdicts: Sequence[Verdict]) -> list[tuple[str, str]]:
    """The distinct (strategy, model) pairs in a set of verdicts, in order of appearance."""
    return list(dict.fromkeys((v.strategy, v.model) for v in verdicts))


def _select_condition(verdicts: Sequence[Verdict], strategy: str | None, model: str | None) -> list[Verdict]:
    chosen = [
        v
        for v in verdicts
        if (strategy is None or v.strategy == strategy) and (model is None or v.model == model)
    ]
    pairs = conditions(chosen)
    if len(pairs) > 1:
        listed = "; ".join(f"--strategy {s} --model {m}" for s, m in pairs)
        raise SaboteurError(f"the run holds several strategies/models, choose one: {listed}")
    if not chosen and verdicts:
        listed = "; ".join(f"--strategy {s} --model {m}" for s, m in conditions(verdicts))
        raise SaboteurError(f"no verdicts match that strategy/model; the run has: {listed}")
    return chosen


class _LabelIndexer:
    """Label -> index with a cache (normalisation is the hot path of building a big table)."""

    def __init__(self, labels: LabelSet, unknown: Counter[str]) -> None:
        self._labels = labels
        self._unknown = unknown
        self._cache: dict[str, int] = {}

    def __call__(self, label: str | None) -> int:
        if label is None:
            return NO_LABEL
        cached = self._cache.get(label)
        if cached is None:
            idx = self._labels.index(label)
            cached = NO_LABEL if idx is None else idx
            self._cache[label] = cached
        if cached < 0:
            self._unknown[label.strip().lower()] += 1
        return cached
