"""The diagnostic on the real CREMA-D crowd votes (voice and face as the two unimodal experts), and its CLI.

Reduced settings (3 folds x 1 seed, K = 49) keep this fast; the full 5 x 5, K = 200 figures are in the
README. The smallest possible p-value at K = 49 is 1/50 = 0.02.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import verdict
from typer.testing import CliRunner, Result

from saboteur.cli import app
from saboteur.eval.permutation import ExpertData, PermutationSettings, load_expert_data, permutation_test
from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig


@pytest.fixture(scope="module")
def voice_face(crema_run: Path) -> ExpertData:
    return load_expert_data(crema_run, agents=["voice", "face"])


def test_positive_control_is_detected_by_the_lr_stacker(voice_face: ExpertData) -> None:
    settings = PermutationSettings(fusion="lr", permutations=49, folds=3, seeds=1, positive_control="corrupt")
    result = permutation_test(voice_face, settings)
    assert result.gap_mean > 0.02
    assert result.p_value_median < 0.05
    assert {f.corrupted_expert for f in result.folds} == {"face"}  # face is the more accurate expert
    assert result.alignment_rho > 0.5  # Q = 1 - corruption mask is aligned with correctness by design


def test_native_quality_gap_is_reported_with_its_oracle_headroom(voice_face: ExpertData) -> None:
    result = permutation_test(
        voice_face, PermutationSettings(fusion="weighted", permutations=49, folds=3, seeds=1)
    )
    assert voice_face.n_clips == 7442 and result.n_full == 7442
    # rater agreement barely moves the quality-weighted vote, while a per-clip oracle would gain a lot
    assert abs(result.gap_mean) < 0.02
    assert result.oracle_headroom > 0.08
    assert 0.1 < result.alignment_rho < 0.5  # agreement correlates with correctness, weakly
    assert 0.0 < result.competitiveness < 1.0


def saboteur(*args: str) -> Result:
    """The real ``saboteur`` command line, run in this process."""
    return CliRunner().invoke(app, list(args))


def test_cli_json_table_and_plot(crema_run: Path, tmp_path: Path) -> None:
    common = ["--agents", "voice,face", "--permutations", "19", "--folds", "2", "--seeds", "1"]
    result = saboteur(
        "permute", str(crema_run), "--positive-control", "--fusion", "moe", *common, "--json", "--plot",
        str(tmp_path / "fig.png"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
        "ba_clean",
        "ba_broken_mean",
        "gap_mean",
        "gap_std",
        "p_value_median",
        "oracle_headroom",
        "alignment_rho",
        "competitiveness",
    ):
        assert isinstance(data[key], float), key
    assert data["settings"]["positive_control"] == "corrupt" and data["settings"]["fusion"] == "moe"
    assert len(data["folds"]) == 2 and data["p_value_median"] == pytest.approx(0.05)
    assert (tmp_path / "fig.png").stat().st_size > 10_000 and (tmp_path / "fig.svg").is_file()

    human = saboteur(
        "permute", str(crema_run), "--positive-control", "calibrated", "--quality", "extra.intensity",
        *common,
    )  # fmt: skip
    assert human.exit_code == 0, human.output
    assert "BA clean" in human.stdout and "permutation gap" in human.stdout and "calibrated" in human.stdout


def tiny_run(path: Path) -> Path:
    """12 clips, agents voice and face over labels x, y."""
    run = RunDir(path)
    run.create(RunConfig(label_set="custom", labels=["x", "y"], modalities=["voice", "face"]))
    labels = ["x", "y"]
    run.append(
        [
            verdict(f"c{i}", agent, [(labels[(i + j) % 2], 0.8)], truth=labels[i % 2], quality=0.5)
            for i in range(12)
            for j, agent in enumerate(["voice", "face"])
        ]
    )
    return run.path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bogus"], "unexpected argument 'bogus'"),
        (["--positive-control", "half"], "corrupt or calibrated"),
        (["--fusion", "svm"], "unknown --fusion 'svm'"),
        (["--quality", "extra.nothing"], "quality field 'extra.nothing'"),
        (["--agents", "voice"], "at least two experts"),
    ],
)
def test_bad_input_gets_one_clear_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = saboteur("permute", str(tiny_run(tmp_path / "run")), *args, "--permutations", "2")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_the_control_may_be_named_before_the_run(tmp_path: Path) -> None:
    run = tiny_run(tmp_path / "run")
    result = saboteur("permute", "--positive-control", "calibrated", str(run), "--folds", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["positive_control"] == "calibrated"
