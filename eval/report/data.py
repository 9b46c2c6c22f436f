"""What a report shows, gathered from stored verdicts: the records the HTML and Markdown writers render.

Everything numeric comes from the VerdictTable through ``evaluate`` / ``attribute`` / ``fuse``; only the
agents' free text (rationales, self-assessment issues) is read from the verdicts themselves, because the
table holds numbers only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel
from sklearn.metrics import roc_auc_score

from saboteur.eval.attribution import Attribution
from saboteur.eval.evaluate import Evaluation
from saboteur.eval.fusion import Fused
from saboteur.eval.report.figures import Figure
from saboteur.eval.table import BoolArray, FloatArray, VerdictTable
from saboteur.rundir import LoadReport, RunDir
from saboteur.schemas import Verdict

PERMUTATION_FILE = "permutation.json"
PERMUTATION_KEYS = ("ba_clean", "ba_broken_mean", "gap_mean", "gap_std", "p_value_median", "oracle_headroom")


class AgentCell(BaseModel):
    """One agent's answer for one clip, as the per-clip table shows it."""

    label: str | None
    confidence: float | None
    self_assessment: float | None
    issues: list[str] = []
    self_rationale: str = ""
    rationale: str = ""
    error: str | None = None


class ClipRow(BaseModel):
    """One row of the per-clip table."""

    clip_id: str
    truth: str | None
    fused: str | None
    fused_probability: float
    correct: bool | None
    saboteurs: list[str]
    """Agents that were successful saboteurs on this clip."""
    agents: list[AgentCell]
    """In the report's agent order."""


class WorstCase(BaseModel):
    """A clip where a confident, successful saboteur flipped the fused decision from right to wrong."""

    clip_id: str
    truth: str
    fused: str
    saboteur: str
    confidence: float
    self_assessment: float | None
    rationale: str
    others: dict[str, str]
    """The other agents' primary labels (``error`` when they failed)."""


class CalibrationRow(BaseModel):
    """Calibration and self-assessment figures of one agent (or of the fusion)."""

    n: int
    ece: float
    auroc_confidence: float | None
    auroc_self_assessment: float | None


@dataclass
class ReportData:
    """Everything one report shows."""

    title: str
    run: RunDir
    table: VerdictTable
    evaluation: Evaluation
    fused: Fused
    attribution: Attribution
    curves: dict[str, list[float]]
    calibration: dict[str, CalibrationRow]
    worst: list[WorstCase]
    clips: list[ClipRow]
    load_report: LoadReport
    permutation: dict[str, Any] | None = None
    figures: list[Figure] = field(default_factory=list)
    clips_total: int = 0
    """Clips in the run; ``clips`` may hold fewer (``max_clips``)."""


def auroc(scores: FloatArray, correct: BoolArray) -> float | None:
    """How well ``scores`` rank correct above incorrect answers (None when one class is missing)."""
    keep = ~np.isnan(scores)
    if keep.sum() < 2 or correct[keep].all() or not correct[keep].any():
        return None
    return float(roc_auc_score(correct[keep], scores[keep]))


def read_permutation(run: RunDir) -> dict[str, Any] | None:
    """``RUN/permutation.json`` when the permutation diagnostic stored one, else None."""
    path = run.path / PERMUTATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verdict_lookup(verdicts: Sequence[Verdict], table: VerdictTable) -> dict[tuple[str, str], Verdict]:
    """(clip, agent) -> the verdict the table was built from (same strategy and model)."""
    found: dict[tuple[str, str], Verdict] = {}
    for verdict in verdicts:
        if table.strategy not in ("mixed", verdict.strategy) or table.model not in ("mixed", verdict.model):
            continue
        key = (verdict.clip_id, verdict.modality)
        if key not in found or (verdict.ok and not found[key].ok):
            found[key] = verdict
    return found


def _cell(verdict: Verdict | None) -> AgentCell:
    if verdict is None:
        return AgentCell(label=None, confidence=None, self_assessment=None, error="no verdict")
    assessment = verdict.self_assessment
    return AgentCell(
        label=verdict.label,
        confidence=verdict.confidence if verdict.ok else None,
        self_assessment=assessment.score if assessment else None,
        issues=list(assessment.issues) if assessment else [],
        self_rationale=assessment.rationale if assessment else "",
        rationale=verdict.rationale,
        error=verdict.error,
    )


def clip_rows(
    table: VerdictTable,
    fused: Fused,
    attribution: Attribution,
    texts: dict[tuple[str, str], Verdict],
    limit: int,
) -> list[ClipRow]:
    """The per-clip table (first ``limit`` clips in run order)."""
    labels = table.labels.labels
    saboteur = np.zeros(table.mask.shape, dtype=np.bool_)
    saboteur[attribution.rows] = attribution.successful_saboteur
    prob = fused.probabilities
    rows: list[ClipRow] = []
    for i in range(min(limit, table.n_clips)):
        clip = table.clip_ids[i]
        truth = labels[table.truth[i]] if table.truth[i] >= 0 else None
        top = int(fused.top1[i])
        rows.append(
            ClipRow(
                clip_id=clip,
                truth=truth,
                fused=labels[top] if top >= 0 else None,
                fused_probability=float(prob[i, top]) if top >= 0 else 0.0,
                correct=bool(top == table.truth[i]) if truth is not None else None,
                saboteurs=[a for j, a in enumerate(table.agents) if saboteur[i, j]],
                agents=[_cell(texts.get((clip, agent))) for agent in table.agents],
            )
        )
    return rows


def worst_cases(
    table: VerdictTable,
    attribution: Attribution,
    fused: Fused,
    texts: dict[tuple[str, str], Verdict],
    limit: int = 15,
) -> list[WorstCase]:
    """Confident successful saboteurs whose removal alone would have made the fusion right.

    Ordered by the saboteur's confidence, then its self-assessment (the most convincing liars first).
    """
    flipped = attribution.successful_saboteur & attribution.decisive_saboteur  # [n, M]
    local, cols = np.nonzero(flipped)
    if local.size == 0:
        return []
    rows = attribution.rows[local]
    conf = table.confidence[rows, cols]
    quality = np.nan_to_num(table.quality[rows, cols], nan=-1.0)
    order = np.lexsort((-quality, -conf))[:limit]
    labels = table.labels.labels
    cases = []
    for idx in order:
        row, col = int(rows[idx]), int(cols[idx])
        clip = table.clip_ids[row]
        agent = table.agents[col]
        verdict = texts.get((clip, agent))
        others = {
            other: (labels[table.primary[row, j]] if table.primary[row, j] >= 0 else "error")
            for j, other in enumerate(table.agents)
            if j != col
        }
        q = table.quality[row, col]
        cases.append(
            WorstCase(
                clip_id=clip,
                truth=labels[table.truth[row]],
                fused=labels[fused.top1[row]],
                saboteur=agent,
                confidence=float(table.confidence[row, col]),
                self_assessment=None if np.isnan(q) else float(q),
                rationale=verdict.rationale if verdict else "",
                others=others,
            )
        )
    return cases


def sabotage_matrix(table: VerdictTable, attribution: Attribution, fused: Fused) -> np.ndarray[Any, Any]:
    """[M, K, K] counts of successful sabotage: agent x true label x fused (wrong) label."""
    k = table.n_labels
    local, cols = np.nonzero(attribution.successful_saboteur)
    rows = attribution.rows[local]
    flat = (cols * k + table.truth[rows]) * k + fused.top1[rows]
    counts = np.bincount(flat, minlength=table.n_agents * k * k)
    return counts.reshape(table.n_agents, k, k)
