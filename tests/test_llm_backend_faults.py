"""Retries, timeouts, concurrency and probing against a real misbehaving HTTP server on 127.0.0.1.

Each test counts the requests the server actually received, so the exact retry behaviour is checked:
how many attempts, how long between them, and which faults are not retried at all.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from fault_server import FaultServer

from saboteur.agents.llm.backend import Backend, BackendConfig, BackendError, resolve_backend_config
from saboteur.agents.llm.probe import probe_capabilities

HELLO = [{"role": "user", "content": "hello"}]


def backend(server: FaultServer, **overrides: Any) -> Backend:
    settings: dict[str, Any] = {
        "base_url": server.base_url,
        "model": "fault-model",
        "timeout_s": 5.0,
        "max_attempts": 3,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 5.0,
        "jitter_s": 0.02,
    }
    settings.update(overrides)
    return Backend(BackendConfig(**settings))


def gaps(server: FaultServer) -> list[float]:
    times = [record.at for record in server.chat_requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_429_with_retry_after_waits_what_the_server_asks() -> None:
    with FaultServer(steps=[{"status": 429, "retry_after": "1"}], default={"content": "fine"}) as server:
        response = asyncio.run(backend(server).chat(HELLO))
    assert response.content == "fine"
    assert response.attempts == 2
    assert len(server.chat_requests) == 2
    # Retry-After: 1 overrides the 0.2 s backoff
    assert 0.98 <= gaps(server)[0] < 1.6


def test_429_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    steps = [{"status": 429}, {"status": 429}]
    with FaultServer(steps=steps, default={"content": "fine"}) as server:
        response = asyncio.run(backend(server, backoff_initial_s=0.5).chat(HELLO))
    assert response.attempts == 3 and len(server.chat_requests) == 3
    first, second = gaps(server)
    assert 0.5 <= first < 1.0  # initial 0.5 s + jitter <= 0.02 s (+ request time), below the doubled wait
    assert 1.0 <= second < 2.0  # doubled


def test_persistent_500_gives_up_after_max_attempts() -> None:
    with (
        FaultServer(default={"status": 500}) as server,
        pytest.raises(BackendError, match=r"HTTP 500: scripted 500 after 3 attempts"),
    ):
        asyncio.run(backend(server).chat(HELLO))
    assert len(server.chat_requests) == 3


def test_client_errors_are_not_retried() -> None:
    with FaultServer(default={"status": 400}) as server, pytest.raises(BackendError, match="HTTP 400"):
        asyncio.run(backend(server).chat(HELLO))
    assert len(server.chat_requests) == 1


def test_timeouts_are_retried_then_reported() -> None:
    with FaultServer(default={"delay": 1.5, "content": "late"}) as server:
        with pytest.raises(BackendError, match="timed out after 2 attempts"):
            asyncio.run(backend(server, timeout_s=0.3, max_attempts=2).chat(HELLO))
        assert len(server.chat_requests) == 2


def test_malformed_body_is_retried_like_a_server_fault() -> None:
    with FaultServer(steps=[{"body": '{"choices": [tru'}], default={"content": "fine"}) as server:
        response = asyncio.run(backend(server).chat(HELLO))
    assert response.content == "fine"
    assert len(server.chat_requests) == 2


def test_connection_refused_is_retried_then_reported() -> None:
    with FaultServer() as server:
        url = server.base_url
    # the server is gone: every attempt is refused
    config = BackendConfig(base_url=url, model="m", max_attempts=2, backoff_initial_s=0.05, jitter_s=0.0)
    with pytest.raises(BackendError, match=r"connection error.*after 2 attempts"):
        asyncio.run(Backend(config).chat(HELLO))


def test_concurrency_limit_holds_per_backend() -> None:
    async def many(client: Backend) -> None:
        await asyncio.gather(*(client.chat([{"role": "user", "content": str(i)}]) for i in range(6)))

    with FaultServer(default={"delay": 0.25, "content": "ok"}) as server:
        asyncio.run(many(backend(server, concurrency=2)))
    assert len(server.chat_requests) == 6
    assert server.max_in_flight == 2


def test_model_is_asked_from_the_server_when_not_given() -> None:
    with FaultServer(model="served-model", default={"content": "ok"}) as server:
        client = backend(server, model=None)
        asyncio.run(client.chat(HELLO))
        assert asyncio.run(client.model()) == "served-model"
        assert server.chat_requests[0].body is not None
        assert server.chat_requests[0].body["model"] == "served-model"


def test_probe_finds_grammar_json_object_when_json_schema_is_rejected() -> None:
    answer = {"content": json.dumps({"colour": "red"}), "logprobs": [("red", 0.9), ("blue", 0.1)]}
    with FaultServer(default=answer, reject_json_schema=True) as server:
        capabilities = asyncio.run(probe_capabilities(backend(server)))
        kinds = [(r.body or {}).get("response_format", {}).get("type") for r in server.chat_requests]
    assert capabilities.structured == "json_object"
    assert capabilities.logprobs is True
    assert capabilities.auto_tools is False  # the scripted model never calls the tool
    # probes are not retried: the rejected json_schema probe was sent exactly once
    assert kinds.count("json_schema") == 1


def test_probe_falls_back_to_forced_tool_then_text() -> None:
    tool_answer = {"content": None, "tool_calls": [("answer", {"colour": "green"})]}
    with FaultServer(default=tool_answer, reject_response_format=True) as server:
        assert asyncio.run(probe_capabilities(backend(server))).structured == "tool"
    with FaultServer(default={"content": "green, I think"}, reject_response_format=True) as server:
        capabilities = asyncio.run(probe_capabilities(backend(server)))
    assert capabilities.structured == "text"
    assert capabilities.logprobs is False


def test_config_precedence_options_then_config_then_environment() -> None:
    env = {"OPENAI_BASE_URL": "http://env:1/v1/", "OPENAI_API_KEY": "env-key", "OPENAI_MODEL": "env-model"}
    from_env = resolve_backend_config(environ=env)
    assert (from_env.base_url, from_env.model, from_env.api_key) == (
        "http://env:1/v1",
        "env-model",
        "env-key",
    )
    table = {"base_url": "http://cfg:2/v1", "model": "cfg-model", "timeout_s": 9}
    from_cfg = resolve_backend_config(config=table, environ=env)
    assert (from_cfg.base_url, from_cfg.model, from_cfg.timeout_s) == ("http://cfg:2/v1", "cfg-model", 9)
    chosen = resolve_backend_config(base_url="http://opt:3/v1", model="opt", config=table, environ=env)
    assert (chosen.base_url, chosen.model, chosen.api_key) == ("http://opt:3/v1", "opt", "env-key")
    assert "api_key" not in chosen.public()
    assert resolve_backend_config(environ={}).base_url is None  # nothing configured: the embedded server
