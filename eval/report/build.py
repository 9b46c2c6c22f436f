"""``build_report(run)``: from stored verdicts to ``RUN/report/index.html`` and ``report.md``.

No model is called: the verdicts are loaded once into a VerdictTable, fused with every registered rule
(top-k curves), evaluated and attributed with the chosen rule, and drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from saboteur.errors import SaboteurError
from saboteur.eval.attribution import attribute
from saboteur.eval.evaluate import evaluate
from saboteur.eval.fusion import fuse, rules
from saboteur.eval.load import load_table
from saboteur.eval.metrics import top_k_curve
from saboteur.eval.report import figures
from saboteur.eval.report.data import (
    CalibrationRow,
    ReportData,
    auroc,
    clip_rows,
    read_permutation,
    sabotage_matrix,
    verdict_lookup,
    worst_cases,
)
from saboteur.eval.report.html import render_html
from saboteur.eval.report.markdown import render_markdown
from saboteur.eval.table import VerdictTable, as_bool, as_float
from saboteur.rundir import RunDir

MAX_CLIPS = 20_000
"""Rows of the per-clip table embedded in the page (the statistics always use every clip)."""
FUSED = "fused"


def topk_curves(table: VerdictTable) -> dict[str, list[float]]:
    """Fused top-k coverage of every registered rule over the clips with a known truth.

    A rule that cannot run on this table (the cross-fitted ``calibrated`` rules need enough labelled
    clips) is left out of the figure rather than sinking the report.
    """
    rows = np.flatnonzero(table.has_truth)
    curves: dict[str, list[float]] = {}
    for name in rules():
        try:
            fused = fuse(table, name)
        except SaboteurError:
            continue
        position = fused.truth_position(table.truth)[rows]
        curves[name] = [float(v) for v in top_k_curve(position, table.n_labels)]
    return curves


def gather(
    run: str | os.PathLike[str] | RunDir,
    *,
    rule: str = "confidence",
    tau: float = 0.7,
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    max_clips: int = MAX_CLIPS,
) -> ReportData:
    """Compute everything a report shows (no files written)."""
    loaded = load_table(run, agents=agents, strategy=strategy, model=model)
    table = loaded.table
    evaluation = evaluate(table, rule, tau)
    fused = fuse(table, rule)
    attribution = attribute(table, rule, tau)
    texts = verdict_lookup(loaded.run.load().verdicts, table)
    curves = topk_curves(table)

    rows = attribution.rows
    correct = np.column_stack([attribution.correct, fused.top1[rows] == table.truth[rows]])
    mask = np.column_stack([attribution.available, np.ones(rows.size, dtype=np.bool_)])
    top = np.clip(fused.top1[rows], 0, None)
    fused_conf = np.where(fused.top1[rows] >= 0, fused.probabilities[rows, top], 0.0)
    confidence = np.column_stack([table.confidence[rows], fused_conf])
    names = [*table.agents, FUSED]
    reliability, eces = figures.reliability_figure(as_float(confidence), as_bool(correct), mask, names)
    calibration: dict[str, CalibrationRow] = {}
    for col, name in enumerate(names):
        keep = mask[:, col]
        if not keep.any():
            continue
        quality = table.quality[rows, col][keep] if col < table.n_agents else np.full(keep.sum(), np.nan)
        calibration[name] = CalibrationRow(
            n=int(keep.sum()),
            ece=eces[name],
            auroc_confidence=auroc(as_float(confidence[keep, col]), as_bool(correct[keep, col])),
            auroc_self_assessment=auroc(as_float(quality), as_bool(correct[keep, col])),
        )

    best = evaluation.best_single_accuracy
    plots = [
        figures.topk_figure(curves, rule, best),
        figures.profile_figure(evaluation.per_modality),
        figures.shapley_figure(evaluation.per_modality, evaluation.accuracy),
        figures.sabotage_matrix_figure(
            sabotage_matrix(table, attribution, fused), table.agents, table.labels.labels
        ),
        reliability,
    ]
    if np.isfinite(table.quality[rows][attribution.available]).any():
        plots.append(
            figures.self_assessment_figure(
                table.quality[rows], attribution.correct, attribution.available, table.agents
            )
        )
    name = loaded.run.path.resolve().name
    return ReportData(
        title=f"saboteur report: {name}",
        run=loaded.run,
        table=table,
        evaluation=evaluation,
        fused=fused,
        attribution=attribution,
        curves=curves,
        calibration=calibration,
        worst=worst_cases(table, attribution, fused, texts),
        clips=clip_rows(table, fused, attribution, texts, max_clips),
        load_report=loaded.report,
        permutation=read_permutation(loaded.run),
        figures=plots,
        clips_total=table.n_clips,
    )


def build_report(
    run: str | os.PathLike[str] | RunDir,
    out: str | os.PathLike[str] | None = None,
    *,
    rule: str = "confidence",
    tau: float = 0.7,
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    max_clips: int = MAX_CLIPS,
) -> Path:
    """Write the report of a run and return the path of its ``index.html``.

    Args:
        run: the run directory.
        out: folder for the report (default ``RUN/report``); also gets ``report.md`` and ``figures/``.
        rule, tau: fusion rule and saboteur confidence threshold of the evaluation.
        agents, strategy, model: which verdicts to report on (as ``saboteur eval``).
        max_clips: rows of the per-clip table embedded in the page.
    """
    if max_clips < 0:
        raise SaboteurError("max_clips must be >= 0")
    data = gather(run, rule=rule, tau=tau, agents=agents, strategy=strategy, model=model, max_clips=max_clips)
    folder = Path(out) if out is not None else data.run.subdir("report")
    figure_dir = folder / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    for figure in data.figures:
        _write_atomic(figure_dir / figure.filename, figure.data())
    _write_atomic(folder / "report.md", render_markdown(data, "figures").encode("utf-8"))
    index = folder / "index.html"
    _write_atomic(index, render_html(data).encode("utf-8"))
    return index


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a report."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
