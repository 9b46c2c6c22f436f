"""What runs inside the Ray cluster: the global LLM limiter and the clip workers.

A :class:`ClipWorker` is a long-lived async Ray actor. It opens its backends and agents once (through
:func:`saboteur.graph.wiring.open_agent_set`, like the local executor), compiles the very same per-clip
graph (:func:`saboteur.graph.build.build_graph`), runs perception where it lives, and streams each
verdict back to the driver as soon as the agent node records it. It never writes the run's
``verdicts.jsonl``: its graph's writer is a :class:`RelayWriter` that hands verdicts to the stream.

Every agent call first takes a slot from the one :class:`LlmLimiter` actor of the run, so the number of
LLM calls in flight never exceeds ``--concurrency`` across the whole cluster. This module never imports
Ray: the driver wraps these classes with ``ray.remote`` (they are plain Python here, which keeps them
usable and type-checked without the extra).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from saboteur.agents.llm.backend import BackendConfig
from saboteur.agents.llm.probe import Capabilities
from saboteur.graph.build import Condition, GraphContext, build_graph
from saboteur.graph.state import AgentFn, AgentTask, PerceiveFn
from saboteur.labels import LabelSet
from saboteur.rundir import VerdictWriter
from saboteur.schemas import Verdict


class LimiterStats(BaseModel):
    """What the limiter saw during a run."""

    limit: int
    peak_in_flight: int = 0
    """Most LLM calls holding a slot at the same moment (never above ``limit``)."""
    peak_waiting: int = 0
    """Most calls queued for a slot at the same moment (0 means the limit never held anyone back)."""
    granted: dict[str, int] = Field(default_factory=dict)
    """Slots granted per worker name."""


class LlmLimiter:
    """One cluster-wide semaphore for LLM calls (an async actor: waiting costs no thread)."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._stats = LimiterStats(limit=limit)
        self._in_flight = 0
        self._waiting = 0
        self._granted: Counter[str] = Counter()

    async def acquire(self, worker: str) -> None:
        """Wait for a slot (FIFO)."""
        self._waiting += 1
        self._stats.peak_waiting = max(self._stats.peak_waiting, self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._in_flight += 1
        self._granted[worker] += 1
        self._stats.peak_in_flight = max(self._stats.peak_in_flight, self._in_flight)

    async def release(self) -> None:
        """Give a slot back."""
        self._in_flight -= 1
        self._slots.release()

    async def stats(self) -> dict[str, Any]:
        """The counters so far (a plain dict, for the driver)."""
        return self._stats.model_copy(update={"granted": dict(self._granted)}).model_dump()


class WorkerSpec(BaseModel):
    """Everything a worker needs to build its agents, apart from Python objects passed alongside."""

    run_path: str
    """The run directory; its ``cache/llm`` is the response cache (shared, or one per node)."""
    modalities: list[str]
    strategies: list[str]
    joint: bool = False
    backends: list[BackendConfig] = Field(default_factory=list)
    """Resolved by the driver: base URL, model name and server identity fixed."""
    capabilities: list[Capabilities | None] = Field(default_factory=list)
    """The driver's probe result per backend (workers then probe nothing)."""
    conditions: list[Condition] = Field(default_factory=list)
    """Used only with a custom agent function; otherwise the agents define them."""
    perception_workers: int = 1


class RelayWriter(VerdictWriter):
    """The worker side of the verdict store: writes nothing; verdicts go to the driver instead.

    The graph's ``record`` then calls the worker's ``on_verdict`` callback (on the event loop), which puts
    the verdict on its clip's stream; the driver alone appends it to ``verdicts.jsonl``.
    """

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def write_all(self, verdicts: Sequence[Verdict], *, sync: bool = True) -> None:
        """Nothing to write here."""

    def sync(self) -> None:
        """Nothing to flush: durability is the driver's job."""


def relay(
    streams: dict[str, asyncio.Queue[dict[str, Any] | None]], verdict: Verdict, from_store: bool
) -> None:
    """Put one verdict message on its clip's stream."""
    stream = streams.get(verdict.clip_id)
    if stream is not None:
        stream.put_nowait(
            {"kind": "verdict", "verdict": verdict.model_dump(mode="json"), "from_store": from_store}
        )


class ClipWorker:
    """One Ray worker: agents and perception loaded once, then clips streamed through the per-clip graph."""

    def __init__(
        self,
        name: str,
        spec: WorkerSpec,
        labels: LabelSet,
        limiter: Any,
        perceive_fn: PerceiveFn | None = None,
        agent_fn: AgentFn | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.labels = labels
        self.limiter = limiter
        self.perceive_fn = perceive_fn
        self.custom_agent_fn = agent_fn
        self._stack = AsyncExitStack()
        self._streams: dict[str, asyncio.Queue[dict[str, Any] | None]] = {}
        self._context: GraphContext | None = None
        self._app: Any = None

    async def start(self) -> list[Condition]:
        """Open backends and agents, compile the graph; returns the conditions (strategy, model)."""
        from saboteur.graph.api import default_perceive_fn
        from saboteur.graph.wiring import open_agent_set

        spec = self.spec
        if self.custom_agent_fn is not None:
            agent_fn, conditions = self.custom_agent_fn, list(spec.conditions)
        else:
            agents = await open_agent_set(
                self._stack, spec.backends, strategies=spec.strategies, modalities=spec.modalities,
                joint=spec.joint, labels=self.labels, run=spec.run_path, capabilities=spec.capabilities,
            )  # fmt: skip
            agent_fn, conditions = agents.run, agents.conditions

        async def limited(task: AgentTask) -> Verdict:
            await self.limiter.acquire.remote(self.name)
            try:
                return await agent_fn(task)
            finally:
                await self.limiter.release.remote()

        self._context = GraphContext(
            modalities=spec.modalities,
            conditions=conditions,
            labels=self.labels,
            agent_fn=limited,
            perceive_fn=self.perceive_fn or default_perceive_fn(Path(spec.run_path) / "cache" / "perception"),
            writer=RelayWriter(),
            perception_slots=asyncio.Semaphore(max(1, spec.perception_workers)),
            joint=spec.joint,
        )
        self._context.on_verdict.append(self._on_verdict)
        self._app = build_graph(self._context).compile()
        return conditions

    def _on_verdict(self, verdict: Verdict, from_store: bool) -> None:
        relay(self._streams, verdict, from_store=from_store)

    async def run_clip(
        self, item: dict[str, Any], stored: Sequence[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream one clip: a message per verdict as it is made, then ``done`` with the clip's outcome.

        ``stored`` are the clip's verdicts the driver already has: the graph answers those agents from
        them and asks the model only for the rest.
        """
        context = self._context
        if context is None:
            raise RuntimeError("ClipWorker.start() was not called")
        clip_id = str(item["clip"]["clip_id"])
        stream: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._streams[clip_id] = stream
        known = [Verdict.model_validate(dump) for dump in stored]
        for verdict in known:
            context.stored[verdict.key] = verdict

        async def drive() -> dict[str, Any]:
            try:
                return dict(await self._app.ainvoke(item))
            finally:
                stream.put_nowait(None)

        task = asyncio.create_task(drive())
        try:
            while (message := await stream.get()) is not None:
                yield message
            state = await task  # re-raises a failure of the graph
            yield {"kind": "done", "outcome": state.get("outcome")}
        finally:
            self._streams.pop(clip_id, None)
            for key in [key for key in context.stored if key[0] == clip_id]:
                del context.stored[key]
            if not task.done():
                task.cancel()

    async def close(self) -> None:
        """Close the backends (HTTP clients)."""
        await self._stack.aclose()
