"""``--executor ray`` throughput with 1 and 2 Ray workers on a local 2-CPU Ray instance.

Two servers, both local and OpenAI-compatible:
- the real embedded LLM (SmolLM2-135M on llama.cpp) on real MELD utterances (transcript agent): the
  figures a user of this machine gets. llama.cpp's server answers one request at a time, so this is bound
  by the LLM, not by the workers;
- a server that answers every call after exactly 200 ms (``latency_server``), with 3 agents per clip and a
  limit of 8 calls in flight: saboteur's own overhead on Ray against the local executor.

Each run starts from a fresh run directory with the server's capability probe already in its cache (the
probe is asked once per server, not per run) and is timed as the whole ``saboteur.run`` call on an already
started Ray instance. ``*_clips_per_s`` include the workers' start-up (``*_startup_s``: a Python process
per worker importing saboteur, about 5-10 s here); ``*_steady_clips_per_s`` are clips per second once
the workers are up, against ``ray_fixed_ideal_clips_per_s`` = limit / (agents x 200 ms).
"""

from __future__ import annotations

import csv
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_server import LatencyServer

from saboteur.agents.llm.cache import cache_key
from saboteur.agents.llm.server import EmbeddedServer
from saboteur.demo import bundled_data
from saboteur.graph.api import run as run_graph
from saboteur.graph.ray_executor import RayRunSummary
from saboteur.rundir import RunDir

MELD_CLIPS = 8
FIXED_CLIPS = 60
FIXED_LIMIT = 8
DELAY_S = 0.2


class Timing(NamedTuple):
    clips: int
    wall_s: float
    startup_s: float
    """Joining Ray, probing the server (here: from the cache) and starting the workers."""

    @property
    def per_s(self) -> float:
        """Clips per second over the whole call, start-up included."""
        return round(self.clips / self.wall_s, 3)

    @property
    def steady_per_s(self) -> float:
        """Clips per second once the workers are up."""
        return round(self.clips / (self.wall_s - self.startup_s), 3)


def _meld_manifest(path: Path, count: int) -> Path:
    with (bundled_data("meld") / "test_subset.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:count]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "label"])
        for row in rows:
            writer.writerow(
                [f"meld-{row['Dialogue_ID']}-{row['Utterance_ID']}", row["Utterance"], row["Emotion"]]
            )
    return path


def _text_manifest(path: Path, count: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "audio_description", "visual_description", "label"])
        for i in range(count):
            writer.writerow([f"clip{i}", f"line {i} of the script", f"voice {i}", f"face {i}", "joy"])
    return path


def _timed(folder: Path, name: str, manifest: Path, base_url: str, warm: Path, **options: Any) -> Timing:
    """One whole ``saboteur.run`` call on a fresh run directory seeded with the server's probe."""
    out = folder / name
    shutil.copytree(warm / "cache", out / "cache")  # the server's capability probe, no answers
    started = time.perf_counter()
    summary = run_graph(manifest, out, base_url=base_url, **options)
    wall = time.perf_counter() - started
    assert summary.errors == 0 and summary.clips_done == summary.clips, summary
    startup = summary.startup_s if isinstance(summary, RayRunSummary) else 0.0
    return Timing(clips=summary.clips, wall_s=wall, startup_s=startup)


def run() -> dict[str, float]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    figures: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with EmbeddedServer(log_path=folder / "llm.log") as server:
                url = server.base_url
                warm = _probe_cache(folder / "llm", url, ["transcript"])
                manifest = _meld_manifest(folder / "meld.csv", MELD_CLIPS)
                common: dict[str, Any] = {"modalities": ["transcript"], "concurrency": 2}
                local = _timed(folder, "meld-local", manifest, url, warm, **common)
                figures["ray_local_executor_clips_per_s"] = local.per_s
                for workers, key in ((1, "ray_1_worker"), (2, "ray_2_workers")):
                    timing = _timed(
                        folder, key, manifest, url, warm, executor="ray", ray_workers=workers, **common
                    )
                    figures[f"{key}_clips_per_s"] = timing.per_s
                    figures[f"{key}_steady_clips_per_s"] = timing.steady_per_s
                    figures[f"{key}_startup_s"] = round(timing.startup_s, 2)
            with LatencyServer(DELAY_S) as fixed:
                url = fixed.base_url
                agents = ["transcript", "audio", "frames"]
                warm = _probe_cache(folder / "fixed", url, agents)
                manifest = _text_manifest(folder / "clips.csv", FIXED_CLIPS)
                common = {"modalities": agents, "concurrency": FIXED_LIMIT}
                local = _timed(folder, "fixed-local", manifest, url, warm, **common)
                figures["ray_fixed_local_clips_per_s"] = local.steady_per_s
                for workers, key in ((1, "ray_fixed_1_worker"), (2, "ray_fixed_2_workers")):
                    timing = _timed(
                        folder, key, manifest, url, warm, executor="ray", ray_workers=workers, **common
                    )
                    figures[f"{key}_steady_clips_per_s"] = timing.steady_per_s
    finally:
        ray.shutdown()
    figures["ray_fixed_ideal_clips_per_s"] = round(FIXED_LIMIT / (len(agents) * DELAY_S), 3)
    return figures


def _probe_cache(folder: Path, base_url: str, modalities: list[str]) -> Path:
    """A run directory whose ``cache/llm`` holds only the server's capability probe (no answers)."""
    folder.mkdir(parents=True)
    manifest = _text_manifest(folder / "warm.csv", 1)
    warm = folder / "warm"
    run_graph(manifest, warm, base_url=base_url, modalities=modalities[:1])
    key = cache_key(base_url, RunDir(warm).load().verdicts[0].model, "capabilities", [], {})
    entry = Path("cache") / "llm" / key[:2] / f"{key}.json"
    probe = folder / "probe"
    (probe / entry).parent.mkdir(parents=True)
    shutil.copyfile(warm / entry, probe / entry)
    return probe


if __name__ == "__main__":
    print(run())
