"""The LLM agents of a run, built one way for every executor (in-process, or once per Ray worker).

One :class:`~saboteur.agents.agent.Agent` per (strategy, model, agent name), each model behind one
:class:`~saboteur.agents.llm.backend.Backend` shared by its agents. The local executor and every Ray
worker call :func:`open_agent_set`, so there is a single implementation of how an agent task becomes a
verdict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from saboteur.agents.llm.backend import BackendConfig, resolve_backend_config
from saboteur.graph.build import JOINT, Condition
from saboteur.graph.state import AgentTask
from saboteur.labels import LabelSet
from saboteur.schemas import Evidence, Verdict

if TYPE_CHECKING:
    from saboteur.agents.agent import Agent
    from saboteur.agents.llm.probe import Capabilities
    from saboteur.agents.llm.server import EmbeddedServer


def backend_configs(
    models: Sequence[str | None],
    base_url: str | None,
    api_key: str | None,
    concurrency: int,
    options: Mapping[str, Any] | None = None,
) -> list[BackendConfig]:
    """One backend configuration per model (options first, then ``OPENAI_*``; no URL = embedded).

    ``options`` are further BackendConfig fields (``timeout_s``, ``max_attempts``, backoff settings).
    """
    configs = []
    for model in models:
        config = resolve_backend_config(base_url=base_url, model=model, api_key=api_key, config=options)
        config.concurrency = concurrency
        configs.append(config)
    return configs


@dataclass
class AgentSet:
    """The agents of a run and the conditions (strategy, model name) they answer under."""

    agents: dict[tuple[str, str, str], Agent] = field(default_factory=dict)
    """(strategy, model name, agent name) -> agent."""
    conditions: list[Condition] = field(default_factory=list)

    async def run(self, task: AgentTask) -> Verdict:
        """The graph's ``AgentFn``: the task's agent on the task's evidence."""
        agent = self.agents[(task.strategy, task.model, task.modality)]
        evidence: Evidence | dict[str, Evidence] = (
            task.evidence if task.modality == JOINT else task.evidence[task.modality]
        )
        return await agent.run(task.clip.clip_id, evidence, task.clip.label)


async def open_agent_set(
    stack: AsyncExitStack,
    configs: Sequence[BackendConfig],
    *,
    strategies: Sequence[str],
    modalities: Sequence[str],
    joint: bool,
    labels: LabelSet,
    run: str | os.PathLike[str] | None,
    server: EmbeddedServer | None = None,
    capabilities: Sequence[Capabilities | None] = (),
) -> AgentSet:
    """Open one backend per config (closed with ``stack``) and make the agents on top of them.

    ``capabilities`` (one per config, when known) spares each backend its server probe: a Ray driver
    probes once and hands the answer to every worker.
    """
    from saboteur.agents.agent import Agent
    from saboteur.agents.llm.connect import open_backend
    from saboteur.agents.strategies import get_strategy

    loaded = {name: get_strategy(name) for name in strategies}
    known = list(capabilities)
    result = AgentSet()
    for index, config in enumerate(configs):
        backend = await stack.enter_async_context(open_backend(config, run=run, server=server))
        if index < len(known) and known[index] is not None:
            backend.capabilities = known[index]
        model_name = await backend.model()
        for name, strategy in loaded.items():
            result.conditions.append((name, model_name))
            for modality in [*modalities, *([JOINT] if joint else [])]:
                result.agents[(name, model_name, modality)] = Agent(modality, backend, strategy, labels)
    return result
