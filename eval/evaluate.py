"""Fusion + evaluation + attribution of one run: the numbers behind ``saboteur eval``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from saboteur.errors import SaboteurError
from saboteur.eval.attribution import Attribution, attribute
from saboteur.eval.bootstrap import DEFAULT_RESAMPLES, Interval, mean_interval
from saboteur.eval.fusion import Fused, TieOrder, fuse
from saboteur.eval.load import load_table
from saboteur.eval.metrics import accuracy, balanced_accuracy, confusion_matrix, macro_f1, top_k_curve
from saboteur.eval.table import VerdictTable
from saboteur.rundir import LoadReport


class AgentProfile(BaseModel):
    """One agent's reliability profile: counts (contract keys) plus rates with bootstrap 95% intervals."""

    accuracy: float
    """Primary-label accuracy over the clips where the agent answered."""
    potential_saboteur: int
    successful_saboteur: int
    contributor: int
    decisive_saboteur: int
    decisive_contributor: int
    shapley: float
    """Mean Shapley value of the agent for fused top-1 correctness."""
    n_answered: int
    """Clips (with a known truth) where the agent produced a valid verdict."""
    n_errors: int
    """Clips (with a known truth) where the agent failed or was missing."""
    mean_confidence: float
    mean_self_assessment: float | None
    intervals: dict[str, Interval] = Field(default_factory=dict)
    """Bootstrap 95% intervals: accuracy, rates of each flag among answered clips, Shapley mean."""


class Evaluation(BaseModel):
    """Everything ``saboteur eval`` reports. ``to_json()`` holds the contract.md keys first."""

    n: int
    """Clips with a known truth (the denominator of every figure)."""
    rule: str
    tau: float
    ties: str
    """Tie order used: the rule's first-seen order, or ``label`` (label-set order)."""
    agents: list[str]
    labels: list[str]
    strategy: str
    model: str
    top_k: list[float]
    """Fused top-k coverage for k = 1..K (top-1 first)."""
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    per_modality: dict[str, AgentProfile]
    confusion: list[list[int]]
    """Rows = true label, columns = fused label (label-set order) + a last column for no prediction."""
    no_prediction: int
    """Clips where no agent produced a usable score."""
    best_single_agent: str | None
    best_single_accuracy: float | None
    unknown_labels: dict[str, int] = Field(default_factory=dict)
    clips_without_truth: int = 0
    flagged_clips: dict[str, list[str]] = Field(default_factory=dict)
    """Clips whose media text reads like instructions to a model (prompt injection), for audit."""

    def to_json(self) -> dict[str, Any]:
        """JSON object of ``saboteur eval --json``."""
        data = self.model_dump(mode="json")
        for profile in data["per_modality"].values():
            profile["intervals"] = {
                name: [iv["value"], iv["low"], iv["high"]] for name, iv in profile["intervals"].items()
            }
        return data


def evaluate(
    table: VerdictTable,
    rule: str = "confidence",
    tau: float = 0.7,
    *,
    agents: Sequence[str] | None = None,
    ties: TieOrder | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Evaluation:
    """Fuse with ``rule``, score the fused ranking, attribute every decision, profile every agent."""
    if agents:
        table = table.select_agents(agents)
    rows = np.flatnonzero(table.has_truth)
    if rows.size == 0:
        raise SaboteurError("no clip has a known true label in the label set: nothing to evaluate")
    fused: Fused = fuse(table, rule, ties=ties)
    truth = table.truth[rows]
    pred = fused.top1[rows]
    k = table.n_labels
    attribution = attribute(table, rule, tau, ties)
    profiles = _profiles(table, attribution, resamples, seed)
    accuracies = {name: p.accuracy for name, p in profiles.items() if p.n_answered}
    best = max(accuracies, key=lambda name: accuracies[name]) if accuracies else None
    return Evaluation(
        n=int(rows.size),
        rule=rule,
        tau=tau,
        ties=ties or "first-seen",
        agents=list(table.agents),
        labels=list(table.labels.labels),
        strategy=table.strategy,
        model=table.model,
        top_k=[float(v) for v in top_k_curve(fused.truth_position(table.truth)[rows], k)],
        accuracy=accuracy(truth, pred),
        balanced_accuracy=balanced_accuracy(truth, pred, k),
        macro_f1=macro_f1(truth, pred, k),
        per_modality=profiles,
        confusion=confusion_matrix(truth, pred, k).tolist(),
        no_prediction=int((pred < 0).sum()),
        best_single_agent=best,
        best_single_accuracy=accuracies[best] if best else None,
        unknown_labels=table.unknown_labels,
        clips_without_truth=int(table.n_clips - rows.size),
    )


def _profiles(
    table: VerdictTable, attribution: Attribution, resamples: int, seed: int
) -> dict[str, AgentProfile]:
    rng = np.random.default_rng(seed)
    counts = attribution.counts()
    profiles: dict[str, AgentProfile] = {}
    for col, agent in enumerate(attribution.agents):
        answered = attribution.available[:, col]
        n_answered = int(answered.sum())
        quality = table.quality[attribution.rows, col][answered]
        quality = quality[~np.isnan(quality)]
        flags = {
            "accuracy": attribution.correct[:, col][answered],
            "contributor": attribution.contributor[:, col][answered],
            "potential_saboteur": attribution.potential_saboteur[:, col][answered],
            "successful_saboteur": attribution.successful_saboteur[:, col][answered],
            "decisive_contributor": attribution.decisive_contributor[:, col][answered],
            "decisive_saboteur": attribution.decisive_saboteur[:, col][answered],
            "shapley": attribution.shapley[:, col],
        }
        intervals = {name: mean_interval(values, resamples, rng) for name, values in flags.items()}
        profiles[agent] = AgentProfile(
            accuracy=float(flags["accuracy"].mean()) if n_answered else float("nan"),
            shapley=float(attribution.shapley[:, col].mean()),
            n_answered=n_answered,
            n_errors=int(attribution.rows.size - n_answered),
            mean_confidence=float(table.confidence[attribution.rows, col][answered].mean())
            if n_answered
            else float("nan"),
            mean_self_assessment=float(quality.mean()) if quality.size else None,
            intervals=intervals,
            **counts[agent],
        )
    return profiles


def evaluate_run(
    run: str | os.PathLike[str],
    rule: str = "confidence",
    tau: float = 0.7,
    *,
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    ties: TieOrder | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[Evaluation, LoadReport]:
    """Load a run directory and evaluate it (``saboteur eval``); also returns what loading reported."""
    loaded = load_table(run, agents=agents, strategy=strategy, model=model)
    result = evaluate(loaded.table, rule, tau, ties=ties, resamples=resamples, seed=seed)
    clips = set(loaded.table.clip_ids)
    for verdict in loaded.verdicts:
        flags = verdict.extra.get("media_text_flags")
        if verdict.clip_id in clips and isinstance(flags, list) and flags:
            known = result.flagged_clips.setdefault(verdict.clip_id, [])
            known.extend(str(flag) for flag in flags if str(flag) not in known)
    return result, loaded.report
