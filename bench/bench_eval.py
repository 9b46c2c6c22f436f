"""Fusion + evaluation + full attribution (Shapley included) over 100,000 clips, and loading verdicts.

Figures: ``eval_100k_clips_s`` (100,000 clips x 4 agents x 7 labels held in memory; goal <= 2 s on a
2-core machine), ``load_100k_verdicts_s`` (reading 100,000 verdict lines and building the table).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_table

from saboteur.eval.evaluate import evaluate
from saboteur.eval.load import load_table
from saboteur.rundir import RunDir
from saboteur.schemas import LabelScore, RunConfig, SelfAssessment, Verdict


def _best_of(repeats: int, func: object) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def _write_verdicts(run: RunDir, table_labels: list[str], n_lines: int) -> None:
    run.create(RunConfig(label_set="custom", labels=table_labels, modalities=["a0", "a1", "a2", "a3"]))
    verdicts = []
    for i in range(n_lines):
        label = table_labels[i % len(table_labels)]
        other = table_labels[(i + 1) % len(table_labels)]
        verdicts.append(
            Verdict(
                clip_id=f"clip{i // 4}",
                modality=f"a{i % 4}",
                label=label,
                confidence=0.7,
                ranking=[LabelScore(label=label, confidence=0.7), LabelScore(label=other, confidence=0.2)],
                self_assessment=SelfAssessment(score=0.6, issues=["short clip"], rationale="ok"),
                rationale="a sentence of reasoning about the clip",
                truth=label,
            )
        )
    run.append(verdicts)


def run() -> dict[str, float]:
    table = synthetic_table(100_000, 4, 7)
    evaluate(table.select_clips(table.truth[:1000] >= 0))  # warm-up (imports, caches)
    eval_s = _best_of(3, lambda: evaluate(table))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDir(Path(tmp) / "run")
        _write_verdicts(run_dir, [f"label{k}" for k in range(7)], 100_000)
        load_s = _best_of(1, lambda: load_table(run_dir))
    return {"eval_100k_clips_s": round(eval_s, 3), "load_100k_verdicts_s": round(load_s, 3)}
