"""``saboteur.run``: a manifest through the agent graph into a run directory (``saboteur run``).

Wires the real parts together: the LLM backend (a user's OpenAI-compatible server by base URL, or the
embedded llama.cpp server started here and stopped at the end), the modality agents for each prompting
strategy and model, the perception tools, and the runner. Re-running the same call on the same run
directory resumes it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from saboteur import __version__
from saboteur.errors import SaboteurError
from saboteur.graph.build import JOINT
from saboteur.graph.manifest import ManifestReader
from saboteur.graph.runner import ProgressFn, RunSummary, install_interrupt, run_manifest
from saboteur.graph.state import AgentFn, PerceiveFn
from saboteur.labels import LabelSet, get_label_set, make_label_set
from saboteur.rundir import RunDir
from saboteur.schemas import Clip, Evidence, RunConfig

MODALITIES = ("transcript", "audio", "frames")


def public_url(url: str | None) -> str | None:
    """A base URL without credentials or query (safe to store in run.json and logs)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_modalities(modalities: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(m.strip() for m in modalities if m.strip()))
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown or not chosen:
        raise SaboteurError(
            f"unknown modality {unknown[0] if unknown else '(none)'!r}: use {', '.join(MODALITIES)}"
        )
    return chosen


def _prepare_run(
    out: Path, labels: LabelSet, agents: list[str], strategies: list[str], base_url: str | None
) -> RunDir:
    run = RunDir(out)
    if run.config_path.is_file():
        config = run.read_config()
        if config.labels != labels.labels:
            raise SaboteurError(
                f"{out} was started with labels {','.join(config.labels)}; use another --out for other labels"
            )
        config.modalities = list(dict.fromkeys([*config.modalities, *agents]))
        config.strategies = list(dict.fromkeys([*config.strategies, *strategies]))
        config.status = "running"
        run.write_config(config)
        return run
    run.create(
        RunConfig(
            label_set=labels.name,
            labels=labels.labels,
            modalities=agents,
            strategies=strategies,
            base_url=public_url(base_url) or "embedded",
            source="saboteur",
            versions={"saboteur": __version__},
            status="running",
        )
    )
    return run


def default_perceive_fn(cache_dir: Path) -> PerceiveFn:
    """The perception tools, caching into ``cache_dir``.

    They are imported on the first clip that needs them (a study over precomputed text never loads
    torch or Whisper); without the perception extra the evidence says which package to install.
    """

    def perceive(clip: Clip, media: str | None, modality: str) -> Evidence:
        try:
            from saboteur.agents.perception.tools import PerceptionConfig, perceive_modality
        except ImportError as exc:
            reason = f"perception tools not installed ({exc.name}): pip install 'saboteur[perception]'"
            return Evidence(modality=modality, available=False, quality=0.0, reason=reason)
        config = PerceptionConfig(cache_dir=str(cache_dir))
        evidence: Evidence = perceive_modality(Path(media) if media else None, modality, config)
        return evidence

    return perceive


