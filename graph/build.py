"""The per-clip LangGraph: perception -> modality agents in parallel (Send fan-out) -> fusion -> outcome.

Retry layers, one per failure kind (never stacked):
- LLM transport faults (429, 5xx, timeouts, dropped connections): the backend's tenacity policy.
- A label outside the set: the agent's single repair round, then a stored error verdict.
- A perception failure: none; the evidence is marked unavailable with its reason and the agent sees that.
- A crash of the whole process: resume from the SQLite checkpoint; an agent call whose verdict is already
  in ``verdicts.jsonl`` is answered from the store and never repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from saboteur.eval.fusion import fuse
from saboteur.eval.table import VerdictTable
from saboteur.graph.manifest import PRECOMPUTED
from saboteur.graph.state import AgentFn, AgentTask, ClipState, PerceiveFn
from saboteur.injection import injection_flags
from saboteur.labels import LabelSet
from saboteur.rundir import VerdictWriter, resolve_duplicates
from saboteur.schemas import Clip, Evidence, Verdict

JOINT = "joint"
Condition = tuple[str, str]
"""(strategy, model)."""


def condition_models(conditions: Sequence[Condition]) -> list[str]:
    """The model names of ``conditions``, each once, in order."""
    return list(dict.fromkeys(model for _, model in conditions))


@dataclass
class GraphContext:
    """What the nodes share within one run (not part of the checkpointed state)."""

    modalities: Sequence[str]
    """Perceived modalities (one agent each)."""
    conditions: Sequence[Condition]
    labels: LabelSet
    agent_fn: AgentFn
    perceive_fn: PerceiveFn | None
    writer: VerdictWriter
    stored: dict[tuple[str, str, str, str], Verdict] = field(default_factory=dict)
    """Verdicts already in the store (resume: answered from here, never asked again)."""
    perception_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    on_verdict: list[Any] = field(default_factory=list)
    """Callbacks (verdict, from_store) for progress reporting."""
    joint: bool = False
    """Also run the joint agent, which sees every modality's evidence."""

    on_waiting: Callable[[str], None] | None = None
    """Called with a clip's id when the clip starts to wait on something slow (a model call or
    perception), so that the runner can start the next clip (see ``runner._until_waiting``)."""
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _unwritten: list[Verdict] = field(default_factory=list)
    _queued: int = 0
    """Verdicts handed to :meth:`record` so far, and (below) how many of them are durable."""
    _durable: int = 0

    @property
    def agents(self) -> list[str]:
        """Agent names in fusion order: the modality agents, then the joint agent."""
        return [*self.modalities, *([JOINT] if self.joint else [])]

    async def record(self, verdict: Verdict) -> None:
        """Append a new verdict to the store and return once it is durable (flush + fsync); remember it.

        Group commit: verdicts that arrive while a write is under way go out together in the next one,
        with one fsync, instead of each waiting for its own. The writes run in a worker thread so that
        a slow disk never stalls the event loop (and with it every LLM call in flight); the lock keeps
        lines whole and in order.
        """
        self._unwritten.append(verdict)
        self._queued += 1
        mine = self._queued
        async with self.write_lock:
            if self._durable < mine:  # not yet written by the batch of an earlier caller
                batch, self._unwritten = self._unwritten, []
                try:
                    await asyncio.to_thread(self.writer.write_all, batch)
                except BaseException:  # not durable: the next caller tries these again (or fails too)
                    self._unwritten = batch + self._unwritten
                    raise
                self._durable += len(batch)
        self.stored[verdict.key] = verdict
        for callback in self.on_verdict:
            callback(verdict, False)


def reusable_verdicts(
    verdicts: Sequence[Verdict], retry_errors: bool = False
) -> dict[tuple[str, str, str, str], Verdict]:
    """Stored verdicts a resumed run answers from instead of calling the model again.

    Error verdicts count as finished too (an answer that broke the schema at temperature 0 breaks it
    again), unless ``retry_errors``: then only valid verdicts are kept and failed calls are made again,
    their new verdicts winning over the old errors when the store is read.
    """
    return {v.key: v for v in verdicts if v.ok or not retry_errors}


def precomputed_evidence(clip: Clip, modality: str) -> Evidence | None:
    """Evidence from the manifest's text columns (the agent then skips its tools)."""
    column = PRECOMPUTED.get(modality)
    text = getattr(clip, column) if column else None
    if not text:
        return None
    return Evidence(modality=modality, text=text, features={"precomputed": True}, quality=1.0)


