"""Importers: paper-json against an independent re-implementation of the authors' fusion; CREMA-D."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from saboteur.errors import SaboteurError
from saboteur.eval.evaluate import evaluate_run
from saboteur.eval.importers import import_crema_d, import_paper_json
from saboteur.eval.importers.paper_json import model_from_filename
from saboteur.rundir import RunDir

EMOTIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]


def authors_fusion(sample: dict[str, Any]) -> list[str]:
    """The authors' all-emotions vote as ENSEMBLE_LOGIC_EXPLANATION.md describes it: raw 1-100
    confidences summed in a dict (insertion order = first seen), errors skipped, stable sort."""
    scores: dict[str, float] = {}
    for result in sample["modality_results"]:
        if result["primary_emotion"] == "error":
            continue
        for item in result["emotions"]:
            if item["confidence"] > 0:
                name = item["emotion"].lower()
                scores[name] = scores.get(name, 0) + item["confidence"]
    return sorted(scores, key=lambda name: scores[name], reverse=True)


def synthetic_paper_json(path: Path, n: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    samples = []
    for i in range(n):
        truth = rnd.choice(EMOTIONS)
        results = []
        for modality in ("T", "A", "V", "TAV"):
            if rnd.random() < 0.08:
                results.append({"modality": modality, "primary_emotion": "error", "emotions": []})
                continue
            picks = rnd.sample(EMOTIONS, rnd.randint(1, 4))
            emotions = [
                {"emotion": e.capitalize(), "confidence": rnd.choice([5, 10, 20, 30, 50, 65])} for e in picks
            ]
            result: dict[str, Any] = {
                "modality": modality,
                "emotions": emotions,
                "primary_emotion": picks[0],
                "primary_confidence": emotions[0]["confidence"],
                "reasoning": "because",
            }
            if rnd.random() < 0.8:
                result["data_quality"] = {"score": rnd.randint(0, 100), "issues": ["noise"], "reasoning": "r"}
            results.append(result)
        samples.append({"video_id": f"dia{i}_utt0.mp4", "ground_truth": truth, "modality_results": results})
    path.write_text(json.dumps(samples))
    return samples


def test_paper_json_reproduces_the_authors_fusion(tmp_path: Path) -> None:
    samples = synthetic_paper_json(tmp_path / "ensemble_gpt5-nano_x.json", 300, seed=7)
    report = import_paper_json([tmp_path / "ensemble_gpt5-nano_x.json"], tmp_path / "run", labels="meld")
    assert report.samples == 300 and report.skipped_samples == 0
    result, _ = evaluate_run(tmp_path / "run", "confidence")
    positions = []
    for sample in samples:
        ranking = authors_fusion(sample)
        truth = sample["ground_truth"]
        positions.append(ranking.index(truth) if truth in ranking else 99)
    expected = [float(np.mean(np.array(positions) < k)) for k in range(1, 8)]
    assert result.top_k == pytest.approx(expected)
    assert result.model == "gpt-5-nano" and result.n == 300


def test_paper_json_scaling_defaults_and_errors(tmp_path: Path) -> None:
    samples = [
        {
            "video_id": "v1",
            "ground_truth": "Sadness",
            "modality_results": [
                {
                    "modality": "T",
                    "emotions": [{"emotion": "sadness", "confidence": 65}],
                    "primary_emotion": "sadness",
                    "primary_confidence": 65,
                },
                {"modality": "A", "primary_emotion": "error", "emotions": []},
            ],
        },
        {"video_id": "v2", "modality_results": "nonsense"},
        {"ground_truth": "joy"},
    ]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(samples))
    report = import_paper_json([path], tmp_path / "run", labels="meld")
    assert (report.samples, report.skipped_samples, report.errors) == (1, 2, 1)
    verdicts = RunDir(tmp_path / "run").load().verdicts
    t, a = verdicts
    assert t.confidence == pytest.approx(0.65) and t.truth == "sadness"
    assert t.self_assessment is not None and t.self_assessment.score == 0.5  # missing data_quality = 50
    assert a.error is not None and a.label is None


def test_paper_json_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SaboteurError, match="no such file"):
        import_paper_json([tmp_path / "missing.json"], tmp_path / "run")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SaboteurError, match="not valid JSON"):
        import_paper_json([tmp_path / "bad.json"], tmp_path / "run")
    (tmp_path / "obj.json").write_text('{"a": 1}')
    with pytest.raises(SaboteurError, match="expected a list"):
        import_paper_json([tmp_path / "obj.json"], tmp_path / "run")


def test_model_names_from_file_names() -> None:
    assert model_from_filename(Path("ensemble_gpt4-mini_20250830_024822.json")) == "gpt-4o-mini"
    assert model_from_filename(Path("ensemble_gpt5-nano_20250830_024815.json")) == "gpt-5-nano"
    assert model_from_filename(Path("myrun.json")) == "myrun"


def test_crema_d_real_figures(crema_run: Path) -> None:
    """formats.md: majority accuracy voice .455, face .690, av .748; voice + face summed .657 (ties A..S);
    voice wrong with agreement >= 0.7 on 1,244 clips."""
    result, report = evaluate_run(crema_run, "majority")
    assert result.n == 7442 and report.lines == 22326
    accuracies = {name: round(p.accuracy, 3) for name, p in result.per_modality.items()}
    assert accuracies == {"voice": 0.455, "face": 0.690, "av": 0.748}
    summed, _ = evaluate_run(crema_run, "confidence", agents=["voice", "face"], ties="label")
    assert round(summed.accuracy, 3) == 0.657
    assert summed.per_modality["voice"].potential_saboteur == 1244
    assert summed.top_k[-1] <= 1.0 and summed.top_k == sorted(summed.top_k)


def test_crema_d_bad_source(tmp_path: Path) -> None:
    with pytest.raises(SaboteurError, match=r"no tabulatedVotes\.csv"):
        import_crema_d(tmp_path, tmp_path / "run")
    (tmp_path / "tabulatedVotes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SaboteurError, match="not a CREMA-D vote table"):
        import_crema_d(tmp_path, tmp_path / "run")
