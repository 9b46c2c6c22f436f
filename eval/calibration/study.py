"""The calibration study: every figure per group of verdicts, with bootstrap 95% intervals, as a tidy table.

``group_figures`` computes all figures of one group for a weight matrix (see ``weights``): once with a row
of ones (the point estimate) and once per chunk of bootstrap resamples, as matrix operations. The
resamples are shared by all figures of a group (paired), and bins are fixed on the full sample.

``study(data, by)`` groups the verdicts (by agent, strategy, model or any verdict field) and returns a
``Study``; ``Study.rows()`` is the tidy table (one row per group and figure) that ``write_table`` saves as
CSV or Parquet.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from saboteur.errors import SaboteurError
from saboteur.eval.bootstrap import DEFAULT_RESAMPLES, Interval
from saboteur.eval.calibration.binning import (
    DEFAULT_BINS,
    Binning,
    adaptive,
    bin_stats,
    equal_mass,
    equal_width,
)
from saboteur.eval.calibration.data import CalibrationData
from saboteur.eval.calibration.scores import (
    auprc,
    aurc,
    auroc,
    brier,
    multiclass_brier,
    nll,
    optimal_aurc,
    pearson,
    selective_accuracy,
    spearman,
)
from saboteur.eval.calibration.weights import bootstrap_weights, percentile_interval, weighted_mean
from saboteur.eval.table import FloatArray, as_float

FIGURES: dict[str, str] = {
    "accuracy": "share of verdicts whose primary label is the truth",
    "mean_confidence": "mean primary confidence",
    "overconfidence": "mean confidence minus accuracy (> 0: overconfident)",
    "ece": "expected calibration error, equal-width bins (contract.md)",
    "mce": "maximum calibration error over non-empty equal-width bins",
    "ece_equal_mass": "ECE over equal-mass bins",
    "ece_adaptive": "ECE over the most equal-mass bins that keep accuracy monotone (ECE sweep)",
    "brier": "mean (confidence - correct)^2",
    "multiclass_brier": "Brier score of the ranking distribution (0 to 2)",
    "nll": "negative log-likelihood of the truth under the ranking distribution",
    "auroc_confidence": "AUROC of confidence for ranking correct above wrong verdicts",
    "auprc_confidence": "average precision of confidence for finding correct verdicts",
    "aurc": "area under the risk-coverage curve (lower is better)",
    "e_aurc": "AURC minus that of a perfect ranking with the same accuracy",
    "selective_accuracy_50": "accuracy of the most confident half of the verdicts",
    "mean_self_assessment": "mean self-assessment score",
    "auroc_self_assessment": "AUROC of the self-assessment score for ranking correct above wrong verdicts",
    "auprc_self_assessment": "average precision of the self-assessment score for finding correct verdicts",
    "spearman_self_assessment_confidence": "Spearman correlation of self-assessment and confidence",
    "pearson_self_assessment_confidence": "Pearson correlation of self-assessment and confidence",
}
"""Every figure of a group, in table order, with its meaning."""


class GroupFigures(BaseModel):
    """All figures of one group of verdicts, each with its bootstrap 95% interval."""

    key: dict[str, str]
    """The group's value of each grouping field."""
    n: int
    """Scored verdicts (valid, with a known truth)."""
    n_self_assessment: int
    """Of those, verdicts with a self-assessment score (the self-assessment figures use these)."""
    bins: int
    """Equal-width bins of ``ece`` / ``mce``."""
    adaptive_bins: int
    """Bins the ECE sweep chose."""
    figures: dict[str, float]
    """Figure name -> point estimate (NaN when undefined, e.g. AUROC with one class)."""
    intervals: dict[str, Interval] = Field(default_factory=dict)
    """Figure name -> bootstrap 95% interval."""

    def contract(self) -> dict[str, Any]:
        """The contract.md block of ``saboteur calibrate --json``: n, ece, mce, brier, AUROCs."""
        keys = ("ece", "mce", "brier", "auroc_confidence", "auroc_self_assessment")
        return {"n": self.n, **{name: self.figures[name] for name in keys}}


@dataclass(frozen=True)
class _Prepared:
    """What a group's figures need that does not change across resamples."""

    data: CalibrationData
    width: Binning
    mass: Binning
    sweep: Binning
    has_quality: FloatArray
    quality: FloatArray


def _prepare(data: CalibrationData, bins: int) -> _Prepared:
    has_quality = as_float(~np.isnan(data.quality))
    return _Prepared(
        data=data,
        width=equal_width(data.confidence, bins),
        mass=equal_mass(data.confidence, bins),
        sweep=adaptive(data.confidence, data.correct),
        has_quality=has_quality,
        quality=as_float(np.nan_to_num(data.quality)),
    )


