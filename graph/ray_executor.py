"""``--executor ray``: the clips of a manifest spread over a Ray cluster, with the science unchanged.

The driver (this process) streams the manifest, probes each LLM server once, and starts a pool of
:class:`~saboteur.graph.ray_worker.ClipWorker` actors (spread over the nodes) plus one
:class:`~saboteur.graph.ray_worker.LlmLimiter` actor that caps LLM calls in flight across the cluster.
Each clip goes to the least busy worker together with the verdicts of that clip already in the store;
the worker runs the same per-clip graph as the local executor and streams each verdict back as it is
made. Only the driver appends to ``verdicts.jsonl``, through the same :meth:`GraphContext.record` (flush
+ fsync before a verdict counts as stored), so resuming works as with the local executor: finished agent
calls are never sent again, clips whose every call is stored are not sent at all.

Ray is an optional extra (``pip install 'saboteur[ray]'``), imported only here and only when used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any

from pydantic import Field

from saboteur.errors import SaboteurError
from saboteur.graph.build import GraphContext, condition_models, reusable_verdicts
from saboteur.graph.manifest import ManifestClip, ManifestReader
from saboteur.graph.ray_worker import ClipWorker, LimiterStats, LlmLimiter, WorkerSpec
from saboteur.graph.runner import ProgressFn, RunSummary, initial_state, verdict_counter
from saboteur.graph.state import AgentFn, AgentTask, PerceiveFn
from saboteur.labels import LabelSet
from saboteur.rundir import RunDir
from saboteur.schemas import Verdict

RAY_HINT = "--executor ray needs Ray: pip install 'saboteur[ray]'"
START_TIMEOUT_S = 300.0
"""How long the workers may take to be placed and to load their agents."""


class RayRunSummary(RunSummary):
    """A run on Ray: the local summary plus what the cluster did."""

    workers: int = 0
    """Clip workers (Ray actors) used."""
    startup_s: float = 0.0
    """Seconds before the first clip could go out: joining Ray, probing the LLM, starting the workers."""
    llm_limit: int = 0
    """The cluster-wide limit on LLM calls in flight (``--concurrency``)."""
    llm_peak_in_flight: int = 0
    """Most LLM calls in flight at once across the cluster, as counted by the limiter."""
    llm_peak_waiting: int = 0
    """Most calls that waited for a slot at once."""
    llm_calls_per_worker: dict[str, int] = Field(default_factory=dict)
    """Limiter slots granted to each worker."""


def import_ray() -> Any:
    """The ``ray`` module, or one clear line naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise SaboteurError(RAY_HINT) from None
    return ray


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local one. True if we did."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise SaboteurError(f"cannot join the Ray cluster at {address}: {exc}".splitlines()[0]) from None
    return True


