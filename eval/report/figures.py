"""The report's plots: matplotlib (Agg) figures rendered to inline SVG text or PNG bytes.

Every function takes plain arrays (or the pydantic records of an evaluation) and returns a
:class:`Figure`; nothing here reads a run. SVG text is kept as text (``svg.fonttype = none``), so the
browser draws the labels with its own fonts and every agent or label name goes through matplotlib's XML
escaping; each figure gets its own id salt so that several SVGs inlined in one page never share an id.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure
from scipy.stats import beta

from saboteur.eval.calibration.binning import bin_stats, equal_width
from saboteur.eval.evaluate import AgentProfile
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int

N_BINS = 10
"""Equal-width confidence bins over [0, 1] (1.0 falls in the last bin), as ``saboteur calibrate``."""
PALETTE = (
    "#2f6db3",
    "#d9812b",
    "#3a9a5b",
    "#b8434a",
    "#7a5cb0",
    "#8c6d46",
    "#c95fa5",
    "#6b6b6b",
    "#1b9e9e",
    "#c9a227",
    "#4a4a9c",
    "#7d2f2f",
)
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
}


@dataclass(frozen=True)
class Figure:
    """One rendered plot."""

    name: str
    """File stem (``topk``); figures are also written to ``RUN/report/figures/NAME.svg|png``."""
    title: str
    caption: str
    svg: str | None = None
    """Inline SVG markup (no XML prolog) or None for a PNG figure."""
    png: bytes | None = None

    @property
    def filename(self) -> str:
        """``NAME.svg`` or ``NAME.png``."""
        return f"{self.name}.svg" if self.svg is not None else f"{self.name}.png"

    def data(self) -> bytes:
        """The file's bytes."""
        return self.svg.encode("utf-8") if self.svg is not None else (self.png or b"")

    def inline_html(self) -> str:
        """Markup that shows the figure inside a page without fetching anything."""
        if self.svg is not None:
            return self.svg
        encoded = base64.b64encode(self.png or b"").decode("ascii")
        return f'<img class="plot" alt="" src="data:image/png;base64,{encoded}">'


def render(fig: MplFigure, name: str, title: str, caption: str, fmt: str = "svg") -> Figure:
    """Serialise and close a matplotlib figure."""
    buffer = io.BytesIO()
    try:
        if fmt == "png":
            fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
            return Figure(name=name, title=title, caption=caption, png=buffer.getvalue())
        with matplotlib.rc_context({"svg.hashsalt": f"saboteur-{name}"}):
            fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        text = buffer.getvalue().decode("utf-8")
        start = text.find("<svg")
        svg = re.sub(r"\s*<metadata>.*?</metadata>", "", text[start:], count=1, flags=re.DOTALL).replace(
            "<svg ", '<svg class="plot" role="img" ', 1
        )
        return Figure(name=name, title=title, caption=caption, svg=svg)
    finally:
        plt.close(fig)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


# -- data helpers -------------------------------------------------------------------------------------
def bin_index(confidence: FloatArray, n_bins: int = N_BINS) -> IntArray:
    """Equal-width bin of each value in [0, 1] (``saboteur calibrate``'s binning; 1.0 in the last bin)."""
    return equal_width(as_float(confidence), n_bins).index


def reliability_bins(
    confidence: FloatArray, correct: BoolArray, n_bins: int = N_BINS
) -> tuple[FloatArray, FloatArray, IntArray, float]:
    """Per bin: mean confidence, accuracy, count (NaN for empty bins), and the ECE.

    ECE = sum over bins of (count / n) * |accuracy - mean confidence|, exactly as ``saboteur calibrate``.
    """
    conf = as_float(confidence)
    stats = bin_stats(equal_width(conf, n_bins), conf, correct)
    return (
        as_float(stats.mean_confidence[0]),
        as_float(stats.accuracy[0]),
        as_int(stats.count[0]),
        float(stats.ece[0]),
    )