def build_graph(context: GraphContext) -> StateGraph[ClipState]:
    """The per-clip state graph (uncompiled; the runner compiles it with its checkpointer)."""

    async def perceive(state: ClipState) -> dict[str, Any]:
        clip = Clip.model_validate(state["clip"])
        evidence: dict[str, Any] = dict(state.get("evidence") or {})
        for modality in context.modalities:
            if modality in evidence:
                continue
            found = precomputed_evidence(clip, modality)
            if found is None:
                found = await _perceive_media(context, clip, state.get("media_path"), modality, state)
            evidence[modality] = found.model_dump(mode="json")
        return {"evidence": evidence}

    def fan_out(state: ClipState) -> list[Send] | str:
        clip = Clip.model_validate(state["clip"])
        sends = []
        for strategy, model in context.conditions:
            for modality in context.agents:
                seen = context.modalities if modality == JOINT else [modality]
                task = AgentTask(
                    clip=clip,
                    modality=modality,
                    strategy=strategy,
                    model=model,
                    evidence={m: Evidence.model_validate(state["evidence"][m]) for m in seen},
                )
                sends.append(Send("agent", task.model_dump(mode="json")))
        return sends or "fuse"

    async def agent(payload: dict[str, Any]) -> dict[str, Any]:
        task = AgentTask.model_validate(payload)
        key = (task.clip.clip_id, task.modality, task.strategy, task.model)
        existing = context.stored.get(key)
        if existing is not None:  # finished before a crash: never ask the model again
            for callback in context.on_verdict:
                callback(existing, True)
            return {"verdicts": [existing.model_dump(mode="json")]}
        if context.on_waiting is not None:
            context.on_waiting(task.clip.clip_id)
        verdict = await context.agent_fn(task)
        verdict.truth = verdict.truth or task.clip.label
        flags = injection_flags(evidence.text for evidence in task.evidence.values())
        if flags:  # media text is data, but a clip whose words read like instructions is flagged for audit
            verdict.extra["media_text_flags"] = flags
        await context.record(verdict)
        return {"verdicts": [verdict.model_dump(mode="json")]}

    def fuse_clip(state: ClipState) -> dict[str, Any]:
        verdicts, _ = resolve_duplicates([Verdict.model_validate(v) for v in state.get("verdicts") or []])
        outcome: dict[str, Any] = {}
        for strategy, model in context.conditions:
            chosen = [v for v in verdicts if v.strategy == strategy and v.model == model]
            if not chosen or not any(v.ok for v in chosen):
                outcome[f"{strategy}/{model}"] = {"fused": None, "correct": None}
                continue
            table = VerdictTable.from_verdicts(chosen, context.labels, agents=context.agents)
            fused = fuse(table, "confidence")
            top = int(fused.top1[0])
            label = context.labels.labels[top] if top >= 0 else None
            truth = int(table.truth[0])
            outcome[f"{strategy}/{model}"] = {
                "fused": label,
                "correct": None if truth < 0 else bool(top == truth),
            }
        return {"outcome": outcome}

    graph: StateGraph[ClipState] = StateGraph(ClipState)
    graph.add_node("perceive", perceive)
    graph.add_node("agent", cast(Any, agent))  # a Send target: its input is the task, not ClipState
    graph.add_node("fuse", fuse_clip)
    graph.add_edge(START, "perceive")
    graph.add_conditional_edges("perceive", fan_out, ["agent", "fuse"])
    graph.add_edge("agent", "fuse")
    graph.add_edge("fuse", END)
    return graph


async def _perceive_media(
    context: GraphContext, clip: Clip, media_path: str | None, modality: str, state: ClipState
) -> Evidence:
    problems = state.get("problems") or []
    if not media_path or context.perceive_fn is None:
        reason = "; ".join(problems) or (
            "no media and no precomputed text for this modality"
            if not media_path
            else "perception tools are not installed"
        )
        return Evidence(modality=modality, available=False, quality=0.0, reason=reason)
    if context.on_waiting is not None:
        context.on_waiting(clip.clip_id)
    async with context.perception_slots:
        try:
            return await asyncio.to_thread(context.perceive_fn, clip, media_path, modality)
        except Exception as exc:  # a tool bug must not sink the clip: the agent sees the reason
            return Evidence(
                modality=modality, available=False, quality=0.0, reason=f"perception failed: {exc}"
            )