def _pool_shape(ray: Any, workers: int | None) -> tuple[int, int]:
    """(workers, CPUs each): default one worker per 2 CPUs; a worker never needs more than a node has."""
    total = max(1, int(ray.cluster_resources().get("CPU", 1)))
    biggest = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=1)
    count = workers if workers is not None else max(1, total // 2)
    if count < 1:
        raise SaboteurError("--ray-workers must be at least 1")
    if count > total:
        raise SaboteurError(
            f"--ray-workers {count} is more than the cluster's {total} CPUs (one each at least)"
        )
    return count, max(1, min(total // count, biggest))


async def _probe(
    stack: AsyncExitStack, run: RunDir, models: Sequence[str | None], base_url: str | None,
    api_key: str | None, concurrency: int, nodes: int, backend_options: Mapping[str, Any] | None = None,
) -> WorkerSpec:  # fmt: skip
    """Resolve every backend once on the driver (starting the embedded server if no URL is set)."""
    from saboteur.agents.llm.backend import BackendError, resolve_backend_config
    from saboteur.agents.llm.connect import open_backend
    from saboteur.agents.llm.probe import ensure_capabilities
    from saboteur.agents.llm.server import EmbeddedServer
    from saboteur.graph.wiring import backend_configs

    needs_server = resolve_backend_config(base_url=base_url, api_key=api_key).base_url is None
    if needs_server and nodes > 1:
        raise SaboteurError(
            f"the embedded LLM serves this machine only, and the Ray cluster has {nodes} nodes: "
            "pass --base-url (an OpenAI-compatible server every node can reach)"
        )
    server = EmbeddedServer(log_path=run.subdir("logs") / "llm-server.log") if needs_server else None
    spec = WorkerSpec(run_path=str(run.path.resolve()), modalities=[], strategies=[])
    for config in backend_configs(models, base_url, api_key, concurrency, backend_options):
        backend = await stack.enter_async_context(open_backend(config, run=run.path, server=server))
        try:
            model = await backend.model()
        except BackendError as exc:
            raise SaboteurError(f"LLM server: {exc}") from None
        spec.backends.append(backend.config.model_copy(update={"model": model}))
        spec.capabilities.append(await ensure_capabilities(backend))
    return spec


async def run_manifest_ray(
    run: RunDir,
    manifest: ManifestReader,
    *,
    labels: LabelSet,
    modalities: Sequence[str],
    strategies: Sequence[str],
    models: Sequence[str | None] = (None,),
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    joint: bool = False,
    perceive_fn: PerceiveFn | None = None,
    agent_fn: AgentFn | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    retry_errors: bool = False,
    backend_options: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    stop: asyncio.Event | None = None,
) -> RayRunSummary:
    """Run every clip of ``manifest`` on Ray workers; the driver alone appends verdicts to ``run``.

    ``agent_fn`` (with ``models`` naming its conditions) replaces the LLM agents, as in the local
    executor; it and ``perceive_fn`` are pickled to the workers. Without ``perceive_fn`` each worker
    loads the perception tools itself, caching into ``RUN/cache/perception`` like the local executor.
    ``retry_errors`` sends agent calls whose stored verdict is an error again (see ``run_manifest``).
    """
    began = time.perf_counter()
    ray = import_ray()
    started_ray = connect(ray, ray_address)
    try:
        async with AsyncExitStack() as stack:
            if agent_fn is None:
                nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
                spec = await _probe(
                    stack, run, models, base_url, api_key, concurrency, nodes, backend_options
                )
            else:
                spec = WorkerSpec(run_path=str(run.path.resolve()), modalities=[], strategies=[])
                spec.conditions = [(s, m or "custom") for s in strategies for m in models]
            count, cpus = _pool_shape(ray, workers)
            spec = spec.model_copy(
                update={
                    "modalities": list(modalities),
                    "strategies": list(strategies),
                    "joint": joint,
                    "perception_workers": cpus,
                }
            )
            slots = max(2 * count, concurrency)
            limiter = ray.remote(LlmLimiter).options(num_cpus=0, max_concurrency=10_000).remote(concurrency)
            actor = ray.remote(ClipWorker).options(
                num_cpus=cpus, max_concurrency=slots + 4, scheduling_strategy="SPREAD"
            )
            pool = [
                actor.remote(f"worker-{i}", spec, labels, limiter, perceive_fn, agent_fn)
                for i in range(count)
            ]
            try:
                starting = asyncio.gather(*[worker.start.remote() for worker in pool])
                try:
                    conditions = (await asyncio.wait_for(starting, START_TIMEOUT_S))[0]
                except TimeoutError:
                    raise SaboteurError(
                        f"{count} Ray workers of {cpus} CPUs each did not start in {START_TIMEOUT_S:.0f} s "
                        "(no node with enough free CPUs?): try fewer --ray-workers"
                    ) from None
                startup = time.perf_counter() - began
                summary = await _drive(
                    run, manifest, pool, labels=labels, modalities=modalities, joint=joint,
                    conditions=conditions, slots=slots, retry_errors=retry_errors, progress=progress,
                    stop=stop or asyncio.Event(),
                )  # fmt: skip
                stats = LimiterStats.model_validate(await limiter.stats.remote())
                await asyncio.gather(*[worker.close.remote() for worker in pool])
            finally:
                for handle in [*pool, limiter]:
                    ray.kill(handle)
    finally:
        if started_ray:
            ray.shutdown()
    summary.wall_s = time.perf_counter() - began  # all of it: joining Ray, probing, starting workers
    summary.startup_s = startup
    summary.workers = count
    summary.llm_limit = stats.limit
    summary.llm_peak_in_flight = stats.peak_in_flight
    summary.llm_peak_waiting = stats.peak_waiting
    summary.llm_calls_per_worker = stats.granted
    return summary


async def _no_agents_on_the_driver(task: AgentTask) -> Verdict:
    raise RuntimeError("the Ray driver runs no agents")


async def _drive(
    run: RunDir,
    manifest: ManifestReader,
    pool: list[Any],
    *,
    labels: LabelSet,
    modalities: Sequence[str],
    joint: bool,
    conditions: list[tuple[str, str]],
    slots: int,
    retry_errors: bool,
    progress: ProgressFn | None,
    stop: asyncio.Event,
) -> RayRunSummary:
    """Feed clips to the least busy worker and store the verdicts they stream back."""
    summary = RayRunSummary(models=condition_models(conditions))
    loaded = run.load()
    busy = [0] * len(pool)
    free = asyncio.Semaphore(slots)
    with run.open_writer() as writer:
        context = GraphContext(
            modalities=list(modalities),
            conditions=conditions,
            labels=labels,
            agent_fn=_no_agents_on_the_driver,
            perceive_fn=None,
            writer=writer,
            stored=reusable_verdicts(loaded.verdicts, retry_errors),
            joint=joint,
        )

        context.on_verdict.append(verdict_counter(summary, progress))

        async def one_clip(index: int, item: ManifestClip, stored: list[dict[str, Any]]) -> None:
            try:
                async for ref in pool[index].run_clip.remote(initial_state(item), stored):
                    message = await ref
                    if message["kind"] != "verdict":
                        continue
                    verdict = Verdict.model_validate(message["verdict"])
                    if message["from_store"]:
                        for callback in context.on_verdict:
                            callback(verdict, True)
                    else:
                        await context.record(verdict)
                summary.clips_done += 1
                if progress:
                    progress("clip", summary)
            finally:
                busy[index] -= 1
                free.release()

        tasks: set[asyncio.Task[None]] = set()
        for item in manifest:
            summary.clips += 1
            clip_id = item.clip.clip_id
            wanted = [(clip_id, a, s, m) for s, m in conditions for a in context.agents]
            stored = [context.stored[key].model_dump(mode="json") for key in wanted if key in context.stored]
            if len(stored) == len(wanted):  # finished in an earlier call: nothing to send
                summary.clips_done += 1
                continue
            await free.acquire()
            if stop.is_set():
                free.release()
                break
            index = min(range(len(pool)), key=busy.__getitem__)
            busy[index] += 1
            task = asyncio.create_task(one_clip(index, item, stored))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    summary.status = "interrupted" if stop.is_set() else "complete"
    summary.manifest_issues = manifest.issues
    summary.unknown_columns = sorted(manifest.unknown_columns)
    return summary
