"""A local OpenAI-compatible server that answers every call after exactly ``delay_s`` with a valid answer.

Used by the graph benchmark to measure saboteur's own overhead: with a fixed model latency, the ideal wall
time of a run is calls x delay / concurrency, and anything above that is the framework's.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _answer(request: dict[str, Any]) -> str:
    """Content that satisfies the request: the capability probe, or a verdict in the requested schema."""
    text = json.dumps(request.get("messages", []))
    if "Name one colour" in text:
        return json.dumps({"colour": "red"})
    fmt = request.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema") or {}
    labels = schema.get("properties", {}).get("label", {}).get("enum") or ["neutral"]
    label = labels[0]
    return json.dumps(
        {
            "label": label,
            "confidence": 80,
            "ranking": [{"label": label, "confidence": 80}],
            "self_assessment": {"score": 70, "issues": [], "rationale": "clear evidence"},
            "rationale": "the evidence points that way",
        }
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay_s = 0.2

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "fixed-latency", "object": "model"}]})

    def do_POST(self) -> None:
        started = time.perf_counter()
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        content = _answer(request)
        time.sleep(max(0.0, self.delay_s - (time.perf_counter() - started)))
        self._send(
            {
                "id": "x",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "fixed-latency",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
            }
        )


class LatencyServer:
    """Serves on a free loopback port in a background thread; use as a context manager."""

    def __init__(self, delay_s: float = 0.2) -> None:
        handler = type("Handler", (_Handler,), {"delay_s": delay_s})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> LatencyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