async def _run_async(
    manifest: ManifestReader,
    run: RunDir,
    *,
    labels: LabelSet,
    modalities: list[str],
    strategies: list[str],
    models: list[str | None],
    base_url: str | None,
    api_key: str | None,
    concurrency: int,
    joint: bool,
    perceive_fn: PerceiveFn | None,
    progress: ProgressFn | None,
    stop: asyncio.Event,
    retry_errors: bool = False,
    backend_options: Mapping[str, Any] | None = None,
) -> RunSummary:
    from saboteur.agents.llm.backend import resolve_backend_config
    from saboteur.agents.llm.server import EmbeddedServer
    from saboteur.graph.wiring import backend_configs, open_agent_set

    async with AsyncExitStack() as stack:
        # one embedded server (when no base URL is configured anywhere) shared by every model and agent
        needs_server = resolve_backend_config(base_url=base_url, api_key=api_key).base_url is None
        server = EmbeddedServer(log_path=run.subdir("logs") / "llm-server.log") if needs_server else None
        configs = backend_configs(models, base_url, api_key, concurrency, backend_options)
        agent_set = await open_agent_set(
            stack, configs, strategies=strategies, modalities=modalities, joint=joint, labels=labels,
            run=run.path, server=server,
        )  # fmt: skip
        return await run_manifest(
            run,
            manifest,
            labels=labels,
            modalities=modalities,
            conditions=agent_set.conditions,
            agent_fn=agent_set.run,
            perceive_fn=perceive_fn,
            concurrency=concurrency,
            perception_workers=max(1, (os.cpu_count() or 2) // 2),
            joint=joint,
            retry_errors=retry_errors,
            limit_agents=False,
            progress=progress,
            stop=stop,
        )


def run(
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    labels: str = "meld",
    modalities: Sequence[str] = MODALITIES,
    strategies: Sequence[str] = ("zero_shot",),
    models: Sequence[str] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    joint: bool = False,
    executor: str = "local",
    perceive_fn: PerceiveFn | None = None,
    progress: ProgressFn | None = None,
    agent_fn: AgentFn | None = None,
    ray_address: str | None = None,
    ray_workers: int | None = None,
    retry_errors: bool = False,
    backend_options: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Run the agent graph over a manifest; re-running on the same ``out`` resumes (see module doc).

    ``agent_fn`` replaces the LLM agents with any async function AgentTask -> Verdict (other agent
    implementations, or a study of the graph itself). ``retry_errors`` calls the model again for agent
    calls whose stored verdict is an error (by default nothing finished is repeated, failures included).
    ``backend_options`` sets further backend fields: ``timeout_s`` (per attempt), ``max_attempts``,
    ``backoff_initial_s``, ``backoff_max_s``, ``retry_after_cap_s``.
    ``executor="ray"`` runs the clips on the Ray cluster at ``ray_address`` (default: ``RAY_ADDRESS``,
    else a local one) with ``ray_workers`` workers (default: one per 2 CPUs); see
    :mod:`saboteur.graph.ray_executor`.
    """
    if executor not in ("local", "ray"):
        raise SaboteurError(f"unknown executor {executor!r}: use local or ray")
    if executor == "ray":
        from saboteur.graph.ray_executor import import_ray

        import_ray()  # fail with the install hint before anything is written
    if concurrency < 1:
        raise SaboteurError("--concurrency must be at least 1")
    label_set = get_label_set(labels) if "," not in labels else make_label_set(labels.split(","))
    chosen = _check_modalities(modalities)
    reader = ManifestReader(manifest)
    agent_names = [*chosen, *([JOINT] if joint else [])]
    run_dir = _prepare_run(Path(out), label_set, agent_names, list(strategies), base_url)
    perceive = perceive_fn or default_perceive_fn(run_dir.path / "cache" / "perception")

    async def main() -> RunSummary:
        stop = asyncio.Event()
        undo = install_interrupt(stop)
        try:
            if executor == "ray":
                from saboteur.graph.ray_executor import run_manifest_ray

                return await run_manifest_ray(
                    run_dir, reader, labels=label_set, modalities=chosen, strategies=list(strategies),
                    models=list(models) if models else [None], base_url=base_url, api_key=api_key,
                    concurrency=concurrency, joint=joint, perceive_fn=perceive_fn, agent_fn=agent_fn,
                    workers=ray_workers, ray_address=ray_address, backend_options=backend_options,
                    retry_errors=retry_errors,
                    progress=progress, stop=stop,
                )  # fmt: skip
            if agent_fn is not None:
                return await run_manifest(
                    run_dir, reader, labels=label_set, modalities=chosen,
                    conditions=[(s, m) for s in strategies for m in (models or ["custom"])],
                    agent_fn=agent_fn, perceive_fn=perceive, concurrency=concurrency, joint=joint,
                    retry_errors=retry_errors, progress=progress, stop=stop,
                )  # fmt: skip
            return await _run_async(
                reader, run_dir, labels=label_set, modalities=chosen, strategies=list(strategies),
                models=list(models) if models else [None], base_url=base_url, api_key=api_key,
                concurrency=concurrency, joint=joint, perceive_fn=perceive, progress=progress, stop=stop,
                retry_errors=retry_errors, backend_options=backend_options,
            )  # fmt: skip
        finally:
            undo()

    try:
        summary = asyncio.run(main())
    except BaseException:
        run_dir.update_status("interrupted")
        raise
    config = run_dir.read_config()
    config.status = summary.status
    config.models = list(dict.fromkeys([*config.models, *summary.models]))
    config.notes["last_call"] = summary.model_dump(mode="json", exclude={"manifest_issues"})
    run_dir.write_config(config)
    return summary


def describe(summary: RunSummary) -> dict[str, Any]:
    """The JSON object ``saboteur run --json`` prints."""
    return summary.model_dump(mode="json")
