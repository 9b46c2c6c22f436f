"""The batch runner: every clip of a manifest through the per-clip graph, concurrently, resumably.

Clips stream from the manifest (memory stays bounded); at most ``clip_slots`` clips are in flight, and
the LLM calls of all of them share one concurrency limit. While the slots fill, clips are started one
after another: each as soon as the one before waits on a model call or on perception, so that the first
calls go out at once instead of after every clip's bookkeeping. Each clip is one LangGraph thread in a SQLite
checkpointer under the run directory, so a killed run resumes inside a clip; verdicts already in the
store are never asked for again. Ctrl-C stops starting clips, lets the ones in flight finish, flushes and
marks the run ``interrupted``; a second Ctrl-C cancels them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from pydantic import BaseModel, Field

from saboteur.graph.build import (
    Condition,
    GraphContext,
    build_graph,
    condition_models,
    reusable_verdicts,
)
from saboteur.graph.manifest import ManifestClip, ManifestIssue, ManifestReader
from saboteur.graph.state import AgentFn, AgentTask, PerceiveFn
from saboteur.labels import LabelSet
from saboteur.rundir import RunDir
from saboteur.schemas import Verdict

CHECKPOINTS = "checkpoints.sqlite"


class RunSummary(BaseModel):
    """What a call of the runner did."""

    clips: int = 0
    """Clips read from the manifest (after skipped rows)."""
    clips_done: int = 0
    """Clips that went through the graph to the end in this call (or were already complete)."""
    calls_made: int = 0
    """Agent verdicts produced in this call."""
    from_store: int = 0
    """Agent verdicts answered from the store (finished before a crash or an earlier run)."""
    errors: int = 0
    """Error verdicts produced in this call."""
    wall_s: float = 0.0
    status: str = "complete"
    """``complete`` or ``interrupted``."""
    manifest_issues: list[ManifestIssue] = Field(default_factory=list)
    unknown_columns: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    """Model names the run's agents answered under (recorded in ``run.json`` without re-reading the store)."""


ProgressFn = Callable[[str, RunSummary], None]
"""Called with an event name (``clip``, ``verdict``) and the running summary."""


