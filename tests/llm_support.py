"""Shared by the LLM tests: real MELD utterances, and one embedded llama.cpp server per test session."""

from __future__ import annotations

import atexit
import csv
import tempfile
from pathlib import Path

from saboteur.agents.llm.server import EmbeddedServer
from saboteur.demo import bundled_data
from saboteur.schemas import Evidence

_SERVER: EmbeddedServer | None = None


def meld_rows(n: int) -> list[dict[str, str]]:
    """The first ``n`` utterances of the bundled MELD test subset (real Friends transcripts)."""
    with (bundled_data("meld") / "test_subset.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))[:n]


def clip_id(row: dict[str, str]) -> str:
    return f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"


def seconds(stamp: str) -> float:
    """MELD's ``0:14:38,127`` as seconds."""
    hours, minutes, rest = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))


def transcript_evidence(row: dict[str, str], *, segments: bool = False) -> Evidence:
    """A MELD utterance as transcript evidence (optionally with its real timing as one segment)."""
    if not segments:
        return Evidence(modality="transcript", text=row["Utterance"])
    duration = round(seconds(row["EndTime"]) - seconds(row["StartTime"]), 3)
    features = {
        "text": row["Utterance"],
        "language": "en",
        "segments": [{"start": 0.0, "end": duration, "text": row["Utterance"]}],
    }
    return Evidence(modality="transcript", text=row["Utterance"], features=features)


def shared_server() -> EmbeddedServer:
    """The session's embedded server (started on first use, stopped at exit)."""
    global _SERVER
    if _SERVER is None or not _SERVER.running:
        log = Path(tempfile.mkdtemp(prefix="saboteur-llm-")) / "llm-server.log"
        _SERVER = EmbeddedServer(log_path=log).start()
        atexit.register(_SERVER.stop)
    return _SERVER
