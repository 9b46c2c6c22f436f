"""The calibration study over verdicts: scoring rules, grouping by any field, the tidy table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import verdict
from typer.testing import CliRunner

from saboteur.cli import app
from saboteur.errors import SaboteurError
from saboteur.eval.calibration import CalibrationData, study
from saboteur.labels import make_label_set
from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig, Verdict

LABELS = make_label_set(["anger", "joy", "sadness"])


def two_strategy_verdicts() -> list[Verdict]:
    """Agent T under strategies zs and cot (same model), agent A under zs; hand-checkable values."""
    out = [
        # zs / T: confidences 0.9 right, 0.8 wrong, 0.3 right -> 3 verdicts
        verdict("c1", "T", [("anger", 0.9), ("joy", 0.1)], truth="anger", quality=0.8, strategy="zs"),
        verdict("c2", "T", [("joy", 0.8)], truth="sadness", quality=0.4, strategy="zs"),
        verdict("c3", "T", [("sadness", 0.3), ("joy", 0.3)], truth="sadness", strategy="zs"),
        # an error verdict and a clip without truth never count
        verdict("c4", "T", truth="joy", error="timeout", strategy="zs"),
        verdict("c5", "T", [("joy", 0.6)], truth=None, strategy="zs"),
        # zs / A
        verdict("c1", "A", [("joy", 0.7)], truth="anger", quality=0.2, strategy="zs"),
        verdict("c2", "A", [("sadness", 0.5)], truth="sadness", quality=0.9, strategy="zs"),
        # cot / T: a label outside the set is a valid, wrong verdict
        verdict("c1", "T", [("anger", 0.6)], truth="anger", strategy="cot"),
        verdict("c2", "T", [("boredom", 0.95)], truth="sadness", strategy="cot"),
    ]
    return out


def test_only_valid_verdicts_with_truth_are_scored_and_grouping_spans_strategies() -> None:
    data = CalibrationData.from_verdicts(two_strategy_verdicts(), LABELS, by=("label",))
    assert data.size == 7
    result = study(data, ("agent", "strategy"), resamples=0)
    groups = {(g.key["agent"], g.key["strategy"]): g for g in result.groups}
    assert set(groups) == {("T", "zs"), ("A", "zs"), ("T", "cot")}
    zs_t = groups[("T", "zs")]
    assert zs_t.n == 3 and zs_t.n_self_assessment == 2
    # bins: 0.9 -> 9, 0.8 -> 8, 0.3 -> 3; each alone: ECE = (0.1 + 0.8 + 0.7) / 3
    assert zs_t.figures["ece"] == pytest.approx((0.1 + 0.8 + 0.7) / 3)
    assert zs_t.figures["mce"] == pytest.approx(0.8)
    assert zs_t.figures["brier"] == pytest.approx((0.01 + 0.64 + 0.49) / 3)
    assert zs_t.figures["auroc_confidence"] == pytest.approx(0.5)  # right: 0.9, 0.3; wrong: 0.8
    assert zs_t.figures["auroc_self_assessment"] == pytest.approx(1.0)  # 0.8 right above 0.4 wrong
    # ranking distribution of c3: sadness 0.3, joy 0.3 -> p(sadness) = 1/2
    mc = ((0.1**2 + 0.1**2) + (1 + 1) + (0.25 + 0.25)) / 3  # c1 normalised to (0.9, 0.1, 0)
    assert zs_t.figures["multiclass_brier"] == pytest.approx(mc)
    cot = groups[("T", "cot")]
    assert cot.n == 2 and cot.figures["accuracy"] == pytest.approx(0.5)
    assert np.isnan(cot.figures["auroc_self_assessment"])  # no self-assessment given
    by_label = study(data, ("label",), resamples=0)
    assert {g.key["label"]: g.n for g in by_label.groups} == {
        "anger": 2,
        "joy": 2,
        "sadness": 2,
        "boredom": 1,
    }


def test_bootstrap_intervals_cover_the_estimate(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    verdicts = []
    for i in range(300):
        conf = float(np.round(rng.uniform(0.3, 1.0), 2))
        right = rng.random() < conf - 0.2
        verdicts.append(
            verdict(
                f"c{i}", "T", [("joy" if right else "anger", conf)], truth="joy", quality=float(rng.random())
            )
        )
    result = study(CalibrationData.from_verdicts(verdicts, LABELS), resamples=300, seed=1)
    group = result.groups[0]
    for name, interval in group.intervals.items():
        assert interval.low <= group.figures[name] <= interval.high, name
    assert 0 < group.intervals["ece"].high - group.intervals["ece"].low < 0.2
    again = study(CalibrationData.from_verdicts(verdicts, LABELS), resamples=300, seed=1)
    assert again.groups[0].intervals == group.intervals  # seeded: reproducible
    csv_path = result.write_table(tmp_path / "figures.csv")
    parquet_path = result.write_table(tmp_path / "figures.parquet")
    with csv_path.open() as handle:
        csv_rows = list(csv.DictReader(handle))
    parquet_rows = pq.read_table(parquet_path).to_pylist()
    assert len(csv_rows) == len(parquet_rows) == len(group.figures)
    ece = next(r for r in parquet_rows if r["figure"] == "ece")
    assert ece["value"] == pytest.approx(group.figures["ece"]) and ece["agent"] == "T" and ece["n"] == 300
    with pytest.raises(SaboteurError, match=r"\.csv or \.parquet"):
        result.write_table(tmp_path / "figures.xlsx")


def test_numeric_field_is_cut_into_quartiles_and_unknown_fields_are_refused() -> None:
    verdicts = [
        verdict(f"c{i}", "T", [("joy", 0.5)], truth="joy").model_copy(update={"extra": {"intensity": i / 40}})
        for i in range(40)
    ]
    data = CalibrationData.from_verdicts(verdicts, LABELS, by=("extra.intensity",))
    levels = sorted(set(data.fields["extra.intensity"]))
    assert len(levels) == 4 and all(level.startswith("q") for level in levels)
    assert sorted(np.unique(data.fields["extra.intensity"], return_counts=True)[1]) == [10, 10, 10, 10]
    with pytest.raises(SaboteurError, match="unknown grouping field"):
        CalibrationData.from_verdicts(verdicts, LABELS, by=("colour",))
    with pytest.raises(SaboteurError, match="cannot group by"):
        data.groups(["truth"])


def test_calibrate_cli_on_a_tiny_run_skips_recalibration_with_a_note(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.create(RunConfig(label_set="custom", labels=LABELS.labels, modalities=["T", "A"]))
    run.append(two_strategy_verdicts()[:7])  # strategy zs only: 3 + 2 scored verdicts
    result = CliRunner().invoke(app, ["calibrate", str(run.path), "--json", "--resamples", "20"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["per_modality"]["T"]["n"] == 3 and data["per_modality"]["A"]["n"] == 2
    assert data["per_modality"]["T"]["ece"] == pytest.approx((0.1 + 0.8 + 0.7) / 3)
    assert data["recalibration"] == {} and data["sabotage"] is None
    assert any("too few" in note for note in data["notes"])
    human = CliRunner().invoke(app, ["calibrate", str(run.path), "--resamples", "0"])
    assert human.exit_code == 0 and "ECE" in human.stdout and "too few" in human.stdout
