"""``saboteur calibrate``: the calibration study of one run, recalibration, and sabotage before/after.

``calibrate(table)`` returns a ``CalibrationReport``: per agent every figure of ``study`` (contract.md
keys first), the held-out effect of each recalibration method on each agent (ECE, MCE, Brier, AUROC
of the stated vs the cross-fitted recalibrated confidence over the same verdicts, with paired bootstrap
intervals of the change), and successful sabotage of the confidence-weighted vote before and after
recalibration (potential saboteur = confidence >= tau and wrong; after recalibration "confidence" is the
recalibrated one, and the fusion is the ``calibrated`` rule's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from saboteur.errors import SaboteurError
from saboteur.eval.attribution import Attribution, attribute
from saboteur.eval.bootstrap import DEFAULT_RESAMPLES, Interval
from saboteur.eval.calibration.binning import DEFAULT_BINS, bin_stats, equal_width
from saboteur.eval.calibration.data import CalibrationData
from saboteur.eval.calibration.recalibrate import CALIBRATORS, DEFAULT_FOLDS
from saboteur.eval.calibration.rule import Recalibrated, recalibrate_table
from saboteur.eval.calibration.scores import auroc, brier
from saboteur.eval.calibration.study import GroupFigures, Study, study
from saboteur.eval.calibration.weights import bootstrap_weights, percentile_interval
from saboteur.eval.load import load_table
from saboteur.eval.table import BoolArray, FloatArray, VerdictTable, as_float
from saboteur.rundir import LoadReport

HELD_OUT_FIGURES = ("ece", "mce", "brier", "auroc_confidence")


class RecalibrationEffect(BaseModel):
    """One agent, one method: figures of the stated vs the cross-fitted recalibrated confidence."""

    n: int
    before: dict[str, float]
    after: dict[str, float]
    change: dict[str, Interval]
    """after - before, with a paired bootstrap 95% interval."""


class SabotageCounts(BaseModel):
    """Attribution counts of one fusion (per agent) and the fused accuracy."""

    fused_accuracy: float
    potential_saboteur: dict[str, int]
    successful_saboteur: dict[str, int]
    decisive_saboteur: dict[str, int]


class SabotageComparison(BaseModel):
    """Sabotage of the confidence-weighted vote before and after cross-fitted recalibration."""

    method: str
    tau: float
    before: SabotageCounts
    after: SabotageCounts


class CalibrationReport(BaseModel):
    """Everything ``saboteur calibrate`` reports; ``to_json()`` holds the contract.md keys first."""

    n: int
    """Scored verdicts over all agents (valid, with a known truth)."""
    agents: list[str]
    labels: list[str]
    strategy: str
    model: str
    bins: int
    resamples: int
    folds: int
    per_modality: dict[str, GroupFigures]
    recalibration: dict[str, dict[str, RecalibrationEffect]] = Field(default_factory=dict)
    """method -> agent -> held-out effect."""
    sabotage: SabotageComparison | None = None
    groups: Study | None = None
    """The study grouped by extra fields (``--by``), when asked for."""
    notes: list[str] = Field(default_factory=list)
    """What could not be computed and why (e.g. too few labelled clips to cross-fit)."""

    def rows(self) -> list[dict[str, Any]]:
        """The tidy table of all figures: per agent (stated confidence), per ``--by`` group, and the
        held-out figures of each recalibration method (``recalibration`` column) with their change."""
        per_agent = Study(
            by=["agent"], bins=self.bins, resamples=self.resamples, groups=list(self.per_modality.values())
        )
        rows = [{"recalibration": "", **row} for row in per_agent.rows()]
        if self.groups is not None:
            rows += [{"recalibration": "", **row} for row in self.groups.rows()]
        for method, agents in self.recalibration.items():
            for agent, effect in agents.items():
                common = {"recalibration": method, "agent": agent, "n": effect.n, "resamples": self.resamples}
                for name, ch in effect.change.items():
                    after = effect.after[name]
                    rows.append({**common, "figure": name, "value": after, "low": None, "high": None})
                    rows.append(
                        {
                            **common,
                            "figure": f"{name}_change",
                            "value": ch.value,
                            "low": ch.low,
                            "high": ch.high,
                        }
                    )
        return [{"strategy": self.strategy, "model": self.model, **row} for row in rows]

    def to_json(self) -> dict[str, Any]:
        """JSON of ``saboteur calibrate --json``: ``per_modality`` holds the contract keys, then the rest."""
        per_modality = {}
        for agent, group in self.per_modality.items():
            block = group.contract()
            block.update({k: v for k, v in group.figures.items() if k not in block})
            block["n_self_assessment"] = group.n_self_assessment
            block["adaptive_bins"] = group.adaptive_bins
            block["intervals"] = {k: [iv.value, iv.low, iv.high] for k, iv in group.intervals.items()}
            per_modality[agent] = block
        data = self.model_dump(mode="json", exclude={"per_modality", "groups"})
        data["per_modality"] = per_modality
        for agents in data["recalibration"].values():
            for effect in agents.values():
                effect["change"] = {
                    k: [iv["value"], iv["low"], iv["high"]] for k, iv in effect["change"].items()
                }
        if self.groups is not None:
            data["groups"] = {"by": self.groups.by, "rows": self.groups.rows()}
        return {"n": data.pop("n"), "per_modality": data.pop("per_modality"), **data}


def calibrate(
    table: VerdictTable,
    *,
    verdicts: Sequence[Any] | None = None,
    by: Sequence[str] = (),
    bins: int = DEFAULT_BINS,
    methods: Sequence[str] = tuple(CALIBRATORS),
    sabotage_method: str | None = "platt",
    folds: int = DEFAULT_FOLDS,
    tau: float = 0.7,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> CalibrationReport:
    """The calibration study of one table (one strategy and model); see the module docstring."""
    data = CalibrationData.from_table(table, verdicts, by)
    if data.size == 0:
        raise SaboteurError("no valid verdict of a clip with a known truth: nothing to calibrate")
    per_agent = study(data, ("agent",), bins=bins, resamples=resamples, seed=seed)
    rng = np.random.default_rng(seed + 1)
    recalibration: dict[str, dict[str, RecalibrationEffect]] = {}
    fitted: dict[str, Recalibrated] = {}
    notes: list[str] = []
    labelled = int(table.has_truth.sum())
    if labelled < 2 * folds:
        notes.append(
            f"recalibration skipped: {labelled} labelled clip(s) are too few for {folds}-fold cross-fitting"
        )
        methods, sabotage_method = (), None
    for method in methods:
        recal = recalibrate_table(table, method, folds, seed)
        fitted[method] = recal
        recalibration[method] = {
            agent: held_out_effect(
                table.confidence[rows, table.agents.index(agent)],
                recal.fits[agent].calibrated,
                table.agent_correct[rows, table.agents.index(agent)],
                bins=bins,
                resamples=resamples,
                rng=rng,
            )
            for agent, rows in recal.rows.items()
        }
    sabotage = None
    if sabotage_method:
        recal = fitted.get(sabotage_method) or recalibrate_table(table, sabotage_method, folds, seed)
        sabotage = SabotageComparison(
            method=sabotage_method,
            tau=tau,
            before=_sabotage(attribute(table, "confidence", tau)),
            after=_sabotage(attribute(recal.table, "confidence", tau)),
        )
    extra = [name for name in by if name != "agent"]
    return CalibrationReport(
        n=data.size,
        agents=list(table.agents),
        labels=list(table.labels.labels),
        strategy=table.strategy,
        model=table.model,
        bins=bins,
        resamples=resamples,
        folds=folds,
        per_modality={group.key["agent"]: group for group in per_agent.groups},
        recalibration=recalibration,
        sabotage=sabotage,
        groups=study(data, ["agent", *extra], bins=bins, resamples=resamples, seed=seed) if extra else None,
        notes=notes,
    )


def held_out_effect(
    stated: FloatArray,
    recalibrated: FloatArray,
    correct: BoolArray,
    *,
    bins: int = DEFAULT_BINS,
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> RecalibrationEffect:
    """Figures of stated vs recalibrated confidence over the same verdicts, change with paired intervals."""
    rng = rng if rng is not None else np.random.default_rng(0)

    def figures(conf: FloatArray, w: FloatArray) -> dict[str, FloatArray]:
        stats = bin_stats(equal_width(conf, bins), conf, correct, w)
        return {
            "ece": stats.ece,
            "mce": stats.mce,
            "brier": brier(conf, correct, w),
            "auroc_confidence": auroc(conf, correct, w),
        }

    ones = np.ones((1, stated.size))
    before = {k: float(v[0]) for k, v in figures(stated, ones).items()}
    after = {k: float(v[0]) for k, v in figures(recalibrated, ones).items()}
    deltas: dict[str, list[FloatArray]] = {name: [] for name in HELD_OUT_FIGURES}
    for w in bootstrap_weights(stated.size, resamples, rng):
        b, a = figures(stated, w), figures(recalibrated, w)
        for name in HELD_OUT_FIGURES:
            deltas[name].append(as_float(a[name] - b[name]))
    change = {
        name: percentile_interval(
            after[name] - before[name], as_float(np.concatenate(deltas[name] or [np.zeros(0)])), stated.size
        )
        for name in HELD_OUT_FIGURES
    }
    return RecalibrationEffect(n=int(stated.size), before=before, after=after, change=change)


def _sabotage(attribution: Attribution) -> SabotageCounts:
    counts = attribution.counts()
    return SabotageCounts(
        fused_accuracy=float(attribution.fused_correct.mean()) if attribution.rows.size else float("nan"),
        potential_saboteur={a: c["potential_saboteur"] for a, c in counts.items()},
        successful_saboteur={a: c["successful_saboteur"] for a, c in counts.items()},
        decisive_saboteur={a: c["decisive_saboteur"] for a, c in counts.items()},
    )


def calibrate_run(
    run: str | os.PathLike[str],
    *,
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    **options: Any,
) -> tuple[CalibrationReport, LoadReport]:
    """Load a run directory and calibrate it (``saboteur calibrate``); also returns what loading reported."""
    loaded = load_table(run, agents=agents, strategy=strategy, model=model)
    verdicts = loaded.verdicts if options.get("by") else None
    return calibrate(loaded.table, verdicts=verdicts, **options), loaded.report
