"""Memory stays bounded as manifests grow: peak RSS of `saboteur run` over 500 and 5,000 clips.

The manifest is streamed and at most a few clips are in flight, so the peak should hardly move with the
manifest's length. Each run is its own `saboteur run` process (transcript agent, precomputed text,
a local server that answers at once); the peak comes from getrusage of that child.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_server import LatencyServer


def _peak_rss_mb(folder: Path, clips: int, base_url: str) -> tuple[float, float]:
    manifest = folder / f"m{clips}.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "label"])
        for i in range(clips):
            writer.writerow([f"clip{i}", f"utterance number {i} of a long study", "joy"])
    out = folder / f"run{clips}"
    command = [sys.executable, "-m", "saboteur", "run", str(manifest), "--out", str(out), "--modalities",
               "transcript", "--base-url", base_url, "--concurrency", "16", "--json"]  # fmt: skip
    # a fresh wrapper process per run, so that the peak is this run's alone (RUSAGE_CHILDREN keeps a max)
    wrapper = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command], check=True, capture_output=True, cwd=folder
    )
    return int(done.stdout.split()[-1]) / 1024, time.perf_counter() - started


def run() -> dict[str, float]:
    with LatencyServer(0.0) as server, tempfile.TemporaryDirectory() as tmp:
        small, _ = _peak_rss_mb(Path(tmp), 500, server.base_url)
        large, seconds = _peak_rss_mb(Path(tmp), 5000, server.base_url)
    return {
        "peak_rss_500_clips_mb": round(small, 1),
        "peak_rss_5000_clips_mb": round(large, 1),
        "rss_growth_ratio_5000_vs_500": round(large / small, 3),
        "run_5000_clips_s": round(seconds, 1),
    }
