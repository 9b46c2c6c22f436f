"""A local OpenAI-compatible server that answers every call after exactly ``delay_s`` with a valid answer.

Used by the graph benchmark to measure saboteur's own overhead: with a fixed model latency, the ideal wall
time of a run is calls x delay / concurrency, and anything above that is the framework's.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
    # headers and body go out as two writes: with Nagle's algorithm on, the body then waits for the
    # client's delayed ACK (~40 ms per call), which would be measured as saboteur's overhead
    disable_nagle_algorithm = True
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
    """Serves on a free loopback port in its own process (so that it never competes with the measured
    client for the GIL); use as a context manager."""

    def __init__(self, delay_s: float = 0.2) -> None:
        self.delay_s = delay_s
        self._process: subprocess.Popen[str] | None = None
        self._port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def __enter__(self) -> LatencyServer:
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(self.delay_s)], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self._port = int(self._process.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def serve(delay_s: float) -> None:
    """Serve forever on a free port, printing the port on the first line of stdout."""
    handler = type("Handler", (_Handler,), {"delay_s": delay_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(float(sys.argv[1]) if len(sys.argv) > 1 else 0.2)
