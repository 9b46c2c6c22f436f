"""The embedded demo: what ``make demo`` / ``saboteur demo`` runs on a fresh machine, offline.

Until the agent graph exists it studies real data bundled with the package: CREMA-D's crowd votes as
three agents (voice, face, audio-visual), imported into a run directory and evaluated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

from saboteur.eval.evaluate import Evaluation, evaluate_run
from saboteur.eval.importers import import_crema_d
from saboteur.rundir import RunDir


def bundled_data(name: str) -> Path:
    """Path of a data folder shipped in the package (``crema-d``, ``meld``)."""
    with as_file(files("saboteur") / "data" / name) as path:
        return Path(path)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its run, and the evaluations it printed."""

    run: Path
    evaluations: dict[str, Evaluation]


def run_demo(out: str | os.PathLike[str] = "runs/demo") -> DemoResult:
    """Import the bundled CREMA-D votes (once) into ``out/crema-d`` and evaluate the fusion rules."""
    run_path = Path(out) / "crema-d"
    if not RunDir(run_path).verdicts_path.is_file():
        import_crema_d(bundled_data("crema-d"), run_path)
    evaluations = {
        "voice+face confidence": evaluate_run(run_path, "confidence", agents=["voice", "face"])[0],
        "voice+face+av confidence": evaluate_run(run_path, "confidence")[0],
        "voice+face+av quality": evaluate_run(run_path, "quality")[0],
        "voice+face+av oracle": evaluate_run(run_path, "oracle")[0],
    }
    return DemoResult(run=run_path, evaluations=evaluations)
