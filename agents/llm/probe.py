"""Capability probing: which structured-output mode, logprobs and tool calling a server really supports.

Servers that all speak "the OpenAI API" differ in what they accept: OpenAI and vLLM take
``response_format={"type": "json_schema"}``, llama.cpp rejects it (HTTP 500) but enforces a grammar for
``{"type": "json_object", "schema": ...}``, some servers only honour a forced function call, and some only
return text. Instead of a table of server names, each server is asked once with tiny requests (a handful
of tokens each), and the answer is stored in the response cache so that a re-run asks nothing.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from saboteur.agents.llm.backend import Backend, BackendError, ChatResponse, StructuredMode
from saboteur.agents.llm.cache import cache_key

_PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
    "required": ["colour"],
    "additionalProperties": False,
}
_PROBE_MESSAGES = [{"role": "user", "content": "Name one colour: red, green or blue. Reply in JSON."}]


class Capabilities(BaseModel):
    """What a server and model can do, as far as saboteur needs to know."""

    structured: StructuredMode
    """The best structured-output mode that produced schema-valid JSON."""
    logprobs: bool
    """True when the server returns per-token top log-probabilities."""
    auto_tools: bool
    """True when the model called a tool on its own with ``tool_choice="auto"``."""


def _valid(text: str | None) -> bool:
    try:
        value = json.loads(text or "")
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("colour") in ("red", "green", "blue")


async def _try(backend: Backend, params: dict[str, Any]) -> ChatResponse | None:
    try:
        return await backend.chat(_PROBE_MESSAGES, params=params, tag="probe", retry=False, use_cache=False)
    except BackendError:
        return None


async def probe_structured(backend: Backend) -> StructuredMode:
    """The first mode, best first, whose answer is valid JSON in the probe schema."""
    base: dict[str, Any] = {"temperature": 0, "max_tokens": 24}
    schema_format = {"type": "json_schema", "json_schema": {"name": "probe", "schema": _PROBE_SCHEMA}}
    response = await _try(backend, {**base, "response_format": schema_format})
    if response is not None and _valid(response.content):
        return "json_schema"
    response = await _try(
        backend, {**base, "response_format": {"type": "json_object", "schema": _PROBE_SCHEMA}}
    )
    if response is not None and _valid(response.content):
        return "json_object"
    tool = {"type": "function", "function": {"name": "answer", "parameters": _PROBE_SCHEMA}}
    forced = {"type": "function", "function": {"name": "answer"}}
    response = await _try(backend, {**base, "tools": [tool], "tool_choice": forced})
    if response is not None and response.tool_calls and _valid(response.tool_calls[0].arguments):
        return "tool"
    return "text"


async def probe_logprobs(backend: Backend) -> bool:
    """True when a one-token answer comes back with top log-probabilities."""
    response = await _try(backend, {"temperature": 0, "max_tokens": 1, "logprobs": True, "top_logprobs": 5})
    return response is not None and bool(response.top_logprobs) and bool(response.top_logprobs[0])


async def probe_auto_tools(backend: Backend) -> bool:
    """True when the model calls an obviously needed tool by itself (``tool_choice="auto"``)."""
    tool = {
        "type": "function",
        "function": {
            "name": "get_secret_number",
            "description": "Returns the secret number. Call it to learn the number.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    messages = [{"role": "user", "content": "What is the secret number? Use the get_secret_number tool."}]
    try:
        response = await backend.chat(
            messages,
            params={"temperature": 0, "max_tokens": 32, "tools": [tool], "tool_choice": "auto"},
            tag="probe",
            retry=False,
            use_cache=False,
        )
    except BackendError:
        return False
    return any(call.name == "get_secret_number" for call in response.tool_calls)


async def probe_capabilities(backend: Backend) -> Capabilities:
    """Ask the server (about six tiny calls) what it supports."""
    structured = backend.config.structured or await probe_structured(backend)
    return Capabilities(
        structured=structured,
        logprobs=await probe_logprobs(backend),
        auto_tools=await probe_auto_tools(backend),
    )


async def ensure_capabilities(backend: Backend) -> Capabilities:
    """The backend's capabilities: already known, else from the cache, else probed (and cached)."""
    if isinstance(backend.capabilities, Capabilities):
        return backend.capabilities
    key = cache_key(backend.server_id, await backend.model(), "capabilities", [], {})
    stored = backend.cache.get(key) if backend.cache is not None else None
    if stored is not None:
        capabilities = Capabilities.model_validate(stored)
        if backend.config.structured is not None:
            capabilities = capabilities.model_copy(update={"structured": backend.config.structured})
    else:
        capabilities = await probe_capabilities(backend)
        if backend.cache is not None:
            backend.cache.put(key, capabilities.model_dump())
    backend.capabilities = capabilities
    return capabilities
