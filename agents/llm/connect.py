"""Opening a backend for a run: a given server by base URL, or the embedded one started for the occasion.

Both end up as the same :class:`Backend`; the embedded server only adds a child process whose lifetime is
the ``async with`` block, logging to ``RUN/logs/llm-server.log`` and caching under ``RUN/cache/llm``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from saboteur.agents.llm.backend import Backend, BackendConfig
from saboteur.agents.llm.cache import ResponseCache
from saboteur.agents.llm.server import EmbeddedServer


def run_cache(run: str | os.PathLike[str] | None) -> ResponseCache | None:
    """The response cache of a run directory (``RUN/cache/llm``), or None without a run."""
    return None if run is None else ResponseCache(Path(run) / "cache" / "llm")


@asynccontextmanager
async def open_backend(
    config: BackendConfig | None = None,
    *,
    run: str | os.PathLike[str] | None = None,
    server: EmbeddedServer | None = None,
) -> AsyncIterator[Backend]:
    """A ready backend for ``config``; with no base URL, an embedded server runs for the block's duration.

    ``server`` lets a caller pass an embedded server it manages itself (started or not; it is only
    stopped here when it was started here).
    """
    config = config or BackendConfig()
    cache = run_cache(run)
    started: EmbeddedServer | None = None
    if config.base_url is None:
        embedded = server or EmbeddedServer(log_path=Path(run) / "logs" / "llm-server.log" if run else None)
        if not embedded.running:
            await asyncio.to_thread(embedded.start)
            started = embedded
        config = config.model_copy(
            update={
                # llama-cpp-python's server answers one request at a time: queueing more only makes
                # waiting requests time out on a slow machine, so one in flight, with a generous timeout
                "concurrency": 1,
                "timeout_s": max(config.timeout_s, 600.0),
                "base_url": embedded.base_url,
                "model": config.model or embedded.alias,
                "server_id": config.server_id or embedded.server_id,
            }
        )
    backend = Backend(config, cache=cache)
    try:
        yield backend
    finally:
        await backend.close()
        if started is not None:
            await asyncio.to_thread(started.stop)
