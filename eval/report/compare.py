"""Paired comparison of two runs over the same clips (two strategies, two models, two agent sets).

Both runs are fused with the same rule; only clips present, with the same known truth, in both count.
Because every clip is answered by both sides, the tests are paired:

- top-1: exact McNemar test, i.e. a two-sided binomial test of the discordant clips (A right and B wrong
  vs A wrong and B right) at p = 1/2 (``scipy.stats.binomtest``);
- accuracy, balanced accuracy, top-k coverage, ECE of the fused top-1 probability, per-agent accuracy and
  per-label recall: paired bootstrap, resampling clips once per replicate for both runs. Each replicate
  is a row of multinomial clip weights W [B, n], so every statistic is one matrix product W @ X.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel
from scipy.stats import binomtest

from saboteur.errors import SaboteurError
from saboteur.eval.calibration.binning import bin_stats, equal_width
from saboteur.eval.fusion import fuse
from saboteur.eval.load import load_table
from saboteur.eval.report.figures import N_BINS
from saboteur.eval.table import FloatArray, IntArray, VerdictTable, as_float, as_int

DEFAULT_RESAMPLES = 2000
_CHUNK_CELLS = 4_000_000


class Delta(BaseModel):
    """A statistic on both runs, B - A, and the paired bootstrap 95% interval of the difference."""

    a: float
    b: float
    delta: float
    low: float
    high: float
    p_b_higher: float
    """Share of bootstrap replicates in which B's value is higher than A's."""


class McNemar(BaseModel):
    """Exact McNemar test on paired right/wrong outcomes."""

    n: int
    a_only: int
    """Clips A got right and B got wrong."""
    b_only: int
    """Clips B got right and A got wrong."""
    p_value: float
    """Two-sided exact p-value (1.0 when there is no discordant clip)."""


class AgentDelta(BaseModel):
    """One agent present in both runs: accuracy of its primary label on clips both versions answered."""

    n: int
    accuracy: Delta
    mcnemar: McNemar


class LabelDelta(BaseModel):
    """Fused recall on the clips whose true label is this one."""

    n: int
    recall: Delta
    mcnemar: McNemar


class Comparison(BaseModel):
    """Everything ``saboteur compare`` reports."""

    run_a: str
    run_b: str
    name_a: str
    """Short description of A (strategy / model)."""
    name_b: str
    rule: str
    rule_b: str
    """Fusion rule of B (the same as ``rule`` unless two rules are compared)."""
    agents: list[str]
    """Agents present in both runs (the per-agent deltas)."""
    n: int
    """Paired clips (in both runs, same known truth)."""
    only_a: int
    only_b: int
    truth_mismatch: int
    accuracy: Delta
    balanced_accuracy: Delta
    top_k: list[Delta]
    ece: Delta
    """ECE of the fused top-1 probability (lower is better)."""
    mcnemar: McNemar
    per_agent: dict[str, AgentDelta]
    per_label: dict[str, LabelDelta]
    better: Literal["a", "b"] | None
    """Which run is better on top-1 accuracy at the 5% level (None: no significant difference)."""
    certainty: str
    statement: str

    def to_json(self) -> dict[str, Any]:
        """JSON object of ``saboteur compare --json``."""
        return self.model_dump(mode="json")


def mcnemar(right_a: np.ndarray[Any, Any], right_b: np.ndarray[Any, Any]) -> McNemar:
    """Exact McNemar test of two paired boolean outcome vectors."""
    a_only = int((right_a & ~right_b).sum())
    b_only = int((~right_a & right_b).sum())
    discordant = a_only + b_only
    p = float(binomtest(b_only, discordant, 0.5).pvalue) if discordant else 1.0
    return McNemar(n=int(right_a.size), a_only=a_only, b_only=b_only, p_value=min(p, 1.0))


def bootstrap_weights(n: int, resamples: int, rng: np.random.Generator) -> list[FloatArray]:
    """Clip weights [chunk, n] of bootstrap resamples (how often each clip was drawn; rows sum to n).

    Drawn as indices and counted with one bincount per chunk, far faster than a multinomial over n cells.
    """
    step = max(1, _CHUNK_CELLS // max(n, 1))
    chunks = []
    for start in range(0, resamples, step):
        size = min(step, resamples - start)
        idx = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        chunks.append(as_float(np.bincount(idx.ravel(), minlength=size * n).reshape(size, n)))
    return chunks


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return as_float(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))


def _delta(a: float, b: float, reps_a: FloatArray, reps_b: FloatArray) -> Delta:
    diff = reps_b - reps_a
    diff = diff[np.isfinite(diff)]
    low, high = np.quantile(diff, [0.025, 0.975]) if diff.size else (np.nan, np.nan)
    return Delta(
        a=a,
        b=b,
        delta=b - a,
        low=float(low),
        high=float(high),
        p_b_higher=float((diff > 0).mean()) if diff.size else float("nan"),
    )


def _pair(table_a: VerdictTable, table_b: VerdictTable) -> tuple[IntArray, IntArray, int, int, int]:
    """Rows of the shared clips (same known truth) in A and B; clips only in A, only in B; truth clashes."""
    where_b = {clip: i for i, clip in enumerate(table_b.clip_ids)}
    pairs = [(i, where_b[clip]) for i, clip in enumerate(table_a.clip_ids) if clip in where_b]
    ia = as_int([i for i, _ in pairs])
    ib = as_int([j for _, j in pairs])
    known = (table_a.truth[ia] >= 0) & (table_b.truth[ib] >= 0)
    same = known & (table_a.truth[ia] == table_b.truth[ib])
    only_a, only_b = table_a.n_clips - ia.size, table_b.n_clips - ib.size
    return ia[same], ib[same], only_a, only_b, int((known & ~same).sum())


class _Side:
    """Per-clip outcome columns of one run over the paired clips."""

    def __init__(self, table: VerdictTable, rows: IntArray, rule: str, agents: list[str]) -> None:
        fused = fuse(table, rule)
        k = table.n_labels
        truth = table.truth[rows]
        top = fused.top1[rows]
        self.right = top == truth
        position = fused.truth_position(table.truth)[rows]
        self.covered = as_float(position[:, None] < np.arange(1, k + 1)[None, :])  # [n, K]
        conf = np.where(top >= 0, fused.probabilities[rows, np.clip(top, 0, None)], 0.0)
        self.conf = as_float(conf)
        self.binning = equal_width(self.conf, N_BINS)
        self.truth_onehot = as_float(np.eye(k)[truth])  # [n, K]
        cols = [table.agents.index(a) for a in agents]
        self.answered = table.mask[rows][:, cols]
        self.agent_right = table.agent_correct[rows][:, cols]

    def ece(self, weights: FloatArray) -> FloatArray:
        """[B] ECE under clip weights [B, n]."""
        return bin_stats(self.binning, self.conf, self.right, weights).ece


def compare_tables(
    table_a: VerdictTable,
    table_b: VerdictTable,
    *,
    rule: str = "confidence",
    rule_b: str | None = None,
    names: tuple[str, str] = ("A", "B"),
    runs: tuple[str, str] = ("A", "B"),
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Compare two verdict tables over their shared clips (see the module docstring)."""
    if table_a.labels.labels != table_b.labels.labels:
        raise SaboteurError("the two runs use different label sets; they cannot be compared")
    rows_a, rows_b, only_a, only_b, mismatch = _pair(table_a, table_b)
    n = int(rows_a.size)
    if n == 0:
        raise SaboteurError("the two runs share no clip with the same known true label")
    agents = [a for a in table_a.agents if a in table_b.agents]
    side_a = _Side(table_a, rows_a, rule, agents)
    side_b = _Side(table_b, rows_b, rule_b or rule, agents)
    labels = table_a.labels.labels
    k = len(labels)

    def stats(side: _Side, w: FloatArray) -> dict[str, FloatArray]:
        total = w.sum(axis=1, keepdims=True)
        recall = _ratio(w @ (side.truth_onehot * side.right[:, None]), w @ side.truth_onehot)  # [B, K]
        return {
            "accuracy": as_float((w @ side.right) / total[:, 0]),
            "balanced": as_float(np.nanmean(recall, axis=1)),
            "top_k": as_float(w @ side.covered / total),
            "ece": side.ece(w),
            "agent": _ratio(w @ (side.agent_right * both_f), w @ both_f),
            "recall": recall,
        }

    both = side_a.answered & side_b.answered
    both_f = as_float(both)
    rng = np.random.default_rng(seed)
    reps: dict[str, list[FloatArray]] = {}
    for w in [np.ones((1, n)), *bootstrap_weights(n, resamples, rng)]:
        for tag, side in (("a", side_a), ("b", side_b)):
            for key, value in stats(side, as_float(w)).items():
                reps.setdefault(f"{tag}.{key}", []).append(value)
    point = {key: values[0] for key, values in reps.items()}
    boot = {key: np.concatenate(values[1:], axis=0) for key, values in reps.items()}

    def delta(key: str, col: int | None = None) -> Delta:
        pa, pb = point[f"a.{key}"], point[f"b.{key}"]
        ba, bb = boot[f"a.{key}"], boot[f"b.{key}"]
        if col is None:
            return _delta(float(pa[0]), float(pb[0]), ba, bb)
        return _delta(float(pa[0, col]), float(pb[0, col]), ba[:, col], bb[:, col])

    test = mcnemar(side_a.right, side_b.right)
    per_agent = {
        agent: AgentDelta(
            n=int(both[:, j].sum()),
            accuracy=delta("agent", j),
            mcnemar=mcnemar(side_a.agent_right[both[:, j], j], side_b.agent_right[both[:, j], j]),
        )
        for j, agent in enumerate(agents)
        if both[:, j].any()
    }
    truth = table_a.truth[rows_a]
    per_label = {
        labels[c]: LabelDelta(
            n=int((truth == c).sum()),
            recall=delta("recall", c),
            mcnemar=mcnemar(side_a.right[truth == c], side_b.right[truth == c]),
        )
        for c in range(k)
        if (truth == c).any()
    }
    accuracy = delta("accuracy")
    better, certainty, statement = verdict(accuracy, test, names)
    secondary = {"balanced accuracy": delta("balanced"), "ECE": delta("ece")}
    secondary.update({f"top-{c + 1}": delta("top_k", c) for c in range(1, k)})
    statement += also_significant(secondary)
    return Comparison(
        run_a=runs[0],
        run_b=runs[1],
        name_a=names[0],
        name_b=names[1],
        rule=rule,
        rule_b=rule_b or rule,
        agents=agents,
        n=n,
        only_a=int(only_a),
        only_b=int(only_b),
        truth_mismatch=int(mismatch),
        accuracy=accuracy,
        balanced_accuracy=delta("balanced"),
        top_k=[delta("top_k", c) for c in range(k)],
        ece=delta("ece"),
        mcnemar=test,
        per_agent=per_agent,
        per_label=per_label,
        better=better,
        certainty=certainty,
        statement=statement,
    )


