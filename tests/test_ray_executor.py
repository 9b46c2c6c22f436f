"""``--executor ray`` on a local 2-CPU Ray instance against the real embedded LLM and real MELD utterances.

The Ray instance starts once for the module (about 10 s) and is shut down at the end. The Ray run is
compared with a local run of the same seven utterances through the same server at temperature 0; only
the server's capability probe (not an answer) is copied between their caches, to spare a second probe.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from saboteur.agents.llm.cache import cache_key
from saboteur.demo import bundled_data
from saboteur.graph.api import run
from saboteur.graph.ray_executor import RayRunSummary
from saboteur.graph.runner import RunSummary
from saboteur.rundir import RunDir
from saboteur.schemas import Verdict

pytestmark = pytest.mark.slow


def meld_manifest(path: Path, count: int = 7) -> Path:
    """The first utterance of each of MELD's seven emotions in the bundled test split (real rows)."""
    first: dict[str, dict[str, str]] = {}
    with (bundled_data("meld") / "test_subset.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            first.setdefault(row["Emotion"], row)
    assert len(first) == 7
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "transcript", "label"])
        for emotion, row in list(first.items())[:count]:
            writer.writerow([f"meld-{row['Dialogue_ID']}-{row['Utterance_ID']}", row["Utterance"], emotion])
    return path


def seed_capabilities(source: Path, target: Path, base_url: str, model: str) -> None:
    """Copy the probed server capabilities (one cache entry, no answers) into another run's cache."""
    key = cache_key(base_url, model, "capabilities", [], {})
    entry = Path("cache") / "llm" / key[:2] / f"{key}.json"
    (target / entry).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / entry, target / entry)


def labels_of(out: Path) -> dict[tuple[str, str], tuple[str | None, float | None]]:
    return {(v.clip_id, v.modality): (v.label, v.confidence) for v in RunDir(out).load().verdicts}


def stored_lines(out: Path) -> list[dict[str, Any]]:
    path = out / "verdicts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray instance with 2 CPUs for this module; yields its address for other drivers."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, embedded_llm: str, ray_cluster: str
) -> tuple[Path, RunSummary, Path, RunSummary]:
    """The same seven utterances through the local executor and through Ray (2 workers, limit 2)."""
    folder = tmp_path_factory.mktemp("ray")
    manifest = meld_manifest(folder / "meld7.csv")
    options: dict[str, Any] = {"base_url": embedded_llm, "modalities": ["transcript"], "concurrency": 2}
    local = run(manifest, folder / "local", **options)
    model = RunDir(folder / "local").load().verdicts[0].model
    seed_capabilities(folder / "local", folder / "ray", embedded_llm, model)
    on_ray = run(manifest, folder / "ray", executor="ray", ray_workers=2, **options)
    return folder / "local", local, folder / "ray", on_ray


def test_ray_gives_the_same_verdicts_as_the_local_executor(
    runs: tuple[Path, RunSummary, Path, RunSummary],
) -> None:
    local_out, local, ray_out, on_ray = runs
    assert local.calls_made == on_ray.calls_made == 7 and on_ray.errors == 0
    local_labels, ray_labels = labels_of(local_out), labels_of(ray_out)
    assert len(ray_labels) == 7 and all(label is not None for label, _ in ray_labels.values())
    assert ray_labels == local_labels, "same labels and confidences at temperature 0"
    lines = stored_lines(ray_out)
    assert len(lines) == 7 and len({line["clip_id"] for line in lines}) == 7, "the driver wrote each once"
    assert all(Verdict.model_validate(line).usage.calls >= 1 for line in lines), "answered by the model"
    assert RunDir(ray_out).read_config().status == "complete"


def test_llm_calls_never_exceed_the_cluster_wide_limit(
    runs: tuple[Path, RunSummary, Path, RunSummary],
) -> None:
    on_ray = runs[3]
    assert isinstance(on_ray, RayRunSummary) and on_ray.workers == 2 and on_ray.llm_limit == 2
    assert on_ray.llm_peak_in_flight == 2, "the limit was reached and never exceeded"
    assert on_ray.llm_peak_waiting >= 1, "more calls were ready than the limit let through"
    assert set(on_ray.llm_calls_per_worker) == {"worker-0", "worker-1"}, "both workers made calls"
    assert sum(on_ray.llm_calls_per_worker.values()) == 7


def test_resume_after_a_killed_ray_driver_repeats_no_finished_call(
    runs: tuple[Path, RunSummary, Path, RunSummary], embedded_llm: str, ray_cluster: str, tmp_path: Path
) -> None:
    local_out = runs[0]
    manifest = meld_manifest(tmp_path / "meld4.csv", count=4)
    out = tmp_path / "run"
    model = RunDir(local_out).load().verdicts[0].model
    seed_capabilities(local_out, out, embedded_llm, model)
    command = [
        *(sys.executable, "-m", "saboteur", "run", str(manifest), "--out", str(out)),
        *("--base-url", embedded_llm, "--modalities", "transcript", "--concurrency", "2"),
        *("--executor", "ray", "--ray-address", ray_cluster, "--ray-workers", "2"),
    ]
    with (tmp_path / "driver.log").open("w") as log:
        driver = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None and not stored_lines(out):
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    before = RunDir(out).load().verdicts
    valid_before = sum(1 for v in before if v.ok)
    assert driver.returncode == -signal.SIGKILL, (tmp_path / "driver.log").read_text()[-2000:]
    assert 1 <= valid_before < 4, "the driver was killed part-way"
    summary = run(
        manifest, out, base_url=embedded_llm, modalities=["transcript"], concurrency=2, executor="ray",
        ray_workers=2,
    )  # fmt: skip
    assert summary.calls_made == 4 - valid_before, "no finished agent call was sent again"
    assert summary.clips_done == 4 and summary.status == "complete"
    keys = [(v["clip_id"], v["modality"], v["strategy"], v["model"]) for v in stored_lines(out)]
    assert len(keys) == 4 and len(set(keys)) == 4, "every call stored exactly once"
    local = labels_of(local_out)
    assert labels_of(out) == {key: local[key] for key in labels_of(out)}, "the local run's verdicts"
