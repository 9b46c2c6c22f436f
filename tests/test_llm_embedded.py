"""The real embedded LLM (SmolLM2-135M on llama.cpp) on real MELD utterances, offline, no key.

One server per test session; temperature 0 and short, schema-bounded answers keep it to seconds per call.
SmolLM2-135M is a weak classifier: these tests check that every path runs and yields valid verdicts, not
that the labels are right.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from llm_support import clip_id, meld_rows, shared_server, transcript_evidence

from saboteur.agents.agent import Agent
from saboteur.agents.llm.backend import Backend, BackendConfig, resolve_backend_config
from saboteur.agents.llm.cache import ResponseCache
from saboteur.agents.llm.connect import open_backend
from saboteur.agents.llm.probe import ensure_capabilities
from saboteur.agents.llm.server import EMBEDDED_ALIAS, EmbeddedServer, find_embedded_model, free_port
from saboteur.agents.strategies import get_strategy, load_strategies
from saboteur.labels import get_label_set
from saboteur.schemas import Verdict

pytestmark = pytest.mark.slow
MELD = get_label_set("meld")
ROW = meld_rows(1)[0]  # "Why do all you're coffee mugs have numbers on the bottom?" (surprise)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llm-cache")


def embedded_backend(cache_dir: Path) -> Backend:
    server = shared_server()
    config = BackendConfig(
        base_url=server.base_url, model=server.alias, server_id=server.server_id, timeout_s=600, concurrency=1
    )
    return Backend(config, cache=ResponseCache(cache_dir))


def assert_valid(verdict: Verdict) -> None:
    assert verdict.error is None, verdict.error
    assert verdict.label in MELD.labels
    assert 0.0 <= verdict.confidence <= 1.0
    assert verdict.self_assessment is not None and 0.0 <= verdict.self_assessment.score <= 1.0
    assert verdict.ranking and verdict.ranking[0].label == verdict.label
    assert all(item.label in MELD.labels for item in verdict.ranking)
    assert verdict.model == EMBEDDED_ALIAS and verdict.truth == ROW["Emotion"]


def test_probing_the_real_llama_cpp_server(cache_dir: Path) -> None:
    capabilities = asyncio.run(ensure_capabilities(embedded_backend(cache_dir)))
    # models.md: llama.cpp rejects json_schema, enforces json_object + schema, returns logprobs;
    # the 135M model never calls a tool on its own
    assert capabilities.structured == "json_object"
    assert capabilities.logprobs is True
    assert capabilities.auto_tools is False


@pytest.mark.parametrize("name", sorted(load_strategies()))
def test_every_strategy_gives_a_valid_verdict_on_real_meld(cache_dir: Path, name: str) -> None:
    # the vote path at two samples' cost, and short rationales: seconds per call on 2 cores
    strategy = get_strategy(name)
    strategy = strategy.model_copy(update={"samples": min(strategy.samples, 2), "text_limit": 30})
    agent = Agent("transcript", embedded_backend(cache_dir), strategy, MELD)
    verdict = asyncio.run(agent.run(clip_id(ROW), transcript_evidence(ROW), ROW["Emotion"]))
    assert_valid(verdict)
    expected_calls = {"votes": strategy.samples}.get(strategy.confidence, 1)
    expected_calls += strategy.self_assessment == "separate"
    assert verdict.usage.calls + verdict.extra["cached_calls"] >= expected_calls
    assert verdict.usage.completion_tokens > 0
    if strategy.confidence in ("votes", "logprob"):
        assert sum(item.confidence for item in verdict.ranking) == pytest.approx(1.0)
    if strategy.confidence == "logprob":
        assert 0.0 < verdict.extra["label_mass"] <= 1.0


def test_rerun_is_answered_from_the_cache(cache_dir: Path) -> None:
    agent = Agent("transcript", embedded_backend(cache_dir), get_strategy("zero_shot"), MELD)
    first = asyncio.run(agent.run(clip_id(ROW), transcript_evidence(ROW), ROW["Emotion"]))
    again = asyncio.run(agent.run(clip_id(ROW), transcript_evidence(ROW), ROW["Emotion"]))
    assert again.usage.calls == 0 and again.extra["cached_calls"] == 1
    assert (again.label, again.confidence, again.self_assessment) == (
        first.label,
        first.confidence,
        first.self_assessment,
    )


def test_tools_first_with_real_timing_runs_through_llama_cpp(cache_dir: Path) -> None:
    row = meld_rows(3)[2]
    agent = Agent("transcript", embedded_backend(cache_dir), get_strategy("zero_shot"), MELD)
    verdict = asyncio.run(agent.run(clip_id(row), transcript_evidence(row, segments=True), row["Emotion"]))
    assert verdict.error is None and verdict.label in MELD.labels
    assert verdict.extra["tool_mode"] == "first" and verdict.extra["tool_calls"] == ["transcript_overview"]


def wait_for_models(url: str, process: subprocess.Popen[bytes], limit_s: float = 120) -> list[str]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace")[-500:] if process.stderr else ""
            raise AssertionError(f"the server exited with status {process.returncode}: {error}")
        try:
            response = httpx.get(f"{url}/models", timeout=2)
            if response.status_code == 200:
                return [item["id"] for item in response.json()["data"]]
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not start")


def test_base_url_of_an_independently_started_llama_cpp_server(tmp_path: Path) -> None:
    """Any OpenAI-compatible server by base URL: a second llama.cpp server, started here by hand."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(find_embedded_model()),
               "--model_alias", "independent-smollm2", "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "2048", "--n_threads", "1"]  # fmt: skip
    with (tmp_path / "second.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        assert wait_for_models(url, process) == ["independent-smollm2"]
        # exactly what `--base-url URL` does: no model named, no key, nothing else configured
        config = resolve_backend_config(base_url=url, environ={})

        async def classify() -> Verdict:
            async with open_backend(config, run=tmp_path / "run") as backend:
                agent = Agent("transcript", backend, get_strategy("zero_shot"), MELD)
                return await agent.run(clip_id(ROW), transcript_evidence(ROW), ROW["Emotion"])

        verdict = asyncio.run(classify())
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert verdict.error is None and verdict.label in MELD.labels and verdict.self_assessment is not None
    assert verdict.model == "independent-smollm2"  # asked from the server's /v1/models
    assert list((tmp_path / "run" / "cache" / "llm").glob("*/*.json"))  # cached under the run


def test_open_backend_starts_and_stops_the_embedded_server(tmp_path: Path) -> None:
    async def lifecycle() -> tuple[str, list[str]]:
        async with open_backend(resolve_backend_config(environ={}), run=tmp_path) as backend:
            url = str(backend.config.base_url)
            async with httpx.AsyncClient() as client:
                listing = (await client.get(f"{url}/models")).json()
            return url, [item["id"] for item in listing["data"]]

    url, models = asyncio.run(lifecycle())
    assert url.startswith("http://127.0.0.1:") and models == [EMBEDDED_ALIAS]
    assert (tmp_path / "logs" / "llm-server.log").is_file()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/models", timeout=2)  # stopped on exit


def test_saboteur_serve_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    saboteur = Path(sys.executable).with_name("saboteur")
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [str(saboteur), "serve", "--port", str(port), "--log", str(log), "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert wait_for_models(f"http://127.0.0.1:{port}/v1", process) == [EMBEDDED_ALIAS]
        assert process.stdout is not None
        announced = process.stdout.readline().decode()  # printed once its own health check passed
    finally:
        process.terminate()  # SIGTERM: the command stops its server and exits cleanly
        rest, _ = process.communicate(timeout=30)
    assert f"serving {EMBEDDED_ALIAS} at http://127.0.0.1:{port}/v1" in announced
    assert "stopped" in rest.decode() and process.returncode == 0
    assert log.is_file() and log.stat().st_size > 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)


def test_embedded_server_refuses_non_loopback_hosts() -> None:
    with pytest.raises(Exception, match="loopback only"):
        EmbeddedServer(host="0.0.0.0")
