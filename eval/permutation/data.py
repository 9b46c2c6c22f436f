"""The diagnostic's inputs: experts, their evidence, availability and quality, aligned by clip.

The permutation diagnostic (arXiv 2606.26473) sees a run as M frozen experts (the agents): evidence =
each agent's label distribution (its ranking confidences normalised to sum to 1), availability = the
table's mask, quality Q = one number per clip and agent. Q is the self-assessment score by default; any
numeric verdict field (``confidence``, ``extra.intensity``, ``usage.latency_s``) or a column of an
external per-clip CSV can stand in, so that one can ask of any reliability signal whether fusion uses it.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from saboteur.errors import SaboteurError
from saboteur.eval.load import LoadedRun, load_table
from saboteur.eval.table import BoolArray, FloatArray, IntArray, VerdictTable, as_bool, as_float, as_int


@dataclass(frozen=True, eq=False)
class ExpertData:
    """N clips (all with a known truth) x M experts x K labels, as the diagnostic's arrays."""

    clip_ids: list[str]
    """Clip identifiers, row order."""
    experts: list[str]
    """Expert (agent) names, column order."""
    labels: list[str]
    """Label names, label-axis order."""
    probs: FloatArray
    """[N, M, K] each expert's label distribution (sums to 1 where available, all 0 where absent)."""
    mask: BoolArray
    """[N, M] True where the expert is available for the clip."""
    quality: FloatArray
    """[N, M] quality score (NaN where absent or not given; imputed per fold from training rows)."""
    truth: IntArray
    """[N] index of the true label (every row has one)."""
    quality_name: str = "self_assessment"
    """Where Q came from (``self_assessment``, ``confidence``, ``extra.intensity``, ``CSV:...``)."""

    def __post_init__(self) -> None:
        n, m, k = self.probs.shape
        if self.mask.shape != (n, m) or self.quality.shape != (n, m) or self.truth.shape != (n,):
            raise SaboteurError("expert data arrays disagree in shape")
        if n and (self.truth.min() < 0 or self.truth.max() >= k):
            raise SaboteurError("every clip of the diagnostic needs a true label in the label set")

    @property
    def n_clips(self) -> int:
        """N."""
        return int(self.probs.shape[0])

    @property
    def n_experts(self) -> int:
        """M."""
        return int(self.probs.shape[1])

    @property
    def n_labels(self) -> int:
        """K."""
        return int(self.probs.shape[2])

    @cached_property
    def full_rows(self) -> BoolArray:
        """[N] True where every expert is available (the rows the diagnostic is evaluated on)."""
        return as_bool(self.mask.all(axis=1))

    @cached_property
    def expert_correct(self) -> BoolArray:
        """[N, M] True where the expert is available and its most probable label is the truth."""
        return as_bool(self.mask & (self.probs.argmax(axis=2) == self.truth[:, None]))

    def with_arrays(
        self, *, probs: FloatArray | None = None, quality: FloatArray | None = None
    ) -> ExpertData:
        """A copy with other evidence or quality (positive controls and imputation use this)."""
        return ExpertData(
            clip_ids=self.clip_ids,
            experts=self.experts,
            labels=self.labels,
            probs=self.probs if probs is None else probs,
            mask=self.mask,
            quality=self.quality if quality is None else quality,
            truth=self.truth,
            quality_name=self.quality_name,
        )


