"""The graph's overhead against a model that always takes 200 ms, and its speed-up over a sequential run.

60 clips with precomputed perception text x 3 agents = 180 agent calls. Ideal wall time at concurrency C is
180 x 0.2 s / C. Each run first warms up on one other clip in the same run directory, so that the
server's capability probe (done once per server and cached in the run) is not counted; timings are of the
``saboteur.run`` call (the CLI adds only interpreter start-up).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_server import LatencyServer

from saboteur.graph.api import run as run_graph

DELAY_S = 0.2
CLIPS = 60
AGENTS = 3


def _manifest(path: Path, prefix: str, count: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "audio_description", "visual_description", "label"])
        for i in range(count):
            writer.writerow([f"{prefix}{i}", f"line {i} of the script", f"voice {i}", f"face {i}", "joy"])
    return path


def _timed_run(folder: Path, base_url: str, concurrency: int) -> tuple[float, int]:
    out = folder / f"run-c{concurrency}"
    run_graph(_manifest(folder / f"warm{concurrency}.csv", "warm", 1), out, base_url=base_url,
              concurrency=concurrency)  # fmt: skip
    manifest = _manifest(folder / f"clips{concurrency}.csv", "clip", CLIPS)
    started = time.perf_counter()
    summary = run_graph(manifest, out, base_url=base_url, concurrency=concurrency)
    return time.perf_counter() - started, summary.calls_made


def run() -> dict[str, float]:
    with LatencyServer(DELAY_S) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wall, calls = _timed_run(folder, server.base_url, 16)
        sequential, _ = _timed_run(folder, server.base_url, 1)
    assert calls == CLIPS * AGENTS, calls
    ideal = calls * DELAY_S / 16
    return {
        "graph_wall_s": round(wall, 3),
        "graph_ideal_s": round(ideal, 3),
        "graph_overhead_ratio": round(wall / ideal, 3),
        "concurrency_efficiency": round(ideal / wall, 3),
        "sequential_wall_s": round(sequential, 3),
        "speedup_vs_sequential": round(sequential / wall, 2),
    }
