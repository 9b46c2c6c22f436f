"""A local OpenAI-compatible server that answers every call exactly ``delay_s`` after it arrived.

Used by the benchmarks to measure saboteur's own overhead: with a fixed model latency, the ideal wall time
of a run is calls x delay / concurrency, and anything above that is the client's. The server must not add
time of its own, so it is one asyncio loop in its own process (no threads fighting over a GIL when a
burst of calls arrives at once): each call is timed from the moment its first bytes were read, and its
answer is written at arrival + delay by a timer, whatever else the server is doing. (A threaded
``http.server`` took ~5 ms per burst of 16 calls, which a benchmark then charged to the client.)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
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


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fixed-latency",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
    }


def _response(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


_last_request: dict[str, Any] = {}
"""The last chat request served (``GET /v1/last-request`` returns it), so that a benchmark can replay the
very body saboteur sent."""


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float
) -> None:
    """HTTP/1.1 keep-alive: one request after another on the connection (clients do not pipeline)."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            first = await reader.read(1)
            if not first:
                return
            arrived = loop.time()
            head = first + await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, _, rest = lines[0].partition(" ")
            target = rest.split(" ", 1)[0]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if method == "GET" and target.endswith("/last-request"):
                payload = _last_request
            elif method == "GET":
                payload = {"object": "list", "data": [{"id": "fixed-latency", "object": "model"}]}
            else:
                request = json.loads(body or b"{}")
                _last_request.clear()
                _last_request.update(request)
                payload = _completion(_answer(request))
                await asyncio.sleep(max(0.0, arrived + delay_s - loop.time()))
            writer.write(_response(payload))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


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


async def serve(delay_s: float) -> None:
    """Serve forever on a free port, printing the port on the first line of stdout."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_connection(reader, writer, delay_s)

    # asyncio sets TCP_NODELAY on its sockets; a deep backlog keeps a burst of new connections from
    # having SYNs dropped (and retried a second later)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1]) if len(sys.argv) > 1 else 0.2))
