"""The embedded demo: what ``make demo`` / ``saboteur demo`` runs on a fresh machine, offline.

Two parts: (1) the whole agent graph (perception with real Whisper, YAMNet and the expression model, the
three modality agents on the embedded LLM, fusion, evaluation, report) over the demo clips bundled in
``saboteur/data/demo`` (espeak-ng speech over public-domain / CC0 photos from scikit-image, made by
:func:`make_demo_clips`); (2) the real CREMA-D crowd votes, imported and evaluated.
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


DEMO_CLIPS: tuple[tuple[str, str, str, str], ...] = (
    # clip id, sentence spoken, scikit-image photo, intended emotion
    ("promotion", "I got the job! I can't believe it, this is the best day of my life!", "astronaut", "joy"),
    ("betrayal", "You lied to me again. Get out of my house, right now!", "astronaut", "anger"),
    ("loss", "She passed away last night. I keep thinking I will hear her voice.", "chelsea", "sadness"),
    ("schedule", "The meeting moved to three o'clock on Thursday, in room two.", "coffee", "neutral"),
)
"""The demo's clips. ``betrayal`` pairs angry words with a smiling face: a sabotage case by design."""


def make_demo_clips(folder: str | os.PathLike[str], size: int = 192) -> Path:
    """Write the demo clips (mp4: H.264 + AAC) and their manifest into ``folder``; returns the manifest.

    Needs espeak-ng and the perception extra (PyAV, scikit-image); the bundled clips were made by this.
    """
    import numpy as np
    from PIL import Image
    from skimage import data as photos

    from saboteur.agents.perception.synth import speak, write_clip

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["clip_id,media,label"]
    for clip_id, sentence, photo, label in DEMO_CLIPS:
        picture = getattr(photos, photo)()
        small = np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.LANCZOS))
        write_clip(out / f"{clip_id}.mp4", [small], speak(sentence), fps=5.0)
        rows.append(f"{clip_id},{clip_id}.mp4,{label}")
    manifest = out / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its runs and report, and the evaluations it printed."""

    graph_run: Path | None
    """The agent-graph run over the demo clips (None when it was skipped)."""
    report: Path | None
    """The report of that run (``index.html``)."""
    crema_run: Path
    evaluations: dict[str, Evaluation]


def run_demo(out: str | os.PathLike[str] = "runs/demo", *, graph: bool = True) -> DemoResult:
    """Run the demo: the agent graph over the bundled clips, then the CREMA-D study (see module doc).

    Re-running resumes both runs (nothing that finished is recomputed).
    """
    from saboteur.eval.report.build import build_report
    from saboteur.graph.api import run as run_graph

    folder = Path(out)
    graph_run: Path | None = None
    report: Path | None = None
    evaluations: dict[str, Evaluation] = {}
    if graph:
        graph_run = folder / "clips"
        run_graph(bundled_data("demo") / "manifest.csv", graph_run, labels="meld", concurrency=3)
        evaluations["demo clips: transcript+audio+frames, confidence"] = evaluate_run(
            graph_run, "confidence"
        )[0]
        report = build_report(graph_run)
    crema_run = folder / "crema-d"
    if not RunDir(crema_run).verdicts_path.is_file():
        import_crema_d(bundled_data("crema-d"), crema_run)
    evaluations["CREMA-D voice+face, confidence"] = evaluate_run(
        crema_run, "confidence", agents=["voice", "face"]
    )[0]
    evaluations["CREMA-D voice+face+av, quality"] = evaluate_run(crema_run, "quality")[0]
    evaluations["CREMA-D voice+face+av, oracle"] = evaluate_run(crema_run, "oracle")[0]
    return DemoResult(graph_run=graph_run, report=report, crema_run=crema_run, evaluations=evaluations)