async def run_manifest(
    run: RunDir,
    manifest: ManifestReader,
    *,
    labels: LabelSet,
    modalities: Sequence[str],
    conditions: Sequence[Condition],
    agent_fn: AgentFn,
    perceive_fn: PerceiveFn | None,
    concurrency: int = 4,
    perception_workers: int = 2,
    clip_slots: int | None = None,
    joint: bool = False,
    retry_errors: bool = False,
    limit_agents: bool = True,
    progress: ProgressFn | None = None,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """Run every clip of ``manifest`` through the graph, appending verdicts to ``run``.

    ``retry_errors``: call the model again for agent calls that ended in an error verdict (by default a
    resumed run repeats no finished call, failed ones included). ``limit_agents``: at most ``concurrency``
    agent runs at once; saboteur's own agents pass False, because their backends already hold at most
    ``concurrency`` HTTP calls in flight and free a slot as soon as a response arrives (not after it
    is parsed), which keeps the server busier.
    """
    summary = RunSummary(models=condition_models(conditions))
    started = time.perf_counter()
    stop = stop or asyncio.Event()
    loaded = run.load()
    llm_slots = asyncio.Semaphore(max(1, concurrency))

    async def limited_agent(task: AgentTask) -> Verdict:
        if not limit_agents:
            return await agent_fn(task)
        async with llm_slots:
            return await agent_fn(task)

    with run.open_writer() as writer:
        context = GraphContext(
            modalities=list(modalities),
            conditions=list(conditions),
            labels=labels,
            agent_fn=limited_agent,
            perceive_fn=perceive_fn,
            writer=writer,
            stored=reusable_verdicts(loaded.verdicts, retry_errors),
            perception_slots=asyncio.Semaphore(max(1, perception_workers)),
            joint=joint,
        )

        context.on_verdict.append(verdict_counter(summary, progress))
        waiting: dict[str, asyncio.Event] = {}
        context.on_waiting = lambda clip_id: waiting[clip_id].set() if clip_id in waiting else None
        async with AsyncSqliteSaver.from_conn_string(str(run.path / CHECKPOINTS)) as saver:
            await _tune_checkpoints(saver)
            checkpointed = await _checkpointed_threads(saver)
            app = build_graph(context).compile(checkpointer=saver)
            slot_count = max(1, clip_slots or max(2, concurrency))
            slots = asyncio.Semaphore(slot_count)
            tasks: set[asyncio.Task[None]] = set()

            async def one_clip(item: ManifestClip) -> None:
                try:
                    await _run_clip(app, context, item, checkpointed)
                    summary.clips_done += 1
                    if progress:
                        progress("clip", summary)
                finally:
                    waiting.pop(item.clip.clip_id, None)
                    slots.release()

            for item in manifest:
                summary.clips += 1
                await slots.acquire()
                if stop.is_set():
                    slots.release()
                    break
                filling = summary.clips <= slot_count  # the pipeline fills (see _until_waiting)
                if filling:
                    ready = waiting[item.clip.clip_id] = asyncio.Event()
                task = asyncio.create_task(one_clip(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if filling:
                    await _until_waiting(task, ready)
            if tasks:
                await asyncio.gather(*tasks)
    summary.status = "interrupted" if stop.is_set() else "complete"
    summary.manifest_issues = manifest.issues
    summary.unknown_columns = sorted(manifest.unknown_columns)
    summary.wall_s = time.perf_counter() - started
    return summary


async def _until_waiting(task: asyncio.Task[None], ready: asyncio.Event) -> None:
    """Return once a just-started clip waits on something slow (a model call, perception) or has ended.

    While the pipeline fills, clips are started one after another this way, not all at once: started
    together, their bookkeeping (checkpoint reads and writes, fan-out) interleaves on the event loop and
    the checkpointer's single connection, and every clip's first model call waits for all of them. Once
    it is full, a clip starts as soon as a slot frees: the calls of the clips in flight already keep the
    model busy, and waiting here would only make clip start-up a bottleneck with a fast model.
    """
    signal = asyncio.ensure_future(ready.wait())
    try:
        await asyncio.wait({task, signal}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signal.cancel()


async def _tune_checkpoints(saver: AsyncSqliteSaver) -> None:
    """WAL with ``synchronous=NORMAL`` and a short log: a commit no longer waits for an fsync.

    Checkpoints then survive a crash of the process (the case resumption is for) but the last few may
    be lost with the machine's power; either way the verdict store, fsynced before a verdict counts as
    stored, says which agent calls are done, so a lost checkpoint only means a clip's graph restarts.
    """
    await saver.setup()
    await saver.conn.execute("PRAGMA synchronous=NORMAL")
    # fold the log into the database every 256 pages (1 MB) instead of 1000: closing the run then
    # copies a small log back (~1 ms, not ~7), and a resumed run reads a short one
    await saver.conn.execute("PRAGMA wal_autocheckpoint=256")


async def _checkpointed_threads(saver: AsyncSqliteSaver) -> set[str] | None:
    """Clips with a checkpoint (one query), so that new clips skip the per-clip state lookup.

    None when the checkpointer's table cannot be read this way: every clip is then looked up.
    """
    try:
        async with saver.conn.execute("SELECT DISTINCT thread_id FROM checkpoints") as cursor:
            return {str(row[0]) for row in await cursor.fetchall()}
    except Exception:  # another checkpointer schema: fall back to asking per clip
        return None


async def _run_clip(
    app: Any, context: GraphContext, item: ManifestClip, checkpointed: set[str] | None = None
) -> None:
    clip_id = item.clip.clip_id
    config = {"configurable": {"thread_id": clip_id}}
    if checkpointed is not None and clip_id not in checkpointed:  # never started: nothing to resume
        await app.ainvoke(initial_state(item), config)
        return
    snapshot = await app.aget_state(config)
    if snapshot.next:  # killed inside this clip: resume from the last checkpoint
        await app.ainvoke(None, config)
        return
    wanted = {
        (clip_id, modality, strategy, model)
        for strategy, model in context.conditions
        for modality in context.agents
    }
    if snapshot.values.get("outcome") is not None and wanted <= set(context.stored):
        return
    await app.ainvoke(initial_state(item), config)


def initial_state(item: ManifestClip) -> dict[str, Any]:
    """The graph's input for one manifest clip (the same for every executor)."""
    return {
        "clip": item.clip.model_dump(mode="json"),
        "media_path": str(item.media_path) if item.media_path else None,
        "problems": item.problems,
    }


def verdict_counter(summary: RunSummary, progress: ProgressFn | None) -> Callable[[Verdict, bool], None]:
    """A GraphContext callback that counts new, stored and failed verdicts into ``summary``."""

    def on_verdict(verdict: Verdict, from_store: bool) -> None:
        if from_store:
            summary.from_store += 1
        else:
            summary.calls_made += 1
            summary.errors += 0 if verdict.ok else 1
        if progress:
            progress("verdict", summary)

    return on_verdict


def install_interrupt(stop: asyncio.Event, on_first: Callable[[], None] | None = None) -> Callable[[], None]:
    """First Ctrl-C: set ``stop`` (finish what is in flight); second: cancel everything. Returns an undo."""
    loop = asyncio.get_running_loop()
    hits = {"count": 0}

    def handler() -> None:
        hits["count"] += 1
        if hits["count"] == 1:
            stop.set()
            if on_first:
                on_first()
        else:
            for task in asyncio.all_tasks(loop):
                task.cancel()

    with suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, handler)
        loop.add_signal_handler(signal.SIGTERM, handler)

    def undo() -> None:
        with suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)

    return undo