def verdict(
    accuracy: Delta, test: McNemar, names: tuple[str, str]
) -> tuple[Literal["a", "b"] | None, str, str]:
    """Which run is better on fused top-1 accuracy, and how sure, in one sentence."""
    p = test.p_value
    counts = f"exact McNemar p = {p:.2g} ({test.b_only} clips only B got right, {test.a_only} only A)"
    if p < 0.05 and accuracy.delta != 0:
        winner: Literal["a", "b"] = "b" if accuracy.delta > 0 else "a"
        certainty = "very strong" if p < 0.001 else "strong" if p < 0.01 else "moderate"
        sign = 1.0 if winner == "b" else -1.0
        best, other = (f"B = {names[1]}", f"A = {names[0]}")
        if winner == "a":
            best, other = f"A = {names[0]}", f"B = {names[1]}"
        acc_best, acc_other = (accuracy.b, accuracy.a) if winner == "b" else (accuracy.a, accuracy.b)
        low, high = sorted((sign * accuracy.low, sign * accuracy.high))
        share = accuracy.p_b_higher if winner == "b" else 1.0 - accuracy.p_b_higher
        return (
            winner,
            certainty,
            f"{best} is better than {other} on fused top-1 accuracy: {acc_best:.3f} vs {acc_other:.3f} "
            f"(+{abs(accuracy.delta):.3f}, paired-bootstrap 95% CI {low:+.3f} to {high:+.3f}); {counts}: "
            f"{certainty} evidence ({share:.1%} of bootstrap replicates agree).",
        )
    return (
        None,
        "inconclusive",
        f"No significant difference in fused top-1 accuracy between A = {names[0]} ({accuracy.a:.3f}) and "
        f"B = {names[1]} ({accuracy.b:.3f}); B - A = {accuracy.delta:+.3f}, paired-bootstrap 95% CI "
        f"{accuracy.low:+.3f} to {accuracy.high:+.3f}; {counts}: the data cannot tell which is better.",
    )


