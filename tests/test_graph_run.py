"""The agent graph end to end on the real embedded LLM: fan-out, SIGKILL + resume, a broken clip."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from saboteur.graph.api import run
from saboteur.rundir import RunDir

UTTERANCES = [
    ("u1", "Oh my God, this is the best day of my life!", "bright, fast, laughing", "wide smile", "joy"),
    ("u2", "Get out of my apartment right now!", "loud and harsh, shouting", "frowning", "anger"),
    ("u3", "I just miss him so much.", "quiet, slow, trembling", "tears, eyes down", "sadness"),
    ("u4", "Wait, you're getting married?!", "sudden rise in pitch", "eyebrows raised", "surprise"),
    ("u5", "Okay. I'll see you tomorrow then.", "flat, even tone", "relaxed face", "neutral"),
    ("u6", "Ew, what is that smell?", "nasal, drawn out", "wrinkled nose", "disgust"),
]


def write_manifest(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "audio_description", "visual_description", "label"])
        writer.writerows(rows)
    return path


def lines(run_dir: Path) -> list[dict[str, object]]:
    path = run_dir / "verdicts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def test_fan_out_runs_the_agents_of_a_clip_concurrently(tmp_path: Path, embedded_llm: str) -> None:
    manifest = write_manifest(tmp_path / "m.csv", UTTERANCES[:1])
    summary = run(manifest, tmp_path / "run", base_url=embedded_llm, concurrency=3)
    assert summary.calls_made == 3 and summary.errors == 0
    verdicts = RunDir(tmp_path / "run").load().verdicts
    spans = []
    for v in verdicts:
        end = v.created_at.timestamp()
        spans.append((end - v.usage.latency_s, end))
    # every pair of agent calls overlapped in time: the latest start is before the earliest end
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    assert {v.modality for v in verdicts} == {"transcript", "audio", "frames"}


def _start(manifest: Path, out: Path, base_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "saboteur", "run", str(manifest), "--out", str(out), "--base-url", base_url,
         "--concurrency", "2"],
        cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _kill_after(process: subprocess.Popen[str], out: Path, at_least: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if len(lines(out)) >= at_least:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_sigkill_twice_then_resume_gives_every_verdict_exactly_once(
    tmp_path: Path, embedded_llm: str
) -> None:
    manifest = write_manifest(tmp_path / "m.csv", UTTERANCES)
    out = tmp_path / "run"
    _kill_after(_start(manifest, out, embedded_llm), out, at_least=3)
    after_first = len(lines(out))
    _kill_after(_start(manifest, out, embedded_llm), out, at_least=after_first + 4)
    stored_before = len(RunDir(out).load().verdicts)
    command = [sys.executable, "-m", "saboteur", "run", str(manifest), "--out", str(out)]
    final = subprocess.run(
        [*command, "--base-url", embedded_llm, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    stored = lines(out)
    keys = [(v["clip_id"], v["modality"], v["strategy"], v["model"]) for v in stored]
    assert len(stored) == 18 and len(set(keys)) == 18, "every (clip, agent) once, no duplicates"
    assert summary["calls_made"] == 18 - stored_before, "no finished agent call was repeated"
    assert after_first >= 3 and stored_before >= after_first
    assert RunDir(out).read_config().status == "complete"


def test_a_broken_clip_does_not_stop_the_others(tmp_path: Path, embedded_llm: str) -> None:
    manifest = tmp_path / "m.csv"
    write_manifest(manifest, UTTERANCES[:1])
    with manifest.open("a", encoding="utf-8") as handle:
        handle.write("broken,,,,joy\n")
        handle.write("u1,duplicate row,,,joy\n")
    summary = run(manifest, tmp_path / "run", base_url=embedded_llm, modalities=["transcript"])
    problems = {(issue.clip_id, issue.skipped) for issue in summary.manifest_issues}
    assert ("broken", False) in problems and ("u1", True) in problems
    verdicts = {v.clip_id: v for v in RunDir(tmp_path / "run").load().verdicts}
    assert verdicts["u1"].ok
    broken = verdicts["broken"]
    assert broken.error is not None and "no media and no precomputed" in broken.error
    assert isinstance(broken.created_at, datetime)
