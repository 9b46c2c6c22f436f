"""Import the per-sample agent outputs of arXiv 2511.02794 ("paper-json", formats.md section 1).

Each sample holds one result per agent (T, A, V, TAV). Confidences (1-100) and the data-quality score
(0-100, missing = 50 as in the authors' code) are scaled to [0, 1]; agents whose primary emotion is
``"error"`` become error verdicts (kept, and skipped by fusion as the authors skip them). Malformed
samples and agent results are skipped, counted and reported, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from saboteur.errors import SaboteurError
from saboteur.eval.importers.report import ImportReport
from saboteur.labels import LabelSet, get_label_set, make_label_set
from saboteur.rundir import RunDir
from saboteur.schemas import LabelScore, RunConfig, SelfAssessment, Verdict

STRATEGY = "paper"
_MODEL_PATTERN = re.compile(r"(gpt[-_]?[0-9a-z.]+(?:[-_](?:nano|mini))?)", re.IGNORECASE)
_MODEL_ALIASES = {"gpt4-mini": "gpt-4o-mini", "gpt5-nano": "gpt-5-nano"}


def model_from_filename(path: Path) -> str:
    """Best guess of the backbone from a file name such as ``ensemble_gpt5-nano_20250830.json``."""
    found = _MODEL_PATTERN.search(path.stem)
    if not found:
        return path.stem
    name = found.group(1).lower().replace("_", "-")
    return _MODEL_ALIASES.get(name, name)


def _scaled(value: Any, default: float | None = None) -> float | None:
    if value is None or isinstance(value, bool):
        return default
    number = float(value)
    if number != number:  # NaN
        return default
    return min(1.0, max(0.0, number / 100.0))


def _agent_verdict(sample_id: str, truth: str | None, result: dict[str, Any], model: str) -> Verdict:
    """One agent result of a sample -> a native verdict (raises on malformed input)."""
    modality = str(result["modality"])
    primary = result.get("primary_emotion")
    quality = result.get("data_quality")
    if not isinstance(quality, dict):
        quality = {}
    score = _scaled(quality.get("score"), 0.5)
    assessment = SelfAssessment(
        score=0.5 if score is None else score,
        issues=[str(issue) for issue in quality.get("issues") or []],
        rationale=str(quality.get("reasoning") or ""),
    )
    common: dict[str, Any] = {
        "clip_id": sample_id,
        "modality": modality,
        "strategy": STRATEGY,
        "model": model,
        "truth": truth,
        "rationale": str(result.get("reasoning") or ""),
    }
    if not isinstance(primary, str) or primary.strip().lower() in ("", "error"):
        return Verdict(error="the agent reported an error", self_assessment=assessment, **common)
    ranking = []
    for item in result.get("emotions") or []:
        label = str(item["emotion"]).strip().lower()
        ranking.append(LabelScore(label=label, confidence=_scaled(item.get("confidence"), 0.0) or 0.0))
    label = primary.strip().lower()
    confidence = _scaled(result.get("primary_confidence"))
    if confidence is None:
        confidence = next((item.confidence for item in ranking if item.label == label), 0.0)
    return Verdict(label=label, confidence=confidence, ranking=ranking, self_assessment=assessment, **common)


def read_paper_json(
    path: Path, model: str | None = None, report: ImportReport | None = None
) -> list[Verdict]:
    """Verdicts of one paper-json file (malformed samples are counted in ``report``)."""
    report = report if report is not None else ImportReport()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SaboteurError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SaboteurError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise SaboteurError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict):
        data = data.get("results", data.get("samples"))
    if not isinstance(data, list):
        raise SaboteurError(f"{path}: expected a list of samples (formats.md section 1)")
    model_name = model or model_from_filename(path)
    verdicts: list[Verdict] = []
    for position, sample in enumerate(data):
        where = f"{path.name}[{position}]"
        try:
            sample_id = str(sample["video_id"])
            truth = sample.get("ground_truth")
            truth = str(truth).strip().lower() if truth not in (None, "") else None
            results = sample["modality_results"]
            if not isinstance(results, list) or not results:
                raise ValueError("no modality_results")
        except (KeyError, TypeError, ValueError) as exc:
            report.skip_sample(where, _reason(exc))
            continue
        report.samples += 1
        authors = sample.get("ensemble_prediction")
        for result in results:
            try:
                verdict = _agent_verdict(sample_id, truth, result, model_name)
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                report.skip_result(where, _reason(exc))
                continue
            if isinstance(authors, str):
                verdict.extra["authors_fused_top1"] = authors.strip().lower()
            verdicts.append(verdict)
    return verdicts


def infer_label_set(verdicts: Iterable[Verdict]) -> LabelSet:
    """Every label the data uses: true labels first (sorted), then labels only agents used (sorted)."""
    truths = sorted({v.truth for v in verdicts if v.truth})
    others = sorted(
        {item.label for v in verdicts for item in v.ranking} | {v.label for v in verdicts if v.label}
    )
    return make_label_set([*truths, *[label for label in others if label not in truths]], "auto")


def import_paper_json(
    files: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    labels: str | None = None,
    model: str | None = None,
) -> ImportReport:
    """Import paper-json files into a new run directory ``out``.

    Args:
        files: one or more paper-json files (several backbones become several models in one run).
        out: run directory to create; must not already hold verdicts.
        labels: label-set spec (built-in name or ``a,b,c``); default: every label the data uses.
        model: model name (only with one file); default: guessed from each file name.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise SaboteurError("give at least one paper-json file")
    if model and len(paths) > 1:
        raise SaboteurError("--model names one file's backbone; with several files it is read from names")
    run = RunDir(out)
    if run.verdicts_path.exists() and run.verdicts_path.stat().st_size:
        raise SaboteurError(f"{run.path} already holds verdicts; import into a new directory")
    report = ImportReport(source="paper-json")
    verdicts: list[Verdict] = []
    for path in paths:
        verdicts.extend(read_paper_json(path, model, report))
    if not verdicts:
        raise SaboteurError(f"no usable sample in {', '.join(str(p) for p in paths)}")
    label_set = get_label_set(labels) if labels else infer_label_set(verdicts)
    report.note_labels(verdicts, label_set)
    report.verdicts = len(verdicts)
    report.errors = sum(1 for v in verdicts if not v.ok)
    config = RunConfig(
        label_set=label_set.name,
        labels=label_set.labels,
        modalities=list(dict.fromkeys(v.modality for v in verdicts)),
        strategies=[STRATEGY],
        models=list(dict.fromkeys(v.model for v in verdicts)),
        source="paper-json",
        status="imported",
        notes={"import": report.model_dump(), "files": [str(p) for p in paths]},
    )
    run.create(config)
    run.append(verdicts)
    return report


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc) or exc.__class__.__name__
