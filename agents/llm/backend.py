"""One OpenAI-compatible chat backend: the client, retries, timeouts, a concurrency limit and the cache.

Every model call of saboteur goes through :meth:`Backend.chat`, whether the server is the embedded llama.cpp
server, a remote vLLM/Ollama/llama.cpp server or OpenAI itself; only the base URL and the model differ. The
client's own retries are switched off so that exactly one retry layer exists for transport faults: tenacity
retries 429, 5xx, timeouts, connection errors and unreadable bodies with exponential backoff and jitter, and
waits what a ``Retry-After`` header asks for instead when the server sends one. Faults in what the model
*said* (bad JSON, unknown labels) are the output layer's business (one repair round), not retried here.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import os
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from saboteur.agents.llm.cache import ResponseCache, cache_key
from saboteur.errors import SaboteurError

StructuredMode = Literal["json_schema", "json_object", "tool", "text"]
"""How a server is made to answer in the verdict schema, best first: OpenAI ``json_schema``; llama.cpp's
grammar-enforced ``json_object`` with a ``schema``; a forced function call; plain text parsed and repaired."""

NO_KEY = "not-needed"
"""API key sent to servers that need none (local servers); the ``openai`` client insists on one."""


class BackendConfig(BaseModel):
    """Where and how to reach a model. Never stored with its key (see :meth:`public`)."""

    base_url: str | None = None
    """OpenAI-compatible base URL (``http://host:port/v1``); None means the embedded llama.cpp server."""
    model: str | None = None
    """Model name; None asks the server (first entry of ``/v1/models``)."""
    api_key: str | None = None
    """API key; None sends a placeholder (local servers need none)."""
    timeout_s: float = 120.0
    """Per-attempt timeout of one call, in seconds."""
    max_attempts: int = Field(default=4, ge=1)
    """Attempts per call, the first included, for retryable faults."""
    backoff_initial_s: float = 0.5
    """First exponential backoff wait (doubles per attempt), before jitter."""
    backoff_max_s: float = 20.0
    """Longest backoff wait."""
    jitter_s: float = 0.5
    """Uniform random extra wait in [0, jitter_s] added to each backoff."""
    retry_after_cap_s: float = 60.0
    """Longest wait honoured from a ``Retry-After`` header (longer requests fail the call instead)."""
    concurrency: int = Field(default=4, ge=1)
    """Calls in flight at once on this backend."""
    structured: StructuredMode | None = None
    """Force a structured-output mode instead of probing the server."""
    server_id: str | None = None
    """Stable identity of the server for cache keys (defaults to the base URL)."""

    def public(self) -> dict[str, Any]:
        """The configuration without secrets, as stored in ``run.json``."""
        return self.model_dump(exclude={"api_key"})


def resolve_backend_config(
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> BackendConfig:
    """Combine options (first), a config mapping (an ``[llm]`` table) and ``OPENAI_*`` variables (last).

    ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and ``OPENAI_MODEL`` are read from ``environ`` (default
    ``os.environ``). With no base URL anywhere the embedded server is used, and a key is then ignored.
    """
    env = os.environ if environ is None else environ
    table = dict(config or {})
    settings: dict[str, Any] = {k: v for k, v in table.items() if k in BackendConfig.model_fields}
    chosen_url = base_url or table.get("base_url") or env.get("OPENAI_BASE_URL") or None
    settings["base_url"] = chosen_url.rstrip("/") if chosen_url else None
    settings["model"] = model or table.get("model") or env.get("OPENAI_MODEL") or None
    settings["api_key"] = api_key or table.get("api_key") or env.get("OPENAI_API_KEY") or None
    try:
        return BackendConfig.model_validate(settings)
    except ValueError as exc:
        raise SaboteurError(f"invalid LLM backend configuration: {exc}".splitlines()[0]) from None


class ToolCall(BaseModel):
    """A function call the model asked for."""

    id: str
    name: str
    arguments: str
    """Arguments as the JSON text the model wrote."""


class TopToken(BaseModel):
    """One candidate token at a position, with its log-probability."""

    token: str
    logprob: float


class ChatResponse(BaseModel):
    """What one chat call returned, reduced to what agents use (also the cached record)."""

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    top_logprobs: list[list[TopToken]] = Field(default_factory=list)
    """Per generated position, the server's top candidate tokens (empty when it returned none)."""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    """Seconds spent waiting for the server, retries included (0 for a cache hit)."""
    attempts: int = 0
    """HTTP attempts made (0 for a cache hit)."""
    cached: bool = False


class BackendError(Exception):
    """A call that failed after the retries it was allowed; the message says why in one line."""


def _status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def is_retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts, connection errors and unreadable response bodies are worth another attempt."""
    if isinstance(
        exc, openai.APITimeoutError | openai.APIConnectionError | openai.APIResponseValidationError
    ):
        return True
    if isinstance(exc, json.JSONDecodeError):  # a 200 whose body is not JSON
        return True
    status = _status(exc)
    return status is not None and (status == 429 or status >= 500)


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds a ``Retry-After`` (or ``retry-after-ms``) header of a failed response asks to wait."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


class _RetryAfterOrBackoff:
    """Tenacity wait: the server's Retry-After when given, else exponential backoff with jitter."""

    def __init__(self, config: BackendConfig) -> None:
        self._backoff = wait_exponential(
            multiplier=config.backoff_initial_s, max=config.backoff_max_s
        ) + wait_random(0, config.jitter_s)
        self._cap = config.retry_after_cap_s

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = retry_after_s(exc) if exc is not None else None
        if asked is not None:
            return min(asked, self._cap)
        return float(self._backoff(state))


def describe_error(exc: BaseException) -> str:
    """One line for an error verdict: what kind of fault, and the status when there was one."""
    status = _status(exc)
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc}"
    if status is not None:
        body = getattr(exc, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        text = str(message or getattr(exc, "message", exc)).strip() or "(no message)"
        return f"HTTP {status}: {text.splitlines()[0][:200]}"
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return "malformed response body (not JSON)"
    return f"{exc.__class__.__name__}: {exc}".splitlines()[0][:240]


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The TLS context every backend of the process shares (per ``SSL_CERT_FILE``/``SSL_CERT_DIR``).

    Loading the system's CA store costs ~30 ms; without sharing, every backend (every ``saboteur.run``
    call of a notebook) paid it again before its first request.
    """
    if cert_file or cert_dir:
        try:
            return ssl.create_default_context(cafile=cert_file, capath=cert_dir)
        except OSError as exc:  # a missing path, or a file with no certificate in it (ssl.SSLError)
            where = " and ".join(
                f"{name}={value}"
                for name, value in (("SSL_CERT_FILE", cert_file), ("SSL_CERT_DIR", cert_dir))
                if value
            )
            reason = exc.strerror or str(exc)
            raise SaboteurError(f"cannot load TLS certificates from {where}: {reason}") from None
    if sys.platform in ("win32", "darwin"):  # the system's trust store, as the HTTP client does there
        try:
            import truststore
        except ImportError:
            pass
        else:
            return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return ssl.create_default_context()


def shared_tls_context() -> ssl.SSLContext:
    """The process's shared TLS context for the current certificate settings."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class Backend:
    """An OpenAI-compatible server and model, with retries, a timeout, a concurrency limit and a cache."""

    def __init__(self, config: BackendConfig, *, cache: ResponseCache | None = None) -> None:
        if config.base_url is None:
            raise SaboteurError("a Backend needs a base URL (use open_backend() for the embedded server)")
        self.config = config
        self.cache = cache
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or NO_KEY,
            timeout=config.timeout_s,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(verify=shared_tls_context()),
        )
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._model: str | None = config.model
        self.capabilities: Any = None
        """Set by :func:`saboteur.agents.llm.probe.ensure_capabilities` (a ``Capabilities``)."""

    @property
    def server_id(self) -> str:
        """Identity of the server in cache keys: the configured id, else the base URL."""
        return self.config.server_id or str(self.config.base_url)

    async def model(self) -> str:
        """The model name: configured, else the first model the server lists (asked once)."""
        if self._model is None:
            try:
                listing = await self._client.models.list()
            except openai.OpenAIError as exc:
                raise BackendError(
                    f"cannot list models at {self.config.base_url}: {describe_error(exc)}"
                ) from exc
            names = [item.id for item in listing.data]
            if not names:
                raise BackendError(f"{self.config.base_url} lists no models; pass a model name")
            self._model = names[0]
        return self._model

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        params: Mapping[str, Any] | None = None,
        tag: str = "",
        retry: bool = True,
        use_cache: bool = True,
    ) -> ChatResponse:
        """One chat completion (cached by server, model, ``tag`` (the strategy), messages and params).

        ``params`` are the request's other fields (temperature, max_tokens, response_format, tools,
        logprobs, ...), sent as given. Raises :class:`BackendError` when the call fails for good.
        """
        model = await self.model()
        body = dict(params or {})
        key = cache_key(self.server_id, model, tag, messages, body)
        # cache files are read and written in worker threads: disk latency must not stall the event loop
        if use_cache and self.cache is not None:
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                response = ChatResponse.model_validate(hit)
                return response.model_copy(update={"cached": True, "latency_s": 0.0, "attempts": 0})
        # the request body is built once, outside the concurrency limit, and posted as it is: the client's
        # typed create() would re-walk the whole body (JSON schema included) against its TypedDicts on
        # every attempt, and parse the reply into models, costing ~2 ms of event-loop time per call that
        # delays every other call in flight; a slot is held only for the HTTP exchange itself
        request = {**body, "model": model, "messages": list(messages)}
        attempts = 0
        started = time.perf_counter()
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self.config.max_attempts if retry else 1),
            wait=_RetryAfterOrBackoff(self.config),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    async with self._semaphore:
                        content = await self._client.post("/chat/completions", cast_to=bytes, body=request)
                    raw = json.loads(content)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            suffix = f" after {attempts} attempts" if attempts > 1 else ""
            raise BackendError(describe_error(exc) + suffix) from exc
        if not isinstance(raw, dict):
            raise BackendError("malformed response body (not a JSON object)")
        response = _reduce(raw, latency=time.perf_counter() - started, attempts=attempts)
        if use_cache and self.cache is not None:
            record = response.model_dump(exclude={"cached", "latency_s", "attempts"})
            await asyncio.to_thread(self.cache.put, key, record)
        return response


