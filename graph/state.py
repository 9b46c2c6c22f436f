"""The per-clip graph state and the messages its nodes exchange.

State values are plain JSON-able dicts (model dumps) so that the SQLite checkpointer stores them
without custom serialisers; the pydantic records are rebuilt where they are used.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel

from saboteur.schemas import Clip, Evidence, Verdict


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later keys win (evidence per modality)."""
    return {**(left or {}), **(right or {})}


class ClipState(TypedDict, total=False):
    """What the graph knows about one clip as it moves through perception, agents and fusion."""

    clip: dict[str, Any]
    """The manifest row (Clip dump)."""
    media_path: str | None
    """Resolved media path, when the clip has media."""
    problems: list[str]
    """Manifest problems the agents should see."""
    evidence: Annotated[dict[str, Any], merge_dicts]
    """Modality -> Evidence dump."""
    verdicts: Annotated[list[dict[str, Any]], operator.add]
    """Verdict dumps, one per finished agent call (the fan-in reducer)."""
    outcome: dict[str, Any]
    """Per-clip fusion and evaluation, per (strategy, model)."""


class AgentTask(BaseModel):
    """One agent call the graph fans out: a modality's agent under one strategy and model."""

    clip: Clip
    modality: str
    strategy: str
    model: str
    evidence: dict[str, Evidence]
    """The agent's own modality's evidence (the joint agent gets every modality's)."""


AgentFn = Callable[[AgentTask], Awaitable[Verdict]]
"""Runs one agent call and returns its verdict (an error verdict on failure, never an exception)."""

PerceiveFn = Callable[[Clip, str | None, str], Evidence]
"""(clip, media path, modality) -> Evidence; blocking, run in the perception worker pool."""