def exact_interval(hits: IntArray, n: IntArray, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Clopper-Pearson interval of hits / n, vectorised (NaN where n = 0)."""
    tail = (1.0 - level) / 2.0
    hits_f, n_f = as_float(hits), as_float(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(hits_f > 0, beta.ppf(tail, hits_f, n_f - hits_f + 1), 0.0)
        high = np.where(hits_f < n_f, beta.ppf(1 - tail, hits_f + 1, n_f - hits_f), 1.0)
    empty = n_f == 0
    return as_float(np.where(empty, np.nan, low)), as_float(np.where(empty, np.nan, high))


# -- the plots -----------------------------------------------------------------------------------------
def topk_figure(curves: Mapping[str, Sequence[float]], main_rule: str, baseline: float | None) -> Figure:
    """Fused top-k coverage per fusion rule; the report's rule drawn bold, the oracle dashed."""
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
        for i, (rule, curve) in enumerate(curves.items()):
            ks = np.arange(1, len(curve) + 1)
            style = "--" if rule == "oracle" else "-"
            width = 2.6 if rule == main_rule else 1.2
            ax.plot(ks, curve, style, marker="o", ms=3.5, lw=width, color=_color(i), label=rule)
        if baseline is not None:
            ax.axhline(baseline, color="#444", lw=0.8, ls=":", label="best single agent top-1")
        ax.set_xlabel("k")
        ax.set_ylabel("truth among the k best fused labels")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(np.arange(1, max(len(c) for c in curves.values()) + 1))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return render(
            fig,
            "topk",
            "Top-k coverage per fusion rule",
            f"Bold: the report's rule ({main_rule}); dashed: the oracle upper bound (per clip, the agent "
            "that knew best).",
        )


_PROFILE_RATES = (
    ("accuracy", "accuracy"),
    ("contributor", "contributor rate"),
    ("potential_saboteur", "potential saboteur rate"),
    ("successful_saboteur", "successful saboteur rate"),
)


def profile_figure(profiles: Mapping[str, AgentProfile]) -> Figure:
    """Per agent: accuracy, contributor and saboteur rates with bootstrap 95% intervals."""
    agents = list(profiles)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(6.2, 1.4 + 0.55 * len(agents) * len(_PROFILE_RATES) / 2))
        height = 0.8 / len(_PROFILE_RATES)
        for j, (key, title) in enumerate(_PROFILE_RATES):
            values, lows, highs = [], [], []
            for agent in agents:
                iv = profiles[agent].intervals.get(key)
                values.append(iv.value if iv else np.nan)
                lows.append(iv.low if iv else np.nan)
                highs.append(iv.high if iv else np.nan)
            v = as_float(values)
            err = np.vstack([v - as_float(lows), as_float(highs) - v])
            y = np.arange(len(agents)) + (j - (len(_PROFILE_RATES) - 1) / 2) * height
            ax.barh(y, v, height=height * 0.92, color=_color(j), label=title)
            ax.errorbar(v, y, xerr=np.nan_to_num(err), fmt="none", ecolor="#222", lw=0.9, capsize=2)
        ax.set_yticks(np.arange(len(agents)), agents)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the clips the agent answered (95% bootstrap interval)")
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
        return render(
            fig,
            "profile",
            "Reliability profile per agent",
            "Contributor: right when the fused decision is right. Potential saboteur: confidently wrong. "
            "Successful saboteur: confidently wrong with its label winning the fused vote.",
        )


def shapley_figure(profiles: Mapping[str, AgentProfile], fused_accuracy: float) -> Figure:
    """Mean exact Shapley value of each agent for fused top-1 correctness, with its share."""
    agents = list(profiles)
    values = as_float([profiles[a].shapley for a in agents])
    ivs = [profiles[a].intervals.get("shapley") for a in agents]
    low = as_float([iv.low if iv else np.nan for iv in ivs])
    high = as_float([iv.high if iv else np.nan for iv in ivs])
    total = float(values.sum())
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(6.2, 0.7 + 0.45 * len(agents)))
        y = np.arange(len(agents))
        colors = [_color(i) for i in range(len(agents))]
        ax.barh(y, values, color=colors, height=0.6)
        ax.errorbar(
            values, y, xerr=np.nan_to_num(np.vstack([values - low, high - values])), fmt="none", ecolor="#222"
        )
        for yi, value, top in zip(y, values, np.fmax(high, values), strict=True):
            share = value / total if total else float("nan")
            ax.annotate(
                f" {value:.3f} ({share:.0%})",
                (max(top, 0.0), yi),
                va="center",
                fontsize=8,
                xytext=(4, 0),
                textcoords="offset points",
            )
        ax.set_yticks(y, agents)
        ax.invert_yaxis()
        ax.axvline(0, color="#444", lw=0.8)
        right = max(float(np.nanmax(high)) if np.isfinite(high).any() else 0.0, float(values.max()), 0.05)
        ax.set_xlim(min(0.0, float(np.nanmin(low)) if np.isfinite(low).any() else 0.0), right * 1.45)
        ax.set_xlabel(f"mean Shapley value (sum = fused accuracy {fused_accuracy:.3f})")
        return render(
            fig,
            "shapley",
            "Shapley shares of the fused accuracy",
            "Each agent's exact Shapley value in the game 'fusing this coalition gives the right top-1', "
            "averaged over clips; shares in brackets.",
        )


