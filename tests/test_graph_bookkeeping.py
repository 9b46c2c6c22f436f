"""The runner's bookkeeping: group-committed verdict writes, clips started one after another without
serialising their slow parts, the checkpoint index, and what a run records in run.json."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from saboteur.agents.llm.backend import shared_tls_context
from saboteur.graph.api import run
from saboteur.graph.build import GraphContext
from saboteur.graph.manifest import ManifestReader
from saboteur.graph.runner import CHECKPOINTS, _checkpointed_threads, run_manifest
from saboteur.graph.state import AgentTask
from saboteur.labels import get_label_set
from saboteur.rundir import RunDir, VerdictWriter
from saboteur.schemas import Clip, Evidence, RunConfig, Verdict

LABELS = get_label_set("meld")


def verdict(clip_id: str, modality: str = "transcript", model: str = "m") -> Verdict:
    return Verdict(clip_id=clip_id, modality=modality, strategy="zero_shot", model=model, label="joy",
                   confidence=0.7)  # fmt: skip


class CountingWriter(VerdictWriter):
    """The real writer, counting its group commits and failing the first ``failures`` of them."""

    def __init__(self, path: Path, failures: int = 0) -> None:
        super().__init__(path)
        self.batches: list[int] = []
        self.failures = failures

    def write_all(self, verdicts: Sequence[Verdict]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("No space left on device")
        self.batches.append(len(verdicts))
        super().write_all(verdicts)


def context_for(writer: VerdictWriter) -> GraphContext:
    async def never(task: AgentTask) -> Verdict:
        raise AssertionError("no agent runs here")

    return GraphContext(modalities=["transcript"], conditions=[("zero_shot", "m")], labels=LABELS,
                        agent_fn=never, perceive_fn=None, writer=writer)  # fmt: skip


def test_concurrent_verdicts_are_group_committed_each_line_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    with CountingWriter(path) as writer:
        context = context_for(writer)
        wanted = [verdict(f"c{i}") for i in range(40)]

        async def main() -> None:
            await asyncio.gather(*[context.record(v) for v in wanted])

        asyncio.run(main())
    lines = [json.loads(line)["clip_id"] for line in path.read_text().splitlines()]
    assert lines == [v.clip_id for v in wanted]
    assert sum(writer.batches) == 40
    # the first write goes alone; everything queued behind it shares the following fsyncs
    assert writer.batches[0] == 1 and len(writer.batches) < 40
    assert set(context.stored) == {v.key for v in wanted}


def test_a_failed_store_write_loses_no_verdict(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    with CountingWriter(path, failures=1) as writer:
        context = context_for(writer)

        async def main() -> None:
            with pytest.raises(OSError, match="No space"):
                await context.record(verdict("first"))
            assert verdict("first").key not in context.stored
            await context.record(verdict("second"))

        asyncio.run(main())
    assert [json.loads(line)["clip_id"] for line in path.read_text().splitlines()] == ["first", "second"]


def write_manifest(path: Path, count: int, *, media: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        if media:
            out.writerow(["clip_id", "media", "label"])
            for i in range(count):
                media_file = path.parent / f"clip{i}.wav"
                media_file.write_bytes(b"RIFF")  # never decoded: perception is replaced below
                out.writerow([f"clip{i}", media_file.name, "joy"])
        else:
            out.writerow(["clip_id", "transcript", "label"])
            out.writerows([f"clip{i}", f"line {i}", "joy"] for i in range(count))
    return path


def test_clips_started_one_by_one_still_have_their_model_calls_in_flight_together(tmp_path: Path) -> None:
    """The runner waits for a clip to reach its model calls before starting the next, but must not wait
    for them to end: all four clips' calls are in flight at once here, or the barrier times out."""
    barrier: asyncio.Barrier | None = None

    async def agent_fn(task: AgentTask) -> Verdict:
        nonlocal barrier
        barrier = barrier or asyncio.Barrier(4)
        async with asyncio.timeout(20):
            await barrier.wait()
        return verdict(task.clip.clip_id, model=task.model)

    manifest = write_manifest(tmp_path / "m.csv", 4)
    summary = run(manifest, tmp_path / "run", modalities=["transcript"], concurrency=4, agent_fn=agent_fn,
                  models=["barrier"])  # fmt: skip
    assert summary.calls_made == 4 and summary.errors == 0
    assert summary.models == ["barrier"]
    assert RunDir(tmp_path / "run").read_config().models == ["barrier"]


def test_perception_of_several_clips_overlaps(tmp_path: Path) -> None:
    """A clip waiting in perception lets the next clip start: two clips meet inside perception."""
    import threading

    meeting = threading.Barrier(2, timeout=20)

    def perceive(clip: Clip, media: str | None, modality: str) -> Evidence:
        meeting.wait()  # raises BrokenBarrierError (an unavailable modality) if the clips never overlap
        return Evidence(modality=modality, text=f"heard {clip.clip_id}", quality=1.0)

    async def agent_fn(task: AgentTask) -> Verdict:
        assert task.evidence["transcript"].available, task.evidence["transcript"].reason
        return verdict(task.clip.clip_id, model=task.model)

    manifest = write_manifest(tmp_path / "m.csv", 2, media=True)
    out = RunDir(tmp_path / "run")
    out.create(_config())

    async def main() -> None:
        summary = await run_manifest(
            out, ManifestReader(manifest), labels=LABELS, modalities=["transcript"],
            conditions=[("zero_shot", "m")], agent_fn=agent_fn, perceive_fn=perceive,
            concurrency=2, perception_workers=2,
        )  # fmt: skip
        assert summary.calls_made == 2 and summary.errors == 0

    asyncio.run(main())
    assert sorted(v.clip_id for v in out.load().verdicts) == ["clip0", "clip1"]


def test_the_checkpoint_index_names_every_clip_that_ran(tmp_path: Path) -> None:
    async def agent_fn(task: AgentTask) -> Verdict:
        return verdict(task.clip.clip_id, model=task.model)

    manifest = write_manifest(tmp_path / "m.csv", 3)
    run(manifest, tmp_path / "run", modalities=["transcript"], agent_fn=agent_fn)

    async def index() -> set[str] | None:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "run" / CHECKPOINTS)) as saver:
            return await _checkpointed_threads(saver)

    assert asyncio.run(index()) == {"clip0", "clip1", "clip2"}
    # a second call on the same run finds every clip complete and asks nothing again
    again = run(manifest, tmp_path / "run", modalities=["transcript"], agent_fn=agent_fn)
    assert again.calls_made == 0 and again.clips_done == 3


def test_backends_share_one_tls_context() -> None:
    assert shared_tls_context() is shared_tls_context()


def _config() -> RunConfig:
    return RunConfig(label_set="meld", labels=LABELS.labels, modalities=["transcript"],
                     strategies=["zero_shot"], source="test")  # fmt: skip
