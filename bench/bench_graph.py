"""The graph's overhead against a model that always takes 200 ms, and its speed-up over a sequential run.

60 clips with precomputed perception text x 3 agents = 180 agent calls. Ideal wall time at concurrency C is
180 x 0.2 s / C. Each run first warms up on one other clip (with other text, so that nothing of the timed
run is in the response cache) in the same run directory, so that the server's capability probe (done
once per server and cached in the run) is not counted; timings are of the ``saboteur.run`` call (the CLI
adds only interpreter start-up).

Side by side, the floor of the HTTP client itself: a bare ``openai.AsyncOpenAI`` client making the same
180 calls with the same body at the same concurrency against the same server, with no framework at all.
Its ratio to the ideal shows what the client stack and this machine cost before saboteur does anything
(180 calls / 16 in flight need 12 rounds of 200 ms: 1.067 at best); ``graph_vs_http_floor`` is saboteur's
own share. The concurrent run and the floor are measured ``REPEATS`` times, alternating, and the medians
reported, because one run on a shared machine varies by about 1%.
"""

from __future__ import annotations

import asyncio
import csv
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_server import LatencyServer

from saboteur.graph.api import run as run_graph

DELAY_S = 0.2
CLIPS = 60
AGENTS = 3
CONCURRENCY = 16
REPEATS = 3


def _manifest(path: Path, prefix: str, count: int, text: str = "line") -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "audio_description", "visual_description", "label"])
        for i in range(count):
            writer.writerow([f"{prefix}{i}", f"{text} {i} of the script", f"voice {i}", f"face {i}", "joy"])
    return path


def _timed_run(folder: Path, base_url: str, concurrency: int, name: str) -> tuple[float, int]:
    out = folder / f"run-{name}"
    warm = _manifest(folder / f"warm-{name}.csv", "warm", 1, text="warm-up")
    run_graph(warm, out, base_url=base_url, concurrency=concurrency)
    manifest = _manifest(folder / f"clips-{name}.csv", "clip", CLIPS)
    started = time.perf_counter()
    summary = run_graph(manifest, out, base_url=base_url, concurrency=concurrency)
    return time.perf_counter() - started, summary.calls_made


def _last_request(base_url: str) -> dict[str, Any]:
    """The last chat request the server got: the floor replays a body saboteur really sent."""
    with urllib.request.urlopen(f"{base_url}/last-request", timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


async def _floor(base_url: str, body: dict[str, Any], calls: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            content = await client.post("/chat/completions", cast_to=bytes, body=body)
        json.loads(content)

    await one()  # the first connection, as saboteur's model lookup opens one before its calls
    started = time.perf_counter()
    await asyncio.gather(*[one() for _ in range(calls)])
    wall = time.perf_counter() - started
    await client.close()
    return wall


def run() -> dict[str, float | str]:
    walls: list[float] = []
    floors: list[float] = []
    with LatencyServer(DELAY_S) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for repeat in range(REPEATS):
            wall, calls = _timed_run(folder, server.base_url, CONCURRENCY, f"c{CONCURRENCY}-{repeat}")
            assert calls == CLIPS * AGENTS, calls
            walls.append(wall)
            body = _last_request(server.base_url)
            floors.append(asyncio.run(_floor(server.base_url, body, calls, CONCURRENCY)))
        sequential, _ = _timed_run(folder, server.base_url, 1, "c1")
    wall = statistics.median(walls)
    floor = statistics.median(floors)
    ideal = CLIPS * AGENTS * DELAY_S / CONCURRENCY
    return {
        "graph_wall_s": round(wall, 3),
        "graph_wall_runs_s": ", ".join(f"{w:.3f}" for w in walls),
        "graph_ideal_s": round(ideal, 3),
        "graph_overhead_ratio": round(wall / ideal, 3),
        "concurrency_efficiency": round(ideal / wall, 3),
        "http_floor_s": round(floor, 3),
        "http_floor_ratio": round(floor / ideal, 3),
        "graph_vs_http_floor": round(wall / floor, 3),
        "sequential_wall_s": round(sequential, 3),
        "speedup_vs_sequential": round(sequential / wall, 2),
    }
