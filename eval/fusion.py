"""Fusion rules: pure functions VerdictTable -> fused scores [clip, label], and the fused ranking.

A rule is one function ``rule(table, mask) -> scores`` where ``mask`` [N, M] says which agents take part
(attribution re-fuses with agents removed by passing another mask). Register one with::

    @fusion_rule("my_rule")
    def my_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
        return np.einsum("nm,nmk->nk", mask * table.confidence, table.scores)

Tie-breaking (papers.md, arXiv 2511.02794): labels with equal fused score keep first-seen order, i.e. the
order in which they first appear walking the agents in fusion order and each agent's ranking best first
(``ties="ranking"``), or each agent's primary label only (``ties="primary"``, for rules that only use
primaries). Labels no agent mentioned come last, in label-set order. ``ties="label"`` overrides a rule's
order with plain label-set order (how CREMA-D's published figures break ties). Scores are compared after
rounding to 1e-9, so that sums that are equal in exact arithmetic (65 + 5 vs 35 + 35, scaled to [0, 1]) tie as
they do in the authors' integer arithmetic.

A label with fused score 0 has no evidence; it is ranked (so every ranking is complete) but never counts
as covered by top-k (the authors' ranking only holds labels some agent scored).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from saboteur.errors import SaboteurError
from saboteur.eval.table import NO_LABEL, BoolArray, FloatArray, IntArray, VerdictTable, as_float, as_int

TieOrder = Literal["ranking", "primary", "label"]
_SCALE = 1e9


class FusionRule(Protocol):
    """A fusion rule: fused (unnormalised, non-negative) scores [N, K] of the agents in ``mask``."""

    def __call__(self, table: VerdictTable, mask: BoolArray) -> FloatArray: ...


@dataclass(frozen=True)
class RegisteredRule:
    """A fusion rule with its tie order and a one-line description."""

    name: str
    func: FusionRule
    ties: TieOrder
    description: str


_RULES: dict[str, RegisteredRule] = {}
_RULE_PACKAGES = ("saboteur.eval.calibration",)
"""Packages that register more rules when imported; loaded on first need (they pull in scikit-learn)."""


def fusion_rule(
    name: str, *, ties: TieOrder = "ranking", description: str = ""
) -> Callable[[FusionRule], FusionRule]:
    """Register ``func`` as fusion rule ``name`` (decorator). Re-registering a name replaces it."""

    def register(func: FusionRule) -> FusionRule:
        doc = description or (func.__doc__ or name).strip().splitlines()[0]
        _RULES[name] = RegisteredRule(name=name, func=func, ties=ties, description=doc)
        return func

    return register


def _load_rule_packages() -> None:
    for package in _RULE_PACKAGES:
        importlib.import_module(package)


def get_rule(name: str) -> RegisteredRule:
    """Look up a registered rule; a clear error naming the known ones otherwise."""
    if name not in _RULES:
        _load_rule_packages()
    try:
        return _RULES[name]
    except KeyError:
        raise SaboteurError(f"unknown fusion rule {name!r}: known rules are {', '.join(_RULES)}") from None


def rules() -> dict[str, RegisteredRule]:
    """All registered rules by name (built-in, from saboteur's rule packages, and the user's)."""
    _load_rule_packages()
    return dict(_RULES)


# -- the fused ranking ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fused:
    """A fusion's result over all clips."""

    rule: str
    scores: FloatArray
    """[N, K] fused scores (unnormalised)."""
    ranking: IntArray
    """[N, K] label indices, best first, ties broken as documented."""
    top1: IntArray
    """[N] fused top-1 label (NO_LABEL where no agent contributed any score)."""

    @property
    def probabilities(self) -> FloatArray:
        """[N, K] scores normalised to sum to 1 (uniform where all scores are 0)."""
        total = self.scores.sum(axis=1, keepdims=True)
        k = self.scores.shape[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.scores / np.where(total > 0, total, 1.0), 1.0 / k)

    def truth_position(self, truth: IntArray) -> IntArray:
        """[N] 0-based position of the truth in the ranking; K where it has no evidence or is unknown."""
        n, k = self.ranking.shape
        pos = np.argmax(self.ranking == truth[:, None], axis=1)
        truth_score = self.scores[np.arange(n), np.clip(truth, 0, None)]
        return as_int(np.where((truth >= 0) & (truth_score > 0), pos, k))


def tie_keys(table: VerdictTable, mask: BoolArray, ties: TieOrder) -> IntArray:
    """[N, K] first-seen order of each label among the agents in ``mask`` (smaller = seen earlier)."""
    n, m, k = table.scores.shape
    if ties == "label":
        return as_int(np.broadcast_to(np.arange(k, dtype=np.int64), (n, k)))
    base = _agent_keys(table, ties)
    never = np.iinfo(np.int64).max
    first = np.full((n, k), never, dtype=np.int64)
    for agent in range(m):  # a loop over agents (few), each step vectorised over clips and labels
        np.minimum(first, np.where(mask[:, agent, None], base[:, agent], never), out=first)
    unseen = m * (k + 1) + np.arange(k, dtype=np.int64)  # never mentioned: label-set order, last
    return as_int(np.where(first == never, unseen[None, :], first))