def sabotage_matrix_figure(matrix: IntArray, agents: Sequence[str], labels: Sequence[str]) -> Figure:
    """Panels per saboteur agent: true label (rows) x fused wrong label it imposed (columns)."""
    m = len(agents)
    vmax = max(int(matrix.max()), 1)
    with plt.style.context({**STYLE, "axes.grid": False}):
        fig, axes = plt.subplots(1, m, figsize=(1.2 + 2.5 * m, 3.2), squeeze=False, sharey=True)
        image = None
        for col, agent in enumerate(agents):
            ax = axes[0, col]
            image = ax.imshow(matrix[col], cmap="Reds", vmin=0, vmax=vmax, aspect="auto")
            ax.set_title(f"{agent} ({int(matrix[col].sum())})", fontsize=9)
            ax.set_xticks(np.arange(len(labels)), labels, rotation=60, ha="right", fontsize=7)
            ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
            ax.set_xlabel("fused wrong label", fontsize=8)
            for (r, c), count in np.ndenumerate(matrix[col]):
                if count:
                    dark = count > 0.55 * vmax
                    ax.text(
                        c,
                        r,
                        str(count),
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color="white" if dark else "#222",
                    )
        axes[0, 0].set_ylabel("true label")
        if image is not None:
            fig.colorbar(image, ax=axes[0, :].tolist(), shrink=0.8, label="successful sabotages")
        return render(
            fig,
            "sabotage_matrix",
            "Sabotage matrix",
            "Clips where the agent was a successful saboteur (confidently wrong, and its wrong label became "
            "the fused top-1): its true label and the wrong label the fusion chose.",
            fmt="png",
        )


def reliability_figure(
    confidence: FloatArray, correct: BoolArray, mask: BoolArray, names: Sequence[str]
) -> tuple[Figure, dict[str, float]]:
    """Reliability diagram: accuracy per confidence bin for each column (agents, then the fusion).

    Returns the figure and each column's ECE.
    """
    eces: dict[str, float] = {}
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        ax.plot([0, 1], [0, 1], color="#888", lw=0.8, ls="--", label="perfect calibration")
        for col, name in enumerate(names):
            rows = mask[:, col]
            if not rows.any():
                continue
            mean_conf, acc, counts, ece = reliability_bins(confidence[rows, col], correct[rows, col])
            eces[name] = ece
            filled = counts > 0
            sizes = 8 + 60 * counts[filled] / counts.max()
            ax.plot(mean_conf[filled], acc[filled], "-", color=_color(col), lw=1.2)
            ax.scatter(
                mean_conf[filled],
                acc[filled],
                s=sizes,
                color=_color(col),
                label=f"{name} (ECE {ece:.3f})",
                zorder=3,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (mean in bin)")
        ax.set_ylabel("accuracy in bin")
        ax.legend(fontsize=8, loc="upper left")
        figure = render(
            fig,
            "reliability",
            "Reliability diagrams",
            f"{N_BINS} equal-width confidence bins; marker area ~ clips in the bin. Agents: primary-label "
            "confidence; fusion: normalised fused score of its top-1.",
        )
    return figure, eces


def self_assessment_figure(
    quality: FloatArray, correct: BoolArray, mask: BoolArray, agents: Sequence[str], n_bins: int = 5
) -> Figure:
    """Accuracy per self-assessment bin with exact 95% intervals, one line per agent."""
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(5.6, 3.6))
        centers = (np.arange(n_bins) + 0.5) / n_bins
        for col, agent in enumerate(agents):
            rows = mask[:, col] & ~np.isnan(quality[:, col])
            if not rows.any():
                continue
            bins = bin_index(quality[rows, col], n_bins)
            n = as_int(np.bincount(bins, minlength=n_bins))
            hits = as_int(np.bincount(bins, weights=correct[rows, col].astype(np.float64), minlength=n_bins))
            low, high = exact_interval(hits, n)
            with np.errstate(invalid="ignore", divide="ignore"):
                acc = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
            x = centers + (col - (len(agents) - 1) / 2) * 0.012
            err = np.nan_to_num(np.vstack([acc - low, high - acc]))
            ax.errorbar(x, acc, yerr=err, marker="o", ms=4, capsize=2, color=_color(col), label=agent)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(np.linspace(0, 1, n_bins + 1))
        ax.set_xlabel("self-assessment score (bins)")
        ax.set_ylabel("accuracy of the primary label")
        ax.legend(fontsize=8, loc="lower right")
        return render(
            fig,
            "self_assessment",
            "Self-assessment vs correctness",
            "If an agent's self-assessment were informative, accuracy would rise from left to right. "
            "Bars: exact (Clopper-Pearson) 95% intervals.",
        )
