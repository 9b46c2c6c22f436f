"""Calibration on real data: CREMA-D's crowd raters as agents voice, face, av (bundled vote table).

The expected figures are recomputed here from the raw vote table with integer arithmetic and plain numpy
(or scikit-learn), independently of saboteur's importer, VerdictTable and binning.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from saboteur.cli import app
from saboteur.demo import bundled_data
from saboteur.eval.calibration import CalibrationData, calibrate, study
from saboteur.eval.load import load_table

CODES = {"ANG": 0, "DIS": 1, "FEA": 2, "HAP": 3, "NEU": 4, "SAD": 5}
CONDITIONS = {"1": "voice", "2": "face", "3": "av"}


@pytest.fixture(scope="module")
def run(crema_run: Path) -> Path:
    """The session's CREMA-D import (conftest.py); these tests only read it."""
    return crema_run


@pytest.fixture(scope="module")
def raw() -> dict[str, dict[str, np.ndarray]]:
    """Per condition: integer votes [n, 6], total, truth, agreement, straight from tabulatedVotes.csv.gz."""
    rows: dict[str, list[tuple[list[int], int, float]]] = {name: [] for name in CONDITIONS.values()}
    with gzip.open(bundled_data("crema-d") / "tabulatedVotes.csv.gz", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            votes = [int(row[c]) for c in "ADFHNS"]
            truth = CODES[row["fileName"].split("_")[2]]
            rows[CONDITIONS[row[""][0]]].append((votes, truth, float(row["agreement"])))
    out = {}
    for name, items in rows.items():
        votes = np.array([v for v, _, _ in items])
        out[name] = {
            "votes": votes,
            "total": votes.sum(axis=1),
            "truth": np.array([t for _, t, _ in items]),
            "agreement": np.array([a for _, _, a in items]),
        }
    return out


def independent_figures(votes: np.ndarray, total: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    top = votes.max(axis=1)
    correct = np.argmax(votes, axis=1) == truth  # ties: first in A, D, F, H, N, S order
    conf = top / total
    bins = np.minimum((10 * top) // total, 9)  # [k/10, (k+1)/10) in exact integer arithmetic
    gaps = [abs(correct[bins == b].sum() - conf[bins == b].sum()) for b in range(10)]
    per_bin = [
        abs(correct[bins == b].mean() - conf[bins == b].mean()) for b in range(10) if np.any(bins == b)
    ]
    return {
        "n": float(len(truth)),
        "accuracy": float(correct.mean()),
        "ece": float(sum(gaps) / len(truth)),
        "mce": float(max(per_bin)),
        "brier": float(np.mean((conf - correct) ** 2)),
        "auroc_confidence": float(roc_auc_score(correct, conf)),
    }


def test_crema_d_figures_equal_an_independent_computation(
    run: Path, raw: dict[str, dict[str, np.ndarray]]
) -> None:
    table = load_table(run).table
    result = study(CalibrationData.from_table(table), ("agent",), resamples=0)
    figures = {group.key["agent"]: group for group in result.groups}
    assert list(figures) == ["voice", "face", "av"]
    for agent, group in figures.items():
        expected = independent_figures(raw[agent]["votes"], raw[agent]["total"], raw[agent]["truth"])
        assert group.n == 7442
        for name in ("accuracy", "ece", "mce", "brier", "auroc_confidence"):
            assert group.figures[name] == pytest.approx(expected[name], abs=1e-9), (agent, name)
        quality_auroc = roc_auc_score(
            np.argmax(raw[agent]["votes"], axis=1) == raw[agent]["truth"], raw[agent]["agreement"]
        )
        assert group.figures["auroc_self_assessment"] == pytest.approx(quality_auroc, abs=1e-9)
    # what the data says: voice raters are overconfident, face and audio-visual raters nearly calibrated
    assert figures["voice"].figures["ece"] == pytest.approx(0.1821, abs=1e-4)
    assert figures["face"].figures["ece"] < 0.03 and figures["av"].figures["ece"] < 0.03
    assert figures["voice"].figures["overconfidence"] > 0.15


def test_crema_d_calibrate_report_and_sabotage(run: Path) -> None:
    table = load_table(run).table
    report = calibrate(table, resamples=200, methods=("isotonic",), sabotage_method="isotonic")
    voice = report.per_modality["voice"]
    interval = voice.intervals["ece"]
    assert interval.low < voice.figures["ece"] < interval.high and interval.high - interval.low < 0.05
    # held-out isotonic recalibration shrinks every agent's ECE, most of all the overconfident voice
    for agent, effect in report.recalibration["isotonic"].items():
        assert effect.n == 7442
        assert effect.after["ece"] < effect.before["ece"], agent
        assert effect.change["ece"].high < 0, agent
    assert report.sabotage is not None
    before, after = report.sabotage.before, report.sabotage.after
    assert before.potential_saboteur["voice"] == 1244  # formats.md: voice wrong with agreement >= 0.7
    assert after.successful_saboteur["voice"] < before.successful_saboteur["voice"] / 2
    assert after.fused_accuracy > before.fused_accuracy


def test_calibrate_cli_json_table_and_plots(run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["calibrate", str(run), "--json", "--resamples", "50", "--plots", str(tmp_path / "plots")]
    result = runner.invoke(app, [*args, "--table", str(tmp_path / "t.parquet"), "--by", "extra.intensity"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["per_modality"]) == {"voice", "face", "av"}
    for block in data["per_modality"].values():
        assert {"n", "ece", "mce", "brier", "auroc_confidence", "auroc_self_assessment"} <= set(block)
        assert block["n"] == 7442
    assert data["sabotage"]["before"]["potential_saboteur"]["voice"] == 1244
    assert set(data["recalibration"]) == {"temperature", "platt", "isotonic"}
    rows = pq.read_table(tmp_path / "t.parquet").to_pylist()
    ece_rows = [
        r
        for r in rows
        if r["figure"] == "ece" and r["recalibration"] == "" and r.get("extra.intensity") in (None, "")
    ]
    assert {r["agent"]: r["value"] for r in ece_rows} == pytest.approx(
        {agent: block["ece"] for agent, block in data["per_modality"].items()}
    )
    quartiles = {r["extra.intensity"] for r in rows if r.get("extra.intensity")}
    assert len(quartiles) == 4
    for name in ("reliability", "self_assessment", "risk_coverage"):
        for suffix in (".png", ".svg"):
            assert (tmp_path / "plots" / f"{name}{suffix}").stat().st_size > 1000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bins", "0"], "--bins"),
        (["--by", "nonsense"], "unknown grouping field"),
        (["--table", "out.txt"], ".csv or .parquet"),
        (["--method", "magic"], "--method"),
        (["--agents", "smell"], "unknown agent"),
    ],
)
def test_calibrate_cli_bad_input_is_one_line(
    run: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["calibrate", str(run), "--resamples", "0", *extra]
    if extra[0] == "--table":
        args[-1] = str(tmp_path / extra[1])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