def group_figures_batch(prep: _Prepared, w: FloatArray) -> dict[str, FloatArray]:
    """[R] values of every figure for weight rows ``w`` [R, n]."""
    d = prep.data
    conf, hits = d.confidence, d.correct
    width = bin_stats(prep.width, conf, hits, w)
    accuracy = weighted_mean(as_float(hits), w)
    mean_conf = weighted_mean(conf, w)
    wq = w * prep.has_quality[None, :]
    return {
        "accuracy": accuracy,
        "mean_confidence": mean_conf,
        "overconfidence": as_float(mean_conf - accuracy),
        "ece": width.ece,
        "mce": width.mce,
        "ece_equal_mass": bin_stats(prep.mass, conf, hits, w).ece,
        "ece_adaptive": bin_stats(prep.sweep, conf, hits, w).ece,
        "brier": brier(conf, hits, w),
        "multiclass_brier": multiclass_brier(d.probs, d.truth, w),
        "nll": nll(d.probs, d.truth, w),
        "auroc_confidence": auroc(conf, hits, w),
        "auprc_confidence": auprc(conf, hits, w),
        "aurc": (area := aurc(conf, hits, w)),
        "e_aurc": as_float(area - optimal_aurc(1.0 - accuracy)),
        "selective_accuracy_50": selective_accuracy(conf, hits, 0.5, w),
        "mean_self_assessment": weighted_mean(prep.quality, wq),
        "auroc_self_assessment": auroc(prep.quality, hits, wq),
        "auprc_self_assessment": auprc(prep.quality, hits, wq),
        "spearman_self_assessment_confidence": spearman(prep.quality, conf, wq),
        "pearson_self_assessment_confidence": pearson(prep.quality, conf, wq),
    }


def group_figures(
    data: CalibrationData,
    key: dict[str, str] | None = None,
    *,
    bins: int = DEFAULT_BINS,
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> GroupFigures:
    """Every figure of one group with bootstrap intervals (``resamples`` = 0: no intervals)."""
    if data.size == 0:
        raise SaboteurError("no scored verdicts (valid, with a known truth) in this group")
    prep = _prepare(data, bins)
    point = {name: float(v[0]) for name, v in group_figures_batch(prep, np.ones((1, data.size))).items()}
    intervals: dict[str, Interval] = {}
    if resamples > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        chunks = [group_figures_batch(prep, w) for w in bootstrap_weights(data.size, resamples, rng)]
        for name, value in point.items():
            samples = as_float(np.concatenate([chunk[name] for chunk in chunks]))
            intervals[name] = percentile_interval(value, samples, data.size)
    return GroupFigures(
        key=key or {},
        n=data.size,
        n_self_assessment=int(prep.has_quality.sum()),
        bins=bins,
        adaptive_bins=prep.sweep.n_bins,
        figures=point,
        intervals=intervals,
    )


class Study(BaseModel):
    """Figures of every group of a calibration study."""

    by: list[str]
    bins: int
    resamples: int
    groups: list[GroupFigures]

    def rows(self) -> list[dict[str, Any]]:
        """The tidy table: one row per group and figure (group fields, figure, value, low, high, n)."""
        out = []
        for group in self.groups:
            for name, value in group.figures.items():
                interval = group.intervals.get(name)
                n = group.n_self_assessment if "self_assessment" in name else group.n
                out.append(
                    {
                        **{field: group.key.get(field, "") for field in self.by},
                        "figure": name,
                        "value": value,
                        "low": interval.low if interval else float("nan"),
                        "high": interval.high if interval else float("nan"),
                        "n": n,
                        "bins": group.bins if name in ("ece", "mce") else None,
                        "resamples": self.resamples,
                    }
                )
        return out

    def write_table(self, path: str | os.PathLike[str]) -> Path:
        """Save ``rows()`` as CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow)."""
        return write_rows(self.rows(), path)


def study(
    data: CalibrationData,
    by: Sequence[str] = ("agent",),
    *,
    bins: int = DEFAULT_BINS,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Study:
    """Group the verdicts by the ``by`` fields and compute every figure of every group."""
    if bins < 1:
        raise SaboteurError(f"--bins must be at least 1, got {bins}")
    rng = np.random.default_rng(seed)
    groups = [
        group_figures(data.subset(rows), key, bins=bins, resamples=resamples, rng=rng)
        for key, rows in data.groups(by)
    ]
    return Study(by=list(by), bins=bins, resamples=resamples, groups=groups)


def write_rows(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write table rows as ``.csv`` or ``.parquet`` (chosen by the suffix)."""
    target = Path(path)
    if target.suffix not in (".csv", ".parquet"):
        raise SaboteurError(f"{target}: the table must end in .csv or .parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    rows = [{column: row.get(column) for column in columns} for row in rows]  # every row, every column
    if target.suffix == ".csv":
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return target
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise SaboteurError("writing Parquet needs pyarrow: pip install 'saboteur[parquet]'") from None
    pq.write_table(pa.Table.from_pylist(list(rows)), target)
    return target
