"""Crash consistency: a bounded loop of SIGKILLs at random moments, then a resume that completes."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fault_server import FaultServer

from saboteur.rundir import RunDir

ANSWER = {
    "label": "sadness",
    "confidence": 60,
    "ranking": [{"label": "sadness", "confidence": 60}],
    "self_assessment": {"score": 50, "issues": [], "rationale": "short clip"},
    "rationale": "low energy words",
}
CLIPS = 20
AGENTS = ("transcript", "audio", "frames")


def test_random_sigkills_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "audio_description", "visual_description", "label"])
        for i in range(CLIPS):
            writer.writerow([f"c{i}", f"line {i}", f"voice {i}", f"face {i}", "sadness"])
    out = tmp_path / "run"
    rng = random.Random(7)
    kills = 0
    # every answer takes 50 ms, so 60 calls at concurrency 4 last about a second: kills land mid-run
    with FaultServer(default={"content": json.dumps(ANSWER), "delay": 0.05}) as server:
        command = [sys.executable, "-m", "saboteur", "run", str(manifest), "--out", str(out),
                   "--base-url", server.base_url, "--concurrency", "4", "--json"]  # fmt: skip
        for _ in range(8):  # bounded: at most 8 kills
            process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.5, 3.0))
            if process.poll() is not None:
                break
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
            loaded = RunDir(out).load() if (out / "verdicts.jsonl").exists() else None
            assert loaded is None or loaded.report.malformed == 0, "only a torn last line is tolerated"
        stored_before = len(RunDir(out).load().verdicts) if (out / "verdicts.jsonl").exists() else 0
        final = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills >= 1
    summary = json.loads(final.stdout)
    assert summary["status"] == "complete"
    assert summary["calls_made"] == CLIPS * len(AGENTS) - stored_before, "no finished call repeated"
    raw = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    keys = [(v["clip_id"], v["modality"]) for v in raw]
    assert len(keys) == len(set(keys)) == CLIPS * len(AGENTS), "every verdict exactly once"
    assert all(v["error"] is None for v in raw)
    assert RunDir(out).read_config().status == "complete"