def also_significant(deltas: dict[str, Delta]) -> str:
    """A sentence naming the other differences whose paired 95% interval excludes 0."""
    parts = []
    for name, d in deltas.items():
        if d.low > 0 or d.high < 0:
            lower_is_better = name == "ECE"
            winner = "B" if (d.delta < 0) == lower_is_better else "A"
            parts.append(f"{name} {d.delta:+.3f} (CI {d.low:+.3f} to {d.high:+.3f}, {winner} better)")
    return f" Other differences whose 95% interval excludes 0: {'; '.join(parts)}." if parts else ""


def describe(table: VerdictTable, run: str | os.PathLike[str]) -> str:
    """Short name of a run for sentences: its model and strategy, or its folder."""
    name = os.path.basename(os.path.normpath(os.fspath(run)))
    return f"{name} ({table.model}, {table.strategy})" if table.model or table.strategy else name


def compare_runs(
    run_a: str | os.PathLike[str],
    run_b: str | os.PathLike[str],
    *,
    rule: str = "confidence",
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    rule_b: str | None = None,
    agents_b: Sequence[str] | None = None,
    strategy_b: str | None = None,
    model_b: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Load two run directories and compare them (``saboteur compare``).

    The ``*_b`` options (default: the same as A's) pick B's condition, so two conditions of one run can be
    compared too: two strategies stored in one run (``--strategy zero_shot --strategy-b cot``), or two
    fusion conditions (``compare RUN RUN --agents voice,face --agents-b av``).
    """
    if resamples < 100:
        raise SaboteurError("use at least 100 bootstrap resamples")
    table_a = load_table(run_a, agents=agents, strategy=strategy, model=model).table
    table_b = load_table(
        run_b, agents=agents_b or agents, strategy=strategy_b or strategy, model=model_b or model
    ).table
    names = (describe(table_a, run_a), describe(table_b, run_b))
    rule_b = rule_b or rule
    if names[0] == names[1] or rule_b != rule:
        names = (
            f"{names[0]} [{'+'.join(table_a.agents)}, {rule}]",
            f"{names[1]} [{'+'.join(table_b.agents)}, {rule_b}]",
        )
    return compare_tables(
        table_a,
        table_b,
        rule=rule,
        rule_b=rule_b,
        names=names,
        runs=(os.fspath(run_a), os.fspath(run_b)),
        resamples=resamples,
        seed=seed,
    )