def normalise_scores(scores: FloatArray, mask: BoolArray) -> FloatArray:
    """[N, M, K] label distributions: scores / their sum; uniform when an available expert scored nothing."""
    k = scores.shape[2]
    total = scores.sum(axis=2, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    probs = np.where(total > 0, scores / safe, 1.0 / k)
    return as_float(np.where(mask[:, :, None], probs, 0.0))


def expert_data_from_table(
    table: VerdictTable, quality: FloatArray | None = None, quality_name: str = "self_assessment"
) -> ExpertData:
    """The diagnostic's arrays from a VerdictTable; clips without a known truth are left out.

    Args:
        table: the verdicts (M agents = M experts).
        quality: [N, M] aligned to ``table`` (default: ``table.quality``, the self-assessment score).
        quality_name: where ``quality`` came from, for reports.
    """
    q = table.quality if quality is None else as_float(quality)
    if q.shape != table.mask.shape:
        raise SaboteurError(f"quality has shape {q.shape}, the table {table.mask.shape}")
    keep = table.has_truth
    if not keep.any():
        raise SaboteurError("no clip has a known true label: the diagnostic needs ground truth")
    mask = table.mask[keep]
    data = ExpertData(
        clip_ids=[c for c, k in zip(table.clip_ids, keep, strict=True) if k],
        experts=list(table.agents),
        labels=list(table.labels.labels),
        probs=normalise_scores(table.scores[keep], mask),
        mask=mask,
        quality=as_float(np.where(mask, q[keep], np.nan)),
        truth=as_int(table.truth[keep]),
        quality_name=quality_name,
    )
    validate_quality(data)
    return data


def validate_quality(data: ExpertData) -> None:
    """Every expert needs some finite Q where it is available (missing values are imputed per fold)."""
    if data.n_experts < 2:
        raise SaboteurError("the permutation diagnostic needs at least two experts (agents)")
    for col, name in enumerate(data.experts):
        present = data.mask[:, col]
        if present.any() and not np.isfinite(data.quality[present, col]).any():
            raise SaboteurError(f"quality {data.quality_name!r} is missing for every verdict of agent {name}")
    if not data.full_rows.any():
        raise SaboteurError("no clip has a verdict from every agent: nothing to evaluate on")


# -- quality sources ------------------------------------------------------------------------------
def _numeric(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def _walk(obj: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


def quality_from_verdicts(loaded: LoadedRun, field: str) -> FloatArray:
    """[N, M] a numeric verdict field (dotted path, e.g. ``extra.intensity``) aligned to the run's table."""
    table = loaded.table
    parts = field.split(".")
    verdicts = loaded.run.load().verdicts
    row = {clip: i for i, clip in enumerate(table.clip_ids)}
    col = {agent: j for j, agent in enumerate(table.agents)}
    out = np.full(table.mask.shape, np.nan)
    seen_field = False
    for v in verdicts:
        if table.strategy != "mixed" and v.strategy != table.strategy:
            continue
        if table.model != "mixed" and v.model != table.model:
            continue
        i, j = row.get(v.clip_id), col.get(v.modality)
        if i is None or j is None or not v.ok:
            continue
        value = _walk(v, parts)
        seen_field = seen_field or value is not None
        out[i, j] = _numeric(value)
    if not np.isfinite(out).any():
        hint = "no verdict has it" if not seen_field else "its values are not numeric"
        raise SaboteurError(f"quality field {field!r} cannot be used: {hint}")
    return as_float(out)


def quality_from_csv(path: Path, column: str, table: VerdictTable) -> FloatArray:
    """[N, M] quality from a per-clip CSV with a ``clip_id`` column.

    Three layouts: a long table with an ``agent`` (or ``modality``) column, one row per clip and agent;
    a column name holding ``{agent}`` (``q_{agent}`` -> ``q_voice``, ``q_face``); or one plain column,
    the same Q for every agent of the clip.
    """
    if not path.is_file():
        raise SaboteurError(f"{path}: no such quality CSV")
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        rows = list(reader)
    if "clip_id" not in fields:
        raise SaboteurError(f"{path}: the quality CSV needs a clip_id column")
    agent_field = next((f for f in ("agent", "modality") if f in fields), None)
    row_of = {clip: i for i, clip in enumerate(table.clip_ids)}
    out = np.full(table.mask.shape, np.nan)
    agents = table.agents
    if "{agent}" in column:
        wanted = {column.replace("{agent}", a): j for j, a in enumerate(agents)}
    else:
        wanted = {column: -1}
    missing = [name for name in wanted if name not in fields]
    if missing:
        raise SaboteurError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(fields)})")
    for record in rows:
        i = row_of.get(record["clip_id"])
        if i is None:
            continue
        for name, j in wanted.items():
            value = _numeric(record.get(name))
            if agent_field is not None and j < 0:
                agent = record.get(agent_field) or ""
                if agent in agents:
                    out[i, agents.index(agent)] = value
            elif j < 0:
                out[i, :] = value
            else:
                out[i, j] = value
    if not np.isfinite(out).any():
        raise SaboteurError(f"{path}: column {column!r} has no numeric value for any clip of the run")
    return as_float(out)


def resolve_quality(loaded: LoadedRun, spec: str) -> FloatArray:
    """[N, M] quality named by ``--quality``: ``self_assessment``, a verdict field, or ``CSV:path:column``."""
    table = loaded.table
    if spec in ("self_assessment", "self_assessment.score"):
        return table.quality
    if spec == "confidence":
        return as_float(np.where(table.mask, table.confidence, np.nan))
    if spec.startswith("CSV:"):
        path, sep, column = spec[4:].rpartition(":")
        if not sep or not path or not column:
            raise SaboteurError(f"--quality {spec!r}: write CSV:path:column")
        return quality_from_csv(Path(path), column, table)
    return quality_from_verdicts(loaded, spec)


def load_expert_data(
    run: str | os.PathLike[str],
    *,
    quality: str = "self_assessment",
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
) -> ExpertData:
    """A run's verdicts as the diagnostic's arrays, with Q read from ``quality`` (see resolve_quality)."""
    loaded = load_table(run, agents=agents, strategy=strategy, model=model)
    return expert_data_from_table(loaded.table, resolve_quality(loaded, quality), quality)
