"""The diagnostic's picture: the Broken-Q null distribution against the Clean-Q accuracy (PNG + SVG)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from saboteur.errors import SaboteurError
from saboteur.eval.permutation.protocol import PermutationResult


def plot_permutation(result: PermutationResult, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``path`` as PNG and SVG (same stem); returns the two files.

    Left: histogram over permutations k of the fold-averaged Broken-Q balanced accuracy (folds are
    independent, so this is the null distribution of the reported mean), with the mean Clean-Q balanced
    accuracy as a vertical line. Right: each fold's gap with its p-value colour, and the zero line.
    """
    if not result.broken:
        raise SaboteurError("this result holds no Broken-Q values to plot (it was read back from JSON)")
    broken = np.asarray(result.broken, dtype=np.float64)  # [folds, K]
    pooled = broken.mean(axis=0)
    target = Path(path)
    stem = target.with_suffix("") if target.suffix.lower() in (".png", ".svg") else target
    stem.parent.mkdir(parents=True, exist_ok=True)

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax_folds = fig.subplots(1, 2, width_ratios=[2, 1])
    # bins span the null and the Clean-Q line: a null far narrower than the gap shows as a spike
    lo, hi = min(pooled.min(), result.ba_clean), max(pooled.max(), result.ba_clean)
    pad = 0.05 * (hi - lo) + 1e-6
    ax.hist(pooled, bins=np.linspace(lo - pad, hi + pad, 61), color="#8da0cb", edgecolor="white")
    ax.axvline(result.ba_clean, color="#d62728", linewidth=2, label=f"Clean-Q BA {result.ba_clean:.3f}")
    ax.axvline(
        result.ba_broken_mean,
        color="#555555",
        linestyle="--",
        label=f"mean Broken-Q BA {result.ba_broken_mean:.3f}",
    )
    settings = result.settings
    quality = (
        result.quality
        if settings.positive_control == "none"
        else f"positive control {settings.positive_control}"
    )
    ax.set_title(
        f"{settings.fusion} over {', '.join(result.experts)} (Q = {quality})\n"
        f"gap {result.gap_mean:+.4f} ± {result.gap_std:.4f}, median p = {result.p_value_median:.3g}",
        fontsize=10,
    )
    ax.set_xlabel(f"balanced accuracy, mean over {broken.shape[0]} folds, per Broken-Q permutation")
    ax.set_ylabel(f"permutations (K = {broken.shape[1]})")
    ax.legend(loc="best", fontsize=8, framealpha=0.8)

    gaps = np.asarray([f.gap for f in result.folds])
    pvals = np.asarray([f.p_value for f in result.folds])
    significant = pvals < 0.05
    x = np.arange(gaps.size)
    ax_folds.axhline(0.0, color="#555555", linewidth=1)
    ax_folds.scatter(x[significant], gaps[significant], color="#d62728", s=18, label="p < 0.05")
    ax_folds.scatter(x[~significant], gaps[~significant], color="#8da0cb", s=18, label="p >= 0.05")
    ax_folds.set_xlabel("fold (seed-major)")
    ax_folds.set_ylabel("gap = BA clean - mean BA broken")
    ax_folds.set_title(f"per-fold gap (oracle headroom {result.oracle_headroom:+.3f})", fontsize=10)
    ax_folds.legend(loc="best", fontsize=8, frameon=False)

    written = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(written[0], dpi=150)
    fig.savefig(written[1])
    return written