def _agent_keys(table: VerdictTable, ties: TieOrder) -> IntArray:
    """[N, M, K] where each agent first mentions each label (cached per table: built once per study)."""
    cache: dict[str, IntArray] = table.__dict__.setdefault("_tie_key_cache", {})
    cached = cache.get(ties)
    if cached is None:
        _, m, k = table.scores.shape
        agent_offset = (np.arange(m, dtype=np.int64) * (k + 1))[None, :, None]
        never = np.iinfo(np.int64).max
        if ties == "primary":
            cached = as_int(np.where(table.primary_onehot > 0, agent_offset, never))
        else:
            listed = (table.rank < k) & (table.scores > 0)
            cached = as_int(np.where(listed, agent_offset + table.rank, never))
        cache[ties] = cached
    return cached


def _composite(scores: FloatArray, keys: IntArray, n_agents: int, n_labels: int) -> IntArray:
    """One int64 per label that orders by rounded score, then first-seen order (larger = better)."""
    span = n_agents * (n_labels + 1) + n_labels + 1
    quantised = np.rint(scores * _SCALE).astype(np.int64)
    return quantised * span + (span - 1 - keys)


def top1_only(
    table: VerdictTable, rule: str | RegisteredRule, mask: BoolArray, ties: TieOrder | None = None
) -> IntArray:
    """[N] fused top-1 for agents in ``mask`` without building the full ranking (attribution's hot path)."""
    registered = get_rule(rule) if isinstance(rule, str) else rule
    scores = registered.func(table, mask)
    keys = tie_keys(table, mask, ties or registered.ties)
    comp = _composite(scores, keys, table.n_agents, table.n_labels)
    top = np.argmax(comp, axis=1)
    return np.where(scores.max(axis=1) > 0, top, NO_LABEL).astype(np.int64)


def fuse(
    table: VerdictTable,
    rule: str = "confidence",
    mask: BoolArray | None = None,
    ties: TieOrder | None = None,
) -> Fused:
    """Fuse the agents in ``mask`` (default: every available agent) with a registered rule.

    ``ties`` overrides the rule's tie order (``"label"``: label-set order).
    """
    registered = get_rule(rule)
    use = table.mask if mask is None else (mask & table.mask)
    scores = registered.func(table, use)
    if scores.shape != (table.n_clips, table.n_labels):
        raise SaboteurError(
            f"fusion rule {rule!r} returned shape {scores.shape}, expected {(table.n_clips, table.n_labels)}"
        )
    scores = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None)
    comp = _composite(scores, tie_keys(table, use, ties or registered.ties), table.n_agents, table.n_labels)
    ranking = np.argsort(-comp, axis=1, kind="stable")
    top1 = np.where(scores.max(axis=1) > 0, ranking[:, 0], NO_LABEL).astype(np.int64)
    return Fused(rule=rule, scores=scores, ranking=ranking.astype(np.int64), top1=top1)


# -- built-in rules ------------------------------------------------------------------------------
def _weighted_sum(table: VerdictTable, weights: FloatArray) -> FloatArray:
    return as_float(np.einsum("nm,nmk->nk", weights, table.scores))


@fusion_rule("confidence")
def confidence_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Confidence-weighted vote over every ranked label (the paper's all-emotions mode, w = 1)."""
    return _weighted_sum(table, mask.astype(np.float64))


@fusion_rule("quality")
def quality_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Confidence-weighted vote with w = self-assessment score (missing score counts as 0.5)."""
    weights = np.where(np.isnan(table.quality), 0.5, table.quality) * mask
    return _weighted_sum(table, weights)


@fusion_rule("primary", ties="primary")
def primary_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Confidence-weighted vote over primary labels only (the paper's primary-only mode)."""
    weights = (mask * table.confidence)[:, :, None]
    return as_float((weights * table.primary_onehot).sum(axis=1))


@fusion_rule("majority", ties="primary")
def majority_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """One vote per agent for its primary label."""
    return as_float((mask[:, :, None] * table.primary_onehot).sum(axis=1))


@fusion_rule("max_confidence")
def max_confidence_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """The ranking of the single most confident agent (ties: earlier agent)."""
    conf = np.where(mask, table.confidence, -1.0)
    best = np.argmax(conf, axis=1)
    chosen = table.scores[np.arange(table.n_clips), best]
    return as_float(np.where(np.any(mask, axis=1)[:, None], chosen, 0.0))


@fusion_rule("uniform")
def uniform_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Mean of the agents' rankings, each first normalised to a distribution."""
    total = table.scores.sum(axis=2, keepdims=True)
    dist = np.divide(table.scores, total, out=np.zeros_like(table.scores), where=total > 0)
    count = as_float(mask.sum(axis=1, keepdims=True))
    summed = np.einsum("nm,nmk->nk", mask.astype(np.float64), dist)
    return as_float(np.divide(summed, count, out=np.zeros_like(summed), where=count > 0))


@fusion_rule("oracle")
def oracle_rule(table: VerdictTable, mask: BoolArray) -> FloatArray:
    """Upper bound: per clip, the ranking of the agent that knew best (correct primary, then truth score).

    Needs the truth; clips without it fall back to the ``confidence`` rule.
    """
    n = table.n_clips
    truth = np.clip(table.truth, 0, None)
    truth_score = table.scores[np.arange(n), :, truth]  # [N, M]
    correct = (table.primary == table.truth[:, None]) & table.has_truth[:, None]
    merit = np.where(mask, correct * 2.0 + truth_score, -1.0)
    best = np.argmax(merit, axis=1)
    chosen = table.scores[np.arange(n), best]
    fallback = confidence_rule(table, mask)
    return as_float(np.where((np.any(mask, axis=1) & table.has_truth)[:, None], chosen, fallback))
