"""The CLI as users run it: real subprocesses, JSON keys of contract.md, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import verdict

from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig


def saboteur(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saboteur", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr


def test_eval_json_has_the_contract_keys(crema_run: Path, tmp_path: Path) -> None:
    result = saboteur("eval", str(crema_run), "--rule", "confidence", "--tau", "0.7", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("n", "rule", "top_k", "accuracy", "balanced_accuracy", "macro_f1", "per_modality"):
        assert key in data
    assert data["n"] == 7442 and data["rule"] == "confidence" and len(data["top_k"]) == 6
    voice = data["per_modality"]["voice"]
    for key in (
        "accuracy",
        "potential_saboteur",
        "successful_saboteur",
        "contributor",
        "decisive_saboteur",
        "decisive_contributor",
        "shapley",
    ):
        assert key in voice
    assert isinstance(voice["potential_saboteur"], int) and voice["potential_saboteur"] == 1244
    assert round(voice["accuracy"], 3) == 0.455


def test_eval_agents_and_human_tables(crema_run: Path, tmp_path: Path) -> None:
    result = saboteur("eval", str(crema_run), "--agents", "voice,face", "--ties", "label", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0.657" in result.stdout and "voice" in result.stdout and "av" not in result.stdout.split()


def test_bad_input_gets_one_clear_line(crema_run: Path, tmp_path: Path) -> None:
    assert_one_line_error(saboteur("eval", str(tmp_path / "nope"), cwd=tmp_path), "does not exist")
    assert_one_line_error(
        saboteur("eval", str(crema_run), "--rule", "magic", cwd=tmp_path), "unknown fusion rule"
    )
    assert_one_line_error(saboteur("eval", str(crema_run), "--agents", "voice,ear", cwd=tmp_path), "ear")
    assert_one_line_error(saboteur("eval", str(crema_run), "--tau", "1.5", cwd=tmp_path), "--tau")
    (tmp_path / "broken.json").write_text("[{")
    assert_one_line_error(
        saboteur(
            "import", "paper-json", str(tmp_path / "broken.json"), "--out", str(tmp_path / "r"), cwd=tmp_path
        ),
        "not valid JSON",
    )
    assert_one_line_error(
        saboteur("import", "crema-d", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2"), cwd=tmp_path),
        "no such file",
    )


def test_empty_run_and_malformed_samples(tmp_path: Path) -> None:
    empty = RunDir(tmp_path / "empty")
    empty.create(RunConfig(label_set="sentiment", labels=["negative", "neutral", "positive"]))
    assert_one_line_error(saboteur("eval", str(empty.path), cwd=tmp_path), "no verdicts")
    samples = [
        {
            "video_id": "a",
            "ground_truth": "joy",
            "modality_results": [
                {
                    "modality": "T",
                    "emotions": [{"emotion": "joy", "confidence": 80}],
                    "primary_emotion": "joy",
                    "primary_confidence": 80,
                }
            ],
        },
        {"video_id": "b"},
    ]
    (tmp_path / "p.json").write_text(json.dumps(samples))
    result = saboteur(
        "import",
        "paper-json",
        str(tmp_path / "p.json"),
        "--out",
        str(tmp_path / "r"),
        "--labels",
        "meld",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["samples"] == 1 and report["skipped_samples"] == 1
    assert "missing field 'modality_results'" in report["problems"][0]


def test_torn_store_is_reported_not_fatal(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.create(RunConfig(label_set="meld", labels=["joy", "sadness"], modalities=["T"]))
    run.append([verdict("c1", "T", [("joy", 0.9)], truth="joy")])
    with run.verdicts_path.open("a") as handle:
        handle.write('{"clip_id": "c2", "moda')
    result = saboteur("eval", str(run.path), "--json", cwd=tmp_path)
    assert result.returncode == 0 and json.loads(result.stdout)["accuracy"] == 1.0
    assert "torn" in result.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [(["rules"], "oracle"), (["rules", "--json"], '"majority"'), (["--help"], "import")],
)
def test_listing_commands(command: list[str], expected: str, tmp_path: Path) -> None:
    result = saboteur(*command, cwd=tmp_path)
    assert result.returncode == 0 and expected in result.stdout
