"""The leakage-safe Clean-Q vs Broken-Q protocol (arXiv 2606.26473, papers.md part B).

For each of S seeds x F stratified folds: everything that is fitted (Q imputation, the quality model of
the calibrated control, the fusion rule) is fitted on the fold's training rows only, then frozen. The
frozen rule is evaluated on the test rows where every expert is present, once with the true quality
(Clean-Q) and K times with each Q_m permuted independently among the test rows where expert m is present
(Broken-Q). Evidence and masks never change, so any accuracy lost under Broken-Q is accuracy the rule owed
to *which clip* got *which* quality score.

Every fitted object records its training rows; :func:`check_no_leak` refuses a fold in which any of them
overlaps the test rows.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field
from sklearn.model_selection import StratifiedKFold

from saboteur.errors import SaboteurError
from saboteur.eval.permutation.controls import best_expert, calibrated_quality, corrupt
from saboteur.eval.permutation.data import ExpertData
from saboteur.eval.permutation.metrics import (
    alignment_rho,
    balanced_accuracy_batch,
    competitiveness,
    oracle_predictions,
    permutation_p_value,
    permute_within_present,
)
from saboteur.eval.permutation.styles import FittedFusion, TrainingSet, fit_style, single_thread, styles
from saboteur.eval.table import BoolArray, FloatArray, IntArray, as_float, as_int

Control = Literal["none", "corrupt", "calibrated"]
PREDICT_CELLS = 2_000_000
"""Permuted rows (K x n) evaluated per batch: bounds memory while keeping each batch one array op."""


class PermutationSettings(BaseModel):
    """How the diagnostic is run."""

    fusion: str = "weighted"
    """Fusion style: noq, weighted, lr, hgb, moe."""
    permutations: int = Field(default=200, ge=1)
    """K Broken-Q permutations per fold (the paper uses 200)."""
    folds: int = Field(default=5, ge=2)
    """F stratified folds per seed."""
    seeds: int = Field(default=5, ge=1)
    """S repetitions of the fold split with different shuffles."""
    seed: int = 0
    """Base seed of splits, permutations and controls (results are reproducible)."""
    positive_control: Control = "none"
    """``corrupt`` or ``calibrated`` positive control, or none (native quality)."""
    corrupt_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)
    """Share of rows on which the corrupt control breaks its expert."""
    corrupt_expert: str | None = None
    """Expert the corrupt control breaks (default: the most accurate one on each fold's training rows)."""


class FoldResult(BaseModel):
    """One fold's figures."""

    seed: int
    """Seed index (0..S-1)."""
    fold: int
    """Fold index (0..F-1)."""
    n_train: int
    """Training rows the rule was fitted on."""
    n_test: int
    """Test rows (Q is permuted among these)."""
    n_eval: int
    """Fully observed test rows the accuracy is measured on."""
    ba_clean: float
    """Balanced accuracy under Clean-Q."""
    ba_broken_mean: float
    """Mean balanced accuracy over the K Broken-Q permutations."""
    ba_broken_std: float
    """Standard deviation of Broken-Q balanced accuracy over the K permutations."""
    gap: float
    """ba_clean - ba_broken_mean."""
    p_value: float
    """(1 + #{k: BA_broken_k >= BA_clean}) / (K + 1)."""
    ba_oracle: float
    """Balanced accuracy of the per-clip oracle expert choice."""
    oracle_headroom: float
    """ba_oracle - ba_clean."""
    alignment_rho: float
    """Mean over experts of corr(Q_m, expert m correct) on the evaluated rows."""
    competitiveness: float
    """Median (best - second-best true-class probability across experts) on the evaluated rows."""
    corrupted_expert: str | None = None
    """The expert the corrupt control broke in this fold."""


class PermutationResult(BaseModel):
    """The diagnostic over all folds (contract.md keys first)."""

    ba_clean: float
    """Mean Clean-Q balanced accuracy over folds."""
    ba_broken_mean: float
    """Mean over folds of the mean Broken-Q balanced accuracy."""
    gap_mean: float
    """Mean permutation gap over folds."""
    gap_std: float
    """Standard deviation of the gap over folds (ddof = 1)."""
    p_value_median: float
    """Median one-sided permutation p-value over folds."""
    oracle_headroom: float
    """Mean over folds of BA(oracle) - BA(Clean-Q)."""
    alignment_rho: float
    """Mean over folds of the alignment between Q and expert correctness."""
    competitiveness: float
    """Mean over folds of the median true-class margin between the two best experts."""
    ba_oracle: float
    """Mean oracle balanced accuracy over folds."""
    significant_share: float
    """Share of folds with p < 0.05."""
    p_value_pooled: float
    """p-value of the fold-averaged gap: permutation k's Broken-Q BA averaged over folds against the mean
    Clean-Q BA (folds are independent, so this is the null of the reported mean; more power than one fold)."""
    experts: list[str]
    """Experts (agents) in column order."""
    quality: str
    """Where Q came from."""
    n_clips: int
    """Clips with a known truth."""
    n_full: int
    """Clips with every expert present."""
    settings: PermutationSettings
    """How it was run."""
    folds: list[FoldResult]
    """Per-fold figures."""
    broken: list[list[float]] = Field(default_factory=list, exclude=True)
    """[folds][K] Broken-Q balanced accuracies (for plots; left out of JSON)."""

    def to_json(self) -> dict[str, object]:
        """The JSON object of ``saboteur permute --json``."""
        return self.model_dump(mode="json")

    def save(self, run: str | os.PathLike[str]) -> Path:
        """Store the result in the run: ``permutation.json`` (native Q; the report shows it) or
        ``permutation-<control>.json`` for a positive control. Written atomically."""
        control = self.settings.positive_control
        path = Path(run) / ("permutation.json" if control == "none" else f"permutation-{control}.json")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")
        os.replace(tmp, path)
        return path


class TrainedOnRows(Protocol):
    """Anything fitted: it records the global row indices it was trained on."""

    train_rows: IntArray


class LeakageError(SaboteurError):
    """A fitted object was trained on a test row (a bug: the protocol refuses to report such a fold)."""


def check_no_leak(fitted: list[TrainedOnRows], test: IntArray) -> None:
    """Raise :class:`LeakageError` if any fitted object's training rows overlap the test rows."""
    for obj in fitted:
        overlap = np.intersect1d(obj.train_rows, test)
        if overlap.size:
            raise LeakageError(f"{type(obj).__name__} was trained on {overlap.size} test row(s)")


@dataclass(eq=False)
class FoldOutcome:
    """One fold in full: its figures, the Broken-Q distribution, its rows and what was fitted."""

    result: FoldResult
    broken: FloatArray
    train_rows: IntArray
    test_rows: IntArray
    eval_rows: IntArray
    fitted: list[TrainedOnRows] = field(default_factory=list)


def impute_quality(data: ExpertData, quality: FloatArray, train: IntArray) -> FloatArray:
    """[N, M] Q with missing values of present experts set to the training median; 0 where absent."""
    train_q = np.where(data.mask[train], quality[train], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an expert with no Q in training: filled with 0
        median = np.nanmedian(np.where(np.isfinite(train_q), train_q, np.nan), axis=0)
    median = np.nan_to_num(median, nan=0.0)
    filled = np.where(np.isfinite(quality), quality, median[None, :])
    return as_float(np.where(data.mask, filled, 0.0))


def fold_splits(
    data: ExpertData, settings: PermutationSettings
) -> Iterator[tuple[int, int, IntArray, IntArray]]:
    """(seed index, fold index, train rows, test rows) for S seeds x F stratified folds."""
    counts = np.bincount(data.truth, minlength=data.n_labels)
    smallest = counts[counts > 0].min()
    if smallest < settings.folds:
        raise SaboteurError(f"a class has only {smallest} clip(s): use at most {smallest} folds")
    for s in range(settings.seeds):
        splitter = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=settings.seed + s)
        for f, (train, test) in enumerate(splitter.split(np.zeros(data.n_clips), data.truth)):
            yield s, f, as_int(train), as_int(test)


def _fold_inputs(
    data: ExpertData, settings: PermutationSettings, train: IntArray, test: IntArray, rng: np.random.Generator
) -> tuple[ExpertData, FloatArray, list[TrainedOnRows], str | None]:
    """The fold's evidence and Clean-Q after imputation and the positive control, and what was fitted."""
    if settings.positive_control == "corrupt":
        if settings.corrupt_expert is not None:
            if settings.corrupt_expert not in data.experts:
                raise SaboteurError(
                    f"unknown expert {settings.corrupt_expert!r}: have {', '.join(data.experts)}"
                )
            expert = data.experts.index(settings.corrupt_expert)
        else:
            expert = best_expert(data, train)
        data, _ = corrupt(data, [train, test], expert, settings.corrupt_fraction, rng)
        return data, impute_quality(data, data.quality, train), [], data.experts[expert]
    quality = impute_quality(data, data.quality, train)
    if settings.positive_control == "calibrated":
        quality, models = calibrated_quality(data, quality, train, test, settings.seed)
        return data, quality, list(models), None
    return data, quality, [], None


def predict_batches(
    fitted: FittedFusion, probs: FloatArray, mask: BoolArray, quality: FloatArray
) -> IntArray:
    """[B, n] predictions for quality [B, n, M], in batches of at most PREDICT_CELLS rows."""
    b, n = quality.shape[:2]
    step = max(1, PREDICT_CELLS // max(n, 1))
    return as_int(
        np.concatenate([fitted.predict(probs, mask, quality[i : i + step]) for i in range(0, b, step)])
    )


def run_fold(
    data: ExpertData,
    settings: PermutationSettings,
    train: IntArray,
    test: IntArray,
    seed_index: int = 0,
    fold_index: int = 0,
) -> FoldOutcome:
    """Fit on ``train``, evaluate Clean-Q and K Broken-Q copies on the fully observed ``test`` rows."""
    with single_thread():
        return _run_fold(data, settings, train, test, seed_index, fold_index)


def _run_fold(
    data: ExpertData,
    settings: PermutationSettings,
    train: IntArray,
    test: IntArray,
    seed_index: int,
    fold_index: int,
) -> FoldOutcome:
    if settings.fusion not in styles():
        raise SaboteurError(f"unknown fusion style {settings.fusion!r}: choose one of {', '.join(styles())}")
    control_rng = np.random.default_rng([settings.seed, seed_index, fold_index, 0])
    perm_rng = np.random.default_rng([settings.seed, seed_index, fold_index, 1])
    fold_data, quality, fitted, corrupted = _fold_inputs(data, settings, train, test, control_rng)
    training = TrainingSet(
        rows=train,
        probs=fold_data.probs[train],
        mask=fold_data.mask[train],
        quality=quality[train],
        truth=fold_data.truth[train],
        n_labels=fold_data.n_labels,
        seed=settings.seed + seed_index,
    )
    rule = fit_style(settings.fusion, training)
    fitted = [*fitted, rule]
    check_no_leak(fitted, test)

    eval_pos = np.flatnonzero(fold_data.full_rows[test])
    if eval_pos.size == 0:
        raise SaboteurError("a test fold has no clip with every expert present")
    eval_rows = test[eval_pos]
    probs, mask, truth = fold_data.probs[eval_rows], fold_data.mask[eval_rows], fold_data.truth[eval_rows]
    clean_q = quality[eval_rows]
    ba_clean = float(balanced_accuracy_batch(rule.predict(probs, mask, clean_q[None]), truth)[0])

    k = settings.permutations
    step = max(1, PREDICT_CELLS // max(test.size, 1))
    broken_parts = []
    for start in range(0, k, step):
        permuted = permute_within_present(quality[test], fold_data.mask[test], min(step, k - start), perm_rng)
        preds = predict_batches(rule, probs, mask, permuted[:, eval_pos])
        broken_parts.append(balanced_accuracy_batch(preds, truth))
    broken = as_float(np.concatenate(broken_parts))

    ba_oracle = float(balanced_accuracy_batch(oracle_predictions(probs, truth), truth)[0])
    # exact when every copy scores the same (a rule blind to Q): the gap is 0, not a rounding residue
    broken_mean = float(broken.mean()) if np.ptp(broken) > 0 else float(broken[0])
    result = FoldResult(
        seed=seed_index,
        fold=fold_index,
        n_train=int(train.size),
        n_test=int(test.size),
        n_eval=int(eval_rows.size),
        ba_clean=ba_clean,
        ba_broken_mean=broken_mean,
        ba_broken_std=float(broken.std()),
        gap=ba_clean - broken_mean,
        p_value=permutation_p_value(ba_clean, broken),
        ba_oracle=ba_oracle,
        oracle_headroom=ba_oracle - ba_clean,
        alignment_rho=alignment_rho(clean_q, fold_data.expert_correct[eval_rows]),
        competitiveness=competitiveness(probs, truth),
        corrupted_expert=corrupted,
    )
    return FoldOutcome(result, broken, train, test, eval_rows, fitted)


def iter_folds(data: ExpertData, settings: PermutationSettings) -> Iterator[FoldOutcome]:
    """Every fold's outcome, seed by seed (tests inspect what each fold fitted)."""
    for s, f, train, test in fold_splits(data, settings):
        yield run_fold(data, settings, train, test, s, f)


def summarise(
    outcomes: list[FoldOutcome], data: ExpertData, settings: PermutationSettings
) -> PermutationResult:
    """Pool fold outcomes into the diagnostic's figures."""
    folds = [o.result for o in outcomes]

    def col(name: str) -> FloatArray:
        return as_float([getattr(r, name) for r in folds])

    gaps = col("gap")
    with np.errstate(all="ignore"):
        rho = (
            float(np.nanmean(col("alignment_rho")))
            if np.isfinite(col("alignment_rho")).any()
            else float("nan")
        )
    return PermutationResult(
        ba_clean=float(col("ba_clean").mean()),
        ba_broken_mean=float(col("ba_broken_mean").mean()),
        gap_mean=float(gaps.mean()),
        gap_std=float(gaps.std(ddof=1)) if gaps.size > 1 else 0.0,
        p_value_median=float(np.median(col("p_value"))),
        oracle_headroom=float(col("oracle_headroom").mean()),
        alignment_rho=rho,
        competitiveness=float(col("competitiveness").mean()),
        ba_oracle=float(col("ba_oracle").mean()),
        significant_share=float((col("p_value") < 0.05).mean()),
        p_value_pooled=permutation_p_value(
            float(col("ba_clean").mean()), as_float(np.mean([o.broken for o in outcomes], axis=0))
        ),
        experts=list(data.experts),
        quality=data.quality_name
        if settings.positive_control == "none"
        else f"control:{settings.positive_control}",
        n_clips=data.n_clips,
        n_full=int(data.full_rows.sum()),
        settings=settings,
        folds=folds,
        broken=[o.broken.tolist() for o in outcomes],
    )


def permutation_test(
    data: ExpertData,
    settings: PermutationSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PermutationResult:
    """Run the diagnostic; ``progress(done, total)`` is called after each fold."""
    settings = settings or PermutationSettings()
    total = settings.folds * settings.seeds
    outcomes: list[FoldOutcome] = []
    for outcome in iter_folds(data, settings):
        outcomes.append(outcome)
        if progress is not None:
            progress(len(outcomes), total)
    return summarise(outcomes, data, settings)
