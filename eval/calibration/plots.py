"""Calibration plots (matplotlib, Agg), each saved as PNG and SVG.

- reliability diagram per group: accuracy per equal-width confidence bin against the diagonal, the gap to
  the bin's mean confidence, the verdict count of every bin written above it, and the confidence
  histogram underneath. An empty bin is drawn as an empty dashed outline marked "n=0": it has no
  accuracy, which is not the same as accuracy 0;
- self-assessment vs accuracy: accuracy per self-assessment bin (with counts) per group;
- risk-coverage curves: error rate among the accepted verdicts as the confidence threshold is lowered.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from saboteur.eval.calibration.binning import DEFAULT_BINS, bin_stats, equal_width
from saboteur.eval.calibration.data import CalibrationData
from saboteur.eval.calibration.scores import risk_coverage
from saboteur.eval.table import FloatArray

FORMATS = ("png", "svg")


def _save(fig: Figure, out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _groups(data: CalibrationData, by: Sequence[str]) -> list[tuple[str, CalibrationData]]:
    return [(" / ".join(key.values()) or "all", data.subset(rows)) for key, rows in data.groups(by)]


def _binned_panel(
    top: Axes, bottom: Axes, score: FloatArray, data: CalibrationData, bins: int, xlabel: str
) -> float:
    """Accuracy per equal-width bin of ``score`` (empty bins outlined), counts above, histogram below."""
    binning = equal_width(score, bins)
    stats = bin_stats(binning, score, data.correct)
    count, acc, conf = stats.count[0], stats.accuracy[0], stats.mean_confidence[0]
    left, width = binning.edges[:-1], np.diff(binning.edges)
    centre = left + width / 2
    filled = count > 0
    top.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
    top.bar(
        left[filled],
        acc[filled],
        width[filled],
        align="edge",
        color="#4c72b0",
        edgecolor="white",
        label="accuracy",
    )
    gap_low = np.minimum(acc, conf)[filled]
    top.bar(
        left[filled],
        np.abs(acc - conf)[filled],
        width[filled],
        bottom=gap_low,
        align="edge",
        color="#dd8452",
        alpha=0.45,
        hatch="//",
        edgecolor="#dd8452",
        label="gap to mean score",
    )
    for x0, w in zip(left[~filled], width[~filled], strict=True):
        top.add_patch(Rectangle((x0, 0), w, 1, fill=False, ls=":", ec="0.55", lw=0.8, label="_empty"))
    height = np.where(filled, np.fmax(acc, conf), 0.0)
    for x, n, h in zip(centre, count, height, strict=True):
        top.text(x, h + 0.02, f"n={int(n)}", ha="center", va="bottom", fontsize=6, rotation=90)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.3)
    top.set_yticks(np.linspace(0, 1, 6))
    top.set_ylabel("accuracy")
    right = stats.correct_sum[0]
    bottom.bar(left, right, width, align="edge", color="#4c72b0", edgecolor="white", label="right")
    bottom.bar(
        left,
        count - right,
        width,
        bottom=right,
        align="edge",
        color="#c44e52",
        edgecolor="white",
        label="wrong",
    )
    bottom.legend(loc="upper left", fontsize=6, frameon=False)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel("verdicts")
    return float(stats.ece[0])


def _legend(fig: Figure, ax: Axes) -> None:
    """One legend under the panels (it would hide bins inside a panel), with the empty-bin outline."""
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Rectangle((0, 0), 1, 1, fill=False, ls=":", ec="0.55"))
    labels.append("empty bin (no accuracy)")
    fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


def reliability_diagrams(
    data: CalibrationData,
    out: str | os.PathLike[str],
    *,
    by: Sequence[str] = ("agent",),
    bins: int = DEFAULT_BINS,
    title: str = "",
) -> list[Path]:
    """One reliability diagram per group, side by side, with bin counts and confidence histograms."""
    groups = _groups(data, by)
    fig, axes = plt.subplots(
        2, len(groups), figsize=(3.6 * len(groups), 4.6), gridspec_kw={"height_ratios": [3, 1]}, squeeze=False
    )
    for col, (name, group) in enumerate(groups):
        ece = _binned_panel(axes[0, col], axes[1, col], group.confidence, group, bins, "stated confidence")
        acc = float(np.mean(group.correct))
        axes[0, col].set_title(f"{name}\nn={group.size}  acc={acc:.3f}  ECE={ece:.3f}", fontsize=9)
        if col:
            axes[0, col].set_ylabel("")
            axes[1, col].set_ylabel("")
    _legend(fig, axes[0, 0])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, Path(out))


def self_assessment_diagrams(
    data: CalibrationData,
    out: str | os.PathLike[str],
    *,
    by: Sequence[str] = ("agent",),
    bins: int = DEFAULT_BINS,
    title: str = "",
) -> list[Path]:
    """Accuracy against the self-assessment score, per group (verdicts without a score left out)."""
    groups = [(name, g.subset(np.flatnonzero(~np.isnan(g.quality)))) for name, g in _groups(data, by)]
    groups = [(name, g) for name, g in groups if g.size]
    if not groups:
        return []
    fig, axes = plt.subplots(
        2, len(groups), figsize=(3.6 * len(groups), 4.6), gridspec_kw={"height_ratios": [3, 1]}, squeeze=False
    )
    for col, (name, group) in enumerate(groups):
        _binned_panel(axes[0, col], axes[1, col], group.quality, group, bins, "self-assessment score")
        axes[0, col].set_title(f"{name} (n={group.size})", fontsize=9)
    _legend(fig, axes[0, 0])
    fig.suptitle(title or "self-assessment vs accuracy", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, Path(out))


def risk_coverage_curves(
    data: CalibrationData, out: str | os.PathLike[str], *, by: Sequence[str] = ("agent",), title: str = ""
) -> list[Path]:
    """Risk (error rate among accepted verdicts) against coverage, one curve per group."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, group in _groups(data, by):
        curve = risk_coverage(group.confidence, group.correct)
        # one operating point per distinct confidence threshold (tied verdicts are accepted together)
        ax.plot(curve.coverage, curve.risk, marker=".", markersize=3, lw=1.2, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("coverage (share of verdicts accepted, most confident first)")
    ax.set_ylabel("risk (error rate among accepted)")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or "risk-coverage", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(out))


def write_plots(
    data: CalibrationData,
    out_dir: str | os.PathLike[str],
    *,
    by: Sequence[str] = ("agent",),
    bins: int = DEFAULT_BINS,
    title: str = "",
) -> list[Path]:
    """Every calibration plot of ``data`` into ``out_dir`` (PNG and SVG each); returns the files."""
    folder = Path(out_dir)
    paths = reliability_diagrams(data, folder / "reliability", by=by, bins=bins, title=title)
    paths += self_assessment_diagrams(data, folder / "self_assessment", by=by, bins=bins, title=title)
    paths += risk_coverage_curves(data, folder / "risk_coverage", by=by, title=title)
    return paths
