"""The LLM side of an agent: OpenAI-compatible backend, embedded llama.cpp server, output validation."""

from saboteur.agents.llm.backend import (
    Backend,
    BackendConfig,
    BackendError,
    ChatResponse,
    resolve_backend_config,
)
from saboteur.agents.llm.cache import ResponseCache
from saboteur.agents.llm.connect import open_backend, run_cache
from saboteur.agents.llm.probe import Capabilities, ensure_capabilities
from saboteur.agents.llm.server import EMBEDDED_ALIAS, EmbeddedServer, find_embedded_model

__all__ = [
    "EMBEDDED_ALIAS",
    "Backend",
    "BackendConfig",
    "BackendError",
    "Capabilities",
    "ChatResponse",
    "EmbeddedServer",
    "ResponseCache",
    "ensure_capabilities",
    "find_embedded_model",
    "open_backend",
    "resolve_backend_config",
    "run_cache",
]
