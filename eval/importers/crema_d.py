"""Import CREMA-D crowd votes as three "agents": voice only, face only, audio-visual (formats.md section 2).

Each clip was rated by crowds in three conditions. A condition becomes an agent verdict: the vote shares
are its ranking (labels with no vote are left out), the most voted emotion its primary label (ties: first
in A, D, F, H, N, S order), the top share its confidence, the raters' agreement its self-assessment
score. Ground truth is the intended emotion in the file name (``1001_IEO_HAP_LO`` -> happy). The mean
rated intensity is kept in ``extra["intensity"]`` as a second quality signal.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path
from typing import IO

from saboteur.errors import SaboteurError
from saboteur.eval.importers.report import ImportReport
from saboteur.labels import get_label_set
from saboteur.rundir import RunDir
from saboteur.schemas import LabelScore, RunConfig, SelfAssessment, Verdict

VOTE_COLUMNS = ("A", "D", "F", "H", "N", "S")
LABELS = ("anger", "disgust", "fear", "happy", "neutral", "sad")
CONDITIONS = {"1": "voice", "2": "face", "3": "av"}
EMOTION_CODES = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
_CANDIDATES = ("tabulatedVotes.csv", "tabulatedVotes.csv.gz", "processedResults/tabulatedVotes.csv")


def find_votes_file(source: Path) -> Path:
    """``tabulatedVotes.csv`` (or ``.csv.gz``) in ``source`` or its ``processedResults/``; or the file."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise SaboteurError(f"{source}: no such file or directory")
    for name in (*_CANDIDATES, "processedResults/tabulatedVotes.csv.gz"):
        if (source / name).is_file():
            return source / name
    raise SaboteurError(f"{source}: no tabulatedVotes.csv here or in processedResults/")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def truth_from_filename(name: str) -> str | None:
    """Intended emotion of a clip from its name (``1001_IEO_HAP_LO`` -> ``happy``)."""
    parts = name.split("_")
    return EMOTION_CODES.get(parts[2].upper()) if len(parts) >= 3 else None


def _row_verdict(row: dict[str, str], report: ImportReport, number: int) -> Verdict | None:
    row_id = (row.get("") or row.get("id") or "").strip()
    condition = CONDITIONS.get(row_id[:1])
    name = (row.get("fileName") or "").strip()
    if condition is None or not name:
        report.skip_sample(f"row {number}", f"unknown condition in row id {row_id!r} or no fileName")
        return None
    try:
        votes = [float(row[column]) for column in VOTE_COLUMNS]
        agreement = float(row["agreement"])
        intensity = float(row.get("meanEmoResp") or "nan")
    except (KeyError, ValueError) as exc:
        report.skip_sample(f"row {number} ({name})", f"unreadable vote counts ({exc})")
        return None
    total = sum(votes)
    if total <= 0:
        report.skip_sample(f"row {number} ({name})", "no votes")
        return None
    shares = [vote / total for vote in votes]
    order = sorted(range(len(LABELS)), key=lambda i: (-shares[i], i))  # stable: A, D, F, H, N, S
    ranking = [LabelScore(label=LABELS[i], confidence=shares[i]) for i in order if shares[i] > 0]
    extra: dict[str, float] = {"votes": total}
    if intensity == intensity and intensity >= 0:
        extra["intensity"] = min(1.0, intensity / 100.0)
    return Verdict(
        clip_id=name,
        modality=condition,
        strategy="crowd-votes",
        model="crema-d-raters",
        label=ranking[0].label,
        confidence=ranking[0].confidence,
        ranking=ranking,
        self_assessment=SelfAssessment(
            score=min(1.0, max(0.0, agreement)),
            issues=[] if agreement >= 0.5 else ["raters disagree"],
            rationale=f"{int(total)} raters; agreement {agreement:.2f}",
        ),
        rationale=f"crowd vote shares of {int(total)} raters ({condition} condition)",
        truth=truth_from_filename(name),
        extra=extra,
    )


def import_crema_d(source: str | os.PathLike[str], out: str | os.PathLike[str]) -> ImportReport:
    """Import CREMA-D's ``tabulatedVotes.csv`` into a new run with agents ``voice``, ``face``, ``av``."""
    path = find_votes_file(Path(source))
    run = RunDir(out)
    if run.verdicts_path.exists() and run.verdicts_path.stat().st_size:
        raise SaboteurError(f"{run.path} already holds verdicts; import into a new directory")
    report = ImportReport(source="crema-d")
    verdicts: list[Verdict] = []
    try:
        with _open_text(path) as handle:
            reader = csv.DictReader(handle)
            missing = {"fileName", "agreement", *VOTE_COLUMNS} - set(reader.fieldnames or [])
            if missing:
                raise SaboteurError(
                    f"{path}: not a CREMA-D vote table (missing {', '.join(sorted(missing))})"
                )
            for number, row in enumerate(reader, start=2):
                verdict = _row_verdict(row, report, number)
                if verdict is not None:
                    verdicts.append(verdict)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise SaboteurError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if not verdicts:
        raise SaboteurError(f"{path}: no usable rows")
    # agents in a fixed order: the two unimodal experts first, then the joint one
    rank = {"voice": 0, "face": 1, "av": 2}
    verdicts.sort(key=lambda v: rank[v.modality])  # stable: keeps file order within each agent
    report.samples = len({v.clip_id for v in verdicts})
    report.verdicts = len(verdicts)
    label_set = get_label_set("crema-d")
    report.note_labels(verdicts, label_set)
    run.create(
        RunConfig(
            label_set=label_set.name,
            labels=label_set.labels,
            modalities=["voice", "face", "av"],
            strategies=["crowd-votes"],
            models=["crema-d-raters"],
            source="crema-d",
            status="imported",
            notes={"import": report.model_dump(), "file": str(path)},
        )
    )
    run.append(verdicts)
    return report
