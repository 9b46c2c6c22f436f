"""A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose, for the LLM tests.

Each chat request takes the next scripted step (the last one, or ``default``, repeats): an HTTP error
(``status``, optional ``retry_after``), a ``delay`` before answering (timeouts), a raw ``body`` (malformed
JSON), ``drop`` (the connection closes halfway through the body), ``empty_choices``, or a completion with
``content``, ``tool_calls``, ``finish_reason`` and/or ``logprobs`` (a list of ``(token, p)`` candidates
for the first position). Every request is recorded (arrival time, parsed
body), and the largest number of requests in flight at once is tracked, so tests can check exact retry
and concurrency behaviour.
Optional rules mimic servers' capabilities: ``reject_json_schema`` answers 500 to OpenAI's
``json_schema`` response format (as llama.cpp does), ``reject_response_format`` answers 400 to any.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Record:
    """One request the server received."""

    at: float
    path: str
    body: dict[str, Any] | None


@dataclass
class FaultServer:
    """Scripted misbehaving server; use as a context manager."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    default: dict[str, Any] = field(default_factory=lambda: {"content": "{}"})
    model: str = "fault-model"
    reject_json_schema: bool = False
    reject_response_format: bool = False
    requests: list[Record] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[Record]:
        """Chat completion requests received so far."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> FaultServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # no ~40 ms delayed-ACK stall between headers and body

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._record(self.path, None)
                if self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    owner._in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
                try:
                    step = owner._record(self.path, body)
                    self._answer(step, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with owner._lock:
                        owner._in_flight -= 1

            def _answer(self, step: dict[str, Any], body: dict[str, Any]) -> None:
                kind = (body.get("response_format") or {}).get("type")
                if owner.reject_response_format and kind:
                    return self._json(400, {"error": {"message": "response_format not supported"}})
                if owner.reject_json_schema and kind == "json_schema":
                    return self._json(500, {"error": {"message": "json_schema not supported"}})
                time.sleep(float(step.get("delay", 0.0)))
                if "status" in step:
                    headers = {"Retry-After": str(step["retry_after"])} if "retry_after" in step else {}
                    return self._json(
                        int(step["status"]), {"error": {"message": f"scripted {step['status']}"}}, headers
                    )
                if "body" in step:
                    return self._raw(200, str(step["body"]).encode())
                if step.get("drop"):
                    data = json.dumps(owner._completion(step)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                completion = owner._completion(step)
                if step.get("empty_choices"):
                    completion["choices"] = []
                return self._json(200, completion)

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                self._raw(status, json.dumps(payload).encode(), headers)

            def _raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        with self._lock:
            self.requests.append(Record(time.monotonic(), path, body))
            if body is None:
                return {}
            index = len(self.chat_requests) - 1
            return self.steps[index] if index < len(self.steps) else self.default

    def _completion(self, step: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
        if "tool_calls" in step:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(step["tool_calls"])
            ]
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": step.get("finish_reason", "stop"),
        }
        if "logprobs" in step:
            top = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in step["logprobs"]]
            choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