def _reduce(raw: dict[str, Any], *, latency: float, attempts: int) -> ChatResponse:
    """Turn a chat completion (as a dict) into a :class:`ChatResponse`; tolerant of server variations."""
    choices = raw.get("choices") or []
    if not choices:
        raise BackendError("the server returned no choices")
    choice = choices[0] or {}
    message = choice.get("message") or {}
    calls = [
        ToolCall(
            id=str(call.get("id") or f"call_{index}"),
            name=str((call.get("function") or {}).get("name") or ""),
            arguments=str((call.get("function") or {}).get("arguments") or "{}"),
        )
        for index, call in enumerate(message.get("tool_calls") or [])
    ]
    usage = raw.get("usage") or {}
    return ChatResponse(
        content=message.get("content"),
        tool_calls=calls,
        top_logprobs=_top_logprobs(choice.get("logprobs")),
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency_s=latency,
        attempts=attempts,
    )


def _top_logprobs(logprobs: Any) -> list[list[TopToken]]:
    """Top tokens per position, from the chat form (``content``) or the completions form (dicts)."""
    if not isinstance(logprobs, dict):
        return []
    positions: list[list[TopToken]] = []
    content = logprobs.get("content")
    if isinstance(content, list):
        for item in content:
            top = item.get("top_logprobs") or [
                {"token": item.get("token", ""), "logprob": item.get("logprob")}
            ]
            positions.append(
                [
                    TopToken(token=str(t["token"]), logprob=float(t["logprob"]))
                    for t in top
                    if t.get("logprob") is not None
                ]
            )
        return positions
    top_dicts = logprobs.get("top_logprobs")
    if isinstance(top_dicts, list):
        for entry in top_dicts:
            if isinstance(entry, dict):
                positions.append([TopToken(token=str(k), logprob=float(v)) for k, v in entry.items()])
    return positions
