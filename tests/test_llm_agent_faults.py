"""The agent loop against a scripted server: repair rounds, error verdicts, tools, votes, logprobs, cache.

The server (tests/fault_server.py) is a real HTTP server; what the agent sent is read back from the
requests it received.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer

from saboteur.agents.agent import Agent
from saboteur.agents.llm.backend import Backend, BackendConfig
from saboteur.agents.llm.cache import ResponseCache
from saboteur.agents.llm.probe import Capabilities
from saboteur.agents.strategies import get_strategy
from saboteur.labels import get_label_set
from saboteur.rundir import RunDir
from saboteur.schemas import Evidence, Verdict

MELD = get_label_set("meld")
UTTERANCE = Evidence(modality="transcript", text="Oh my God, you got the job? That's amazing!")


def answer(label: str = "joy", confidence: float = 80, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": label,
        "confidence": confidence,
        "ranking": [{"label": label, "confidence": confidence}, {"label": "surprise", "confidence": 15}],
        "self_assessment": {"score": 70, "issues": ["no context"], "rationale": "one line only"},
        "rationale": "excited words",
    }
    body.update(changes)
    return {"content": json.dumps(body)}


def run_agent(
    server: FaultServer,
    strategy: str = "zero_shot",
    *,
    evidence: Evidence | dict[str, Evidence] = UTTERANCE,
    modality: str = "transcript",
    structured: str = "json_object",
    logprobs: bool = True,
    auto_tools: bool = False,
    cache: ResponseCache | None = None,
    **options: Any,
) -> Verdict:
    config = BackendConfig(
        base_url=server.base_url, model="fault-model", max_attempts=2, backoff_initial_s=0.01
    )
    backend = Backend(config, cache=cache)
    backend.capabilities = Capabilities(structured=structured, logprobs=logprobs, auto_tools=auto_tools)  # type: ignore[arg-type]
    agent = Agent(modality, backend, get_strategy(strategy), MELD, **options)
    return asyncio.run(agent.run("dia0_utt0", evidence, "Joy"))


def sent(server: FaultServer, index: int) -> dict[str, Any]:
    body = server.chat_requests[index].body
    assert body is not None
    return body


def test_valid_answer_is_normalised_into_a_verdict() -> None:
    with FaultServer(default=answer("Happy", 80)) as server:
        verdict = run_agent(server)
    assert verdict.ok and verdict.label == "joy"  # synonym, any case
    assert verdict.truth == "joy"
    assert verdict.confidence == pytest.approx(0.8)
    assert [(s.label, s.confidence) for s in verdict.ranking] == [("joy", 0.8), ("surprise", 0.15)]
    assert verdict.self_assessment is not None and verdict.self_assessment.score == pytest.approx(0.7)
    assert verdict.model == "fault-model" and verdict.strategy == "zero_shot"
    assert (
        verdict.usage.calls == 1
        and verdict.usage.prompt_tokens == 11
        and verdict.usage.completion_tokens == 7
    )
    body = sent(server, 0)
    assert body["response_format"]["type"] == "json_object"
    assert body["response_format"]["schema"]["properties"]["label"]["enum"] == MELD.labels
    system, user = body["messages"][0], body["messages"][-1]
    # media text only in a delimited data block of the user message, never in the system message
    assert UTTERANCE.text not in system["content"]
    assert f'<data kind="transcript">\n{UTTERANCE.text}\n</data>' in user["content"]


def test_malformed_json_gets_one_repair_round() -> None:
    with FaultServer(steps=[{"content": "joy, definitely {"}], default=answer("joy")) as server:
        verdict = run_agent(server)
    assert verdict.ok and verdict.label == "joy"
    assert len(server.chat_requests) == 2
    assert verdict.usage.calls == 2 and verdict.extra["repairs"] == 1
    repair = sent(server, 1)["messages"]
    assert repair[-2] == {"role": "assistant", "content": "joy, definitely {"}
    assert "could not be used" in repair[-1]["content"]


def test_schema_invalid_json_twice_becomes_a_stored_error_verdict(tmp_path: Path) -> None:
    with FaultServer(default={"content": json.dumps({"label": "joy", "confidence": "very"})}) as server:
        verdict = run_agent(server)
    assert len(server.chat_requests) == 2  # the answer, and exactly one repair round
    assert not verdict.ok and verdict.label is None
    assert verdict.error is not None and verdict.error.startswith("unusable answer (schema): confidence")
    run = RunDir(tmp_path / "run")
    run.append([verdict])
    stored = run.load().verdicts
    assert len(stored) == 1 and stored[0].error == verdict.error and stored[0].usage.calls == 2


def test_cut_off_answer_is_asked_again_with_twice_the_tokens() -> None:
    whole = answer("sadness", 35)["content"]
    cut = {"content": whole[:70], "finish_reason": "length"}  # ends inside the ranking's first item
    with FaultServer(steps=[cut], default=answer("sadness", 35)) as server:
        verdict = run_agent(server)
    assert verdict.label == "sadness" and verdict.extra["repairs"] == 1
    assert [sent(server, i)["max_tokens"] for i in range(2)] == [192, 384]
    assert "cut off at max_tokens=192" in sent(server, 1)["messages"][-1]["content"]
    with FaultServer(default=cut) as server:
        failed = run_agent(server)
    assert len(server.chat_requests) == 2
    assert failed.error == "unusable answer (length): the answer was cut off at max_tokens=384"


def test_unknown_label_is_repaired_once_then_an_error() -> None:
    with FaultServer(steps=[answer("elated")], default=answer("surprise", 60)) as server:
        repaired = run_agent(server)
    assert repaired.ok and repaired.label == "surprise" and len(server.chat_requests) == 2
    assert "'elated' is not one of the labels" in sent(server, 1)["messages"][-1]["content"]
    with FaultServer(default=answer("elated")) as server:
        failed = run_agent(server)
    assert len(server.chat_requests) == 2
    assert failed.error == "unusable answer (label): 'elated' is not one of the labels"


def test_missing_inline_self_assessment_is_a_schema_problem() -> None:
    body = json.loads(answer()["content"])
    del body["self_assessment"]
    with FaultServer(steps=[{"content": json.dumps(body)}], default=answer("anger", 55)) as server:
        verdict = run_agent(server)
    assert len(server.chat_requests) == 2 and verdict.label == "anger"


def test_transport_failure_after_retries_is_an_error_verdict() -> None:
    with FaultServer(default={"status": 503}) as server:
        verdict = run_agent(server)
    assert len(server.chat_requests) == 2  # max_attempts=2
    assert verdict.error == "backend: HTTP 503: scripted 503 after 2 attempts"


def test_text_mode_spells_out_the_schema_and_parses_prose() -> None:
    prose = {"content": "Sure! Here it is:\n```json\n" + answer("sadness", 40)["content"] + "\n```"}
    with FaultServer(default=prose) as server:
        verdict = run_agent(server, structured="text")
    assert verdict.label == "sadness" and verdict.confidence == pytest.approx(0.4)
    body = sent(server, 0)
    assert "response_format" not in body
    assert "follows this JSON schema" in body["messages"][-1]["content"]


def test_forced_tool_mode_reads_the_arguments() -> None:
    arguments = json.loads(answer("fear", 90)["content"])
    with FaultServer(default={"content": None, "tool_calls": [("submit_answer", arguments)]}) as server:
        verdict = run_agent(server, structured="tool")
    assert verdict.label == "fear"
    assert sent(server, 0)["tool_choice"] == {"type": "function", "function": {"name": "submit_answer"}}


SEGMENTED = Evidence(
    modality="transcript",
    text="I got the job! I can't believe it.",
    features={
        "text": "I got the job! I can't believe it.",
        "language": "en",
        "segments": [
            {"start": 0.0, "end": 1.2, "text": "I got the job!"},
            {"start": 1.2, "end": 2.5, "text": "I can't believe it."},
        ],
    },
)


def test_auto_tool_calls_are_executed_and_bounded() -> None:
    steps = [
        {"content": None, "tool_calls": [("transcript_segment", {"index": 1})]},
        {"content": None, "tool_calls": [("transcript_segment", {"index": 7})]},
        answer("joy"),
    ]
    with FaultServer(steps=steps) as server:
        verdict = run_agent(server, evidence=SEGMENTED, auto_tools=True, max_tool_steps=2)
    assert verdict.label == "joy" and verdict.extra["tool_mode"] == "auto"
    assert verdict.extra["tool_calls"] == ["transcript_segment", "transcript_segment"]
    assert len(server.chat_requests) == 3  # two tool rounds (the bound), then the answer
    assert sent(server, 0)["tool_choice"] == "auto"
    second = sent(server, 1)["messages"]
    assert second[-1]["role"] == "tool" and "I can't believe it." in second[-1]["content"]
    third = sent(server, 2)
    assert "tools" not in third and "segment 7 does not exist" in third["messages"][-1]["content"]


def test_tools_first_inserts_prefetched_results_as_tool_messages() -> None:
    with FaultServer(default=answer("joy")) as server:
        verdict = run_agent(server, evidence=SEGMENTED)
    assert verdict.extra["tool_mode"] == "first" and verdict.extra["tool_calls"] == ["transcript_overview"]
    messages = sent(server, 0)["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "transcript_overview"
    overview = json.loads(messages[-1]["content"].split("\n")[1])
    assert overview == {"language": "en", "segments": 2, "duration_s": 2.5, "words_per_s": 3.2}


def test_each_agent_sees_only_its_own_evidence() -> None:
    evidence = {
        "transcript": UTTERANCE,
        "audio": Evidence(
            modality="audio", text="loud, high pitch, fast", features={"prosody": {"pitch_hz": 240}}
        ),
    }
    with FaultServer(default=answer("joy")) as server:
        run_agent(server, evidence=evidence, modality="audio")
        run_agent(server, evidence=evidence, modality="joint")
    audio_user = sent(server, 0)["messages"]
    joint_user = sent(server, 1)["messages"]
    assert UTTERANCE.text not in json.dumps(audio_user) and "loud, high pitch" in json.dumps(audio_user)
    assert UTTERANCE.text in json.dumps(joint_user) and "loud, high pitch" in json.dumps(joint_user)
    assert any(m.get("role") == "tool" and "pitch_hz" in m["content"] for m in audio_user)


def test_unavailable_evidence_is_an_error_verdict_without_a_call() -> None:
    missing = Evidence(modality="transcript", available=False, reason="no audio stream")
    with FaultServer(default=answer()) as server:
        verdict = run_agent(server, evidence=missing)
    assert verdict.error == "evidence unavailable: no audio stream" and server.chat_requests == []


def test_self_consistency_votes_over_seeded_samples() -> None:
    steps = [answer("joy", 90), answer("anger", 60), answer("joy", 70)]
    with FaultServer(steps=steps) as server:
        verdict = run_agent(server, "self_consistency")
    assert verdict.label == "joy" and verdict.confidence == pytest.approx(2 / 3)
    assert [(s.label, round(s.confidence, 4)) for s in verdict.ranking] == [
        ("joy", 0.6667),
        ("anger", 0.3333),
    ]
    assert verdict.extra["votes"] == {"joy": 2, "anger": 1}
    assert [sent(server, i)["seed"] for i in range(3)] == [1, 2, 3]
    assert {sent(server, i)["temperature"] for i in range(3)} == {0.7}


def test_logprob_strategy_turns_token_probabilities_into_label_shares() -> None:
    first = {"content": "joy", "logprobs": [("joy", 0.6), ("ne", 0.2), ("s", 0.1), ("The", 0.1)]}
    grade = {"content": json.dumps({"score": 30, "issues": ["short"], "rationale": "little to go on"})}
    with FaultServer(steps=[first, grade]) as server:
        verdict = run_agent(server, "logprob")
    # mass: joy 0.6, neutral 0.2, "s" split between sadness and surprise (0.05 each); total 0.9
    shares = {s.label: s.confidence for s in verdict.ranking}
    assert shares == pytest.approx(
        {"joy": 0.6 / 0.9, "neutral": 0.2 / 0.9, "sadness": 0.05 / 0.9, "surprise": 0.05 / 0.9}
    )
    assert verdict.label == "joy" and verdict.extra["label_mass"] == pytest.approx(0.9)
    assert verdict.self_assessment is not None and verdict.self_assessment.score == pytest.approx(0.3)
    body = sent(server, 0)
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    # few-shot turns: seven labelled examples from the MELD pool before the clip
    assistant_turns = [m["content"] for m in body["messages"] if m["role"] == "assistant"]
    assert sorted(assistant_turns) == sorted(MELD.labels)
    assert sent(server, 1)["response_format"]["schema"]["required"] == ["score", "issues", "rationale"]
    assert math.isclose(sum(shares.values()), 1.0)


def test_logprob_strategy_without_logprobs_is_an_error_verdict() -> None:
    with FaultServer(default=answer()) as server:
        verdict = run_agent(server, "logprob", logprobs=False)
    assert verdict.error == "backend: the server returns no logprobs, which the logprob strategy needs"
    assert server.chat_requests == []


def test_self_assess_separate_grades_the_first_answer() -> None:
    first = answer("anger", 65)
    grade = {"content": json.dumps({"score": 0.4, "issues": [], "rationale": "plausible"})}
    with FaultServer(steps=[first, grade]) as server:
        verdict = run_agent(server, "self_assess_separate")
    assert verdict.label == "anger" and verdict.self_assessment is not None
    assert verdict.self_assessment.score == pytest.approx(0.4)  # a fraction on the 0-100 scale is kept
    grader_user = sent(server, 1)["messages"][-1]["content"]
    assert '<data kind="answer">' in grader_user and '"label": "anger"' in grader_user
    assert "self_assessment" not in sent(server, 0)["response_format"]["schema"]["properties"]


def test_cache_makes_a_rerun_free(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    with FaultServer(default=answer("joy", 75)) as server:
        first = run_agent(server, cache=cache)
        again = run_agent(server, cache=cache)
        other = run_agent(server, "cot", cache=cache)
    assert len(server.chat_requests) == 2  # the rerun asked nothing; another strategy did
    assert first.usage.calls == 1 and again.usage.calls == 0 and again.extra["cached_calls"] == 1
    assert (again.label, again.confidence, again.ranking) == (first.label, first.confidence, first.ranking)
    assert other.usage.calls == 1 and len(cache) == 2
