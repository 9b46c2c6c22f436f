"""Paired comparison of two runs: exact McNemar, paired bootstrap deltas, the verdict sentence, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import verdict
from typer.testing import CliRunner, Result

from saboteur.cli import app
from saboteur.errors import SaboteurError
from saboteur.eval.report.compare import bootstrap_weights, compare_runs, mcnemar
from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig, Verdict

LABELS = ["a", "b", "c"]


def make_run(path: Path, verdicts: list[Verdict], labels: list[str] = LABELS) -> Path:
    RunDir(path).create(RunConfig(label_set="custom", labels=labels, modalities=["x", "y"]))
    RunDir(path).append(verdicts)
    return path


def one_agent_run(path: Path, right: int, n: int = 20, model: str = "m") -> Path:
    """Agent x answers n clips with confidence 1 (truth cycles a, b, c); right on the first ``right``."""
    out = []
    for i in range(n):
        truth = LABELS[i % 3]
        label = truth if i < right else LABELS[(i + 1) % 3]
        out.append(verdict(f"c{i}", "x", [(label, 1.0)], truth=truth, quality=0.5, model=model))
    return make_run(path, out)


def saboteur(*args: str) -> Result:
    """The real ``saboteur`` command line, run in this process."""
    return CliRunner().invoke(app, list(args))


def test_mcnemar_is_the_exact_binomial_test_of_discordant_pairs() -> None:
    # 1 clip only A right, 9 only B right, 5 both right, 3 both wrong
    right_a = np.array([True] + [False] * 9 + [True] * 5 + [False] * 3)
    right_b = np.array([False] + [True] * 9 + [True] * 5 + [False] * 3)
    test = mcnemar(right_a, right_b)
    assert (test.n, test.a_only, test.b_only) == (18, 1, 9)
    assert test.p_value == pytest.approx(2 * (1 + 10) / 2**10)  # 2 * P(X <= 1), X ~ Bin(10, 1/2)
    assert mcnemar(right_a, right_a).p_value == 1.0


def test_hand_computed_comparison(tmp_path: Path) -> None:
    run_a = one_agent_run(tmp_path / "a", right=10, model="small")
    run_b = one_agent_run(tmp_path / "b", right=18, model="big")
    c = compare_runs(run_a, run_b, resamples=500)
    assert c.n == 20 and c.only_a == c.only_b == 0
    assert (c.accuracy.a, c.accuracy.b, c.accuracy.delta) == pytest.approx((0.5, 0.9, 0.4))
    assert c.accuracy.low <= 0.4 <= c.accuracy.high and c.accuracy.low > 0
    assert (c.mcnemar.a_only, c.mcnemar.b_only) == (0, 8)
    assert c.mcnemar.p_value == pytest.approx(2 / 2**8)
    assert c.better == "b" and c.certainty == "strong"
    assert c.statement.startswith("B = b (big, s) is better than A = a (small, s)")
    # a single agent with confidence 1: fused top-1 probability 1, so ECE = 1 - accuracy
    assert (c.ece.a, c.ece.b) == pytest.approx((0.5, 0.1))
    # the truth is always the agent's top-1 or absent: top-2 = top-1
    assert c.top_k[1].a == pytest.approx(0.5) and c.top_k[1].b == pytest.approx(0.9)
    # per label: clips 10..17 turn right in B: labels of i % 3 -> a: 12, 15; b: 10, 13, 16; c: 11, 14, 17
    assert c.per_label["a"].n == 7 and c.per_label["a"].recall.delta == pytest.approx(2 / 7)
    assert c.per_label["b"].recall.delta == pytest.approx(3 / 7)
    assert c.per_label["c"].recall.delta == pytest.approx(3 / 6)
    assert c.per_agent["x"].accuracy.delta == pytest.approx(0.4) and c.per_agent["x"].n == 20


def test_identical_runs_are_inconclusive(tmp_path: Path) -> None:
    run = one_agent_run(tmp_path / "a", right=12)
    c = compare_runs(run, run, resamples=200)
    assert c.better is None and c.certainty == "inconclusive"
    assert c.accuracy.delta == 0 and c.accuracy.low == 0 and c.accuracy.high == 0
    assert c.mcnemar.p_value == 1.0
    assert "No significant difference" in c.statement and "cannot tell" in c.statement


def test_paired_bootstrap_matches_a_plain_resampling_loop() -> None:
    rng = np.random.default_rng(7)
    n = 400
    right_a = rng.random(n) < 0.55
    right_b = np.where(rng.random(n) < 0.8, right_a, ~right_a)
    diff = right_b.astype(float) - right_a.astype(float)
    weights = np.concatenate(bootstrap_weights(n, 4000, np.random.default_rng(1)))
    assert weights.shape == (4000, n) and (weights.sum(axis=1) == n).all()
    fast = np.quantile(weights @ diff / n, [0.025, 0.975])
    loop_rng = np.random.default_rng(2)
    slow = np.quantile([diff[loop_rng.integers(0, n, n)].mean() for _ in range(4000)], [0.025, 0.975])
    assert fast == pytest.approx(slow, abs=0.006)


def test_only_shared_clips_count_and_bad_pairs_fail_clearly(tmp_path: Path) -> None:
    run_a = one_agent_run(tmp_path / "a", right=10, n=20)
    run_b = one_agent_run(tmp_path / "b", right=10, n=12)
    c = compare_runs(run_a, run_b, resamples=200)
    assert (c.n, c.only_a, c.only_b) == (12, 8, 0)
    other = make_run(tmp_path / "o", [verdict("z1", "x", [("a", 1.0)], truth="a")])
    with pytest.raises(SaboteurError, match="share no clip"):
        compare_runs(run_a, other)
    labels = make_run(tmp_path / "l", [verdict("c0", "x", [("p", 1.0)], truth="p")], labels=["p", "q"])
    with pytest.raises(SaboteurError, match="different label sets"):
        compare_runs(run_a, labels)


def test_real_crema_d_fusion_conditions(crema_run: Path) -> None:
    """Voice + face crowds fused vs the audio-visual crowd, on the same 7,442 clips."""
    c = compare_runs(crema_run, crema_run, agents=["voice", "face"], agents_b=["av"], resamples=500)
    assert c.n == 7442 and c.agents == []
    assert round(c.accuracy.a, 3) == 0.650 and round(c.accuracy.b, 3) == 0.748
    assert (c.mcnemar.a_only, c.mcnemar.b_only) == (307, 1042)
    assert c.better == "b" and c.certainty == "very strong" and c.mcnemar.p_value < 1e-50
    assert c.ece.b < c.ece.a


def test_cli_compare_json_and_files(tmp_path: Path) -> None:
    run_a = one_agent_run(tmp_path / "a", right=10)
    run_b = one_agent_run(tmp_path / "b", right=18)
    out = tmp_path / "cmp"
    result = saboteur("compare", str(run_a), str(run_b), "--json", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("n", "accuracy", "top_k", "ece", "mcnemar", "per_agent", "per_label", "better", "statement"):
        assert key in data
    assert data["better"] == "b" and data["mcnemar"]["b_only"] == 8
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "is better than" in page and "<svg" in page and "<script" not in page
    human = saboteur("compare", str(run_a), str(run_b))
    assert human.exit_code == 0 and "is better than" in human.stdout and "McNemar" in human.stdout
    bad = saboteur("compare", str(run_a), str(tmp_path / "missing"))
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")


def test_two_strategies_stored_in_one_run(tmp_path: Path) -> None:
    """``saboteur run --strategy zero_shot,cot`` stores both in one run: compare them inside it."""
    out = []
    for i in range(30):
        truth = LABELS[i % 3]
        wrong = LABELS[(i + 1) % 3]
        out.append(verdict(f"u{i}", "x", [(truth if i < 12 else wrong, 0.9)], truth=truth, strategy="zero"))
        out.append(verdict(f"u{i}", "x", [(truth if i < 27 else wrong, 0.8)], truth=truth, strategy="cot"))
    run = make_run(tmp_path / "both", out)
    with pytest.raises(SaboteurError, match="several strategies"):
        compare_runs(run, run)
    c = compare_runs(run, run, strategy="zero", strategy_b="cot", resamples=300)
    assert (c.accuracy.a, c.accuracy.b) == pytest.approx((0.4, 0.9))
    assert (c.mcnemar.a_only, c.mcnemar.b_only) == (0, 15) and c.better == "b"
    assert c.name_a == "both (m, zero)" and c.name_b == "both (m, cot)"
    result = saboteur("compare", str(run), str(run), "--strategy", "zero", "--strategy-b", "cot", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["better"] == "b"
