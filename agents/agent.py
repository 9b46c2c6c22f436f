"""A modality agent: evidence + tools + prompting strategy + backend -> one :class:`Verdict`.

There is one agent per modality (``transcript``, ``audio``, ``frames``), each shown only its own evidence,
and an optional ``joint`` agent shown all of it. Tools: where the model calls tools by itself (probed, see
``llm.probe``), it gets them with ``tool_choice="auto"`` for at most ``max_tool_steps`` rounds; otherwise the
tools marked ``prefetch`` are called up front and their results inserted as tool messages (tools-first).
Then the strategy's answer call(s) run with the server's best structured-output mode. Whatever goes wrong
(transport faults after retries, answers still unusable after one repair round) ends as an error verdict,
returned for storage rather than raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from saboteur.agents.llm.backend import Backend, BackendError, ChatResponse
from saboteur.agents.llm.output import (
    Answer,
    OutputProblem,
    answer_schema,
    grade_schema,
    label_probabilities,
    normalize_answer,
    parse_answer,
    parse_grade,
    repair_prompt,
)
from saboteur.agents.llm.probe import Capabilities, ensure_capabilities
from saboteur.agents.prompting import (
    Message,
    build_messages,
    grader_messages,
    tool_call_messages,
    with_schema_instruction,
)
from saboteur.agents.strategies import Example, Strategy, load_pool, pick_examples
from saboteur.agents.tools import Tool, evidence_tools
from saboteur.agents.voting import Meter, vote
from saboteur.errors import SaboteurError
from saboteur.labels import LabelSet
from saboteur.schemas import Evidence, LabelScore, SelfAssessment, Verdict

ToolMode = Literal["probe", "auto", "first", "none"]
T = TypeVar("T")
MODALITIES = ("transcript", "audio", "frames")
JOINT = "joint"


class _CutOff(OutputProblem):
    """A reply stopped by ``max_tokens``: unusable, and worth one more try with a larger budget."""

    def __init__(self, text: str, message: str) -> None:
        super().__init__("length", message)
        self.text = text


class Agent:
    """One modality's LLM agent. Cheap to make; :meth:`run` is safe to call concurrently."""

    def __init__(
        self,
        modality: str,
        backend: Backend,
        strategy: Strategy,
        labels: LabelSet,
        *,
        tool_mode: ToolMode = "probe",
        max_tool_steps: int = 3,
        top_logprobs: int = 20,
        prompt_dirs: Sequence[str] = (),
    ) -> None:
        self.modality = modality
        self.backend = backend
        self.strategy = strategy
        self.labels = labels
        self.tool_mode = tool_mode
        self.max_tool_steps = max_tool_steps
        self.top_logprobs = top_logprobs
        self.examples: list[Example] = []
        if strategy.examples:
            pool_modality = "transcript" if modality == JOINT else modality
            self.examples = pick_examples(
                load_pool(labels, prompt_dirs), labels, strategy.examples, pool_modality
            )

    # -- entry point -----------------------------------------------------------------------------
    async def run(
        self, clip_id: str, evidence: Evidence | Mapping[str, Evidence], truth: str | None = None
    ) -> Verdict:
        """The verdict for one clip: valid, or an error verdict saying why (never raises for model faults)."""
        meter = Meter()
        extra: dict[str, Any] = {}
        base = {
            "clip_id": clip_id,
            "modality": self.modality,
            "strategy": self.strategy.name,
            "truth": self.labels.normalize(truth) or truth,
        }
        try:
            model = await self.backend.model()
        except BackendError as exc:
            return Verdict(**base, error=f"backend: {exc}")
        base["model"] = model
        own = self._own(evidence)
        if not own or not any(item.available for item in own):
            reasons = (
                "; ".join(item.reason or "unavailable" for item in own) or f"no {self.modality} evidence"
            )
            return Verdict(**base, error=f"evidence unavailable: {reasons}", extra={"tool_mode": "none"})
        try:
            capabilities = await ensure_capabilities(self.backend)
            messages = build_messages(self.strategy, self.labels, self.modality, own, self.examples)
            messages = await self._tools(messages, own, capabilities, meter, extra)
            answer = await self._answer(messages, capabilities, meter, extra)
            if self.strategy.self_assessment == "separate":
                answer = answer.model_copy(
                    update={"self_assessment": await self._grade(own, answer, capabilities, meter, extra)}
                )
        except BackendError as exc:
            return Verdict(
                **base, error=f"backend: {exc}", usage=meter.usage(), extra={**extra, **meter.extra()}
            )
        except OutputProblem as exc:
            return Verdict(
                **base,
                error=f"unusable answer ({exc.kind}): {exc}",
                usage=meter.usage(),
                extra={**extra, **meter.extra()},
            )
        if answer.dropped_labels:
            extra["dropped_labels"] = answer.dropped_labels
        return Verdict(
            **base,
            label=answer.label,
            confidence=answer.confidence,
            ranking=answer.ranking,
            self_assessment=answer.self_assessment,
            rationale=answer.rationale,
            usage=meter.usage(),
            extra={**extra, **meter.extra()},
        )

    def _own(self, evidence: Evidence | Mapping[str, Evidence]) -> list[Evidence]:
        """Only this agent's evidence (all of it for the joint agent)."""
        items = [evidence] if isinstance(evidence, Evidence) else list(evidence.values())
        if self.modality == JOINT:
            return items
        return [item for item in items if item.modality == self.modality]

    # -- tools -----------------------------------------------------------------------------------
    def _mode(self, capabilities: Capabilities) -> ToolMode:
        if self.tool_mode != "probe":
            return self.tool_mode
        if self.strategy.confidence == "logprob":  # the answer must be the next token: no tool chatter
            return "first"
        return "auto" if capabilities.auto_tools else "first"

    async def _tools(
        self,
        messages: list[Message],
        evidence: Sequence[Evidence],
        capabilities: Capabilities,
        meter: Meter,
        extra: dict[str, Any],
    ) -> list[Message]:
        tools = [tool for item in evidence for tool in evidence_tools(item)]
        mode = self._mode(capabilities)
        extra["tool_mode"] = mode
        if mode == "first":
            prefetched = [tool for tool in tools if tool.prefetch]
            calls = [(f"prefetch_{i}", t.name, "{}", t.call("{}")) for i, t in enumerate(prefetched)]
            extra["tool_calls"] = [name for _, name, _, _ in calls]
            return [*messages, *tool_call_messages(calls)]
        if mode == "none":
            return messages
        return await self._auto_tools(messages, tools, meter, extra)

    async def _auto_tools(
        self, messages: list[Message], tools: list[Tool], meter: Meter, extra: dict[str, Any]
    ) -> list[Message]:
        """Let the model call tools for at most ``max_tool_steps`` rounds."""
        by_name = {tool.name: tool for tool in tools}
        specs = [tool.spec() for tool in tools]
        called: list[str] = []
        for _ in range(self.max_tool_steps):
            params = {**self._sampling(), "tools": specs, "tool_choice": "auto"}
            response = meter.add(await self.backend.chat(messages, params=params, tag=self.strategy.name))
            if not response.tool_calls:
                break
            results = []
            for call in response.tool_calls:
                tool = by_name.get(call.name)
                result = tool.call(call.arguments) if tool else f"error: no tool named {call.name}"
                results.append((call.id, call.name, call.arguments, result))
                called.append(call.name)
            messages = [*messages, *tool_call_messages(results)]
        extra["tool_calls"] = called
        return messages

    # -- answering -------------------------------------------------------------------------------
    def _sampling(self, sample: int = 0) -> dict[str, Any]:
        sampling = self.strategy.sampling
        params: dict[str, Any] = {"temperature": sampling.temperature, "max_tokens": sampling.max_tokens}
        if sampling.top_p is not None:
            params["top_p"] = sampling.top_p
        if sampling.seed is not None:
            params["seed"] = sampling.seed + sample
        return params

    async def _structured(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        params: dict[str, Any],
        capabilities: Capabilities,
        meter: Meter,
    ) -> str:
        """One call in the server's best structured-output mode; returns the answer's JSON text."""
        body = dict(params)
        sent = list(messages)
        if capabilities.structured == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            }
        elif capabilities.structured == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif capabilities.structured == "tool":
            body["tools"] = [
                {"type": "function", "function": {"name": "submit_answer", "parameters": schema}}
            ]
            body["tool_choice"] = {"type": "function", "function": {"name": "submit_answer"}}
        else:
            sent = with_schema_instruction(sent, schema)
        response: ChatResponse = meter.add(await self.backend.chat(sent, params=body, tag=self.strategy.name))
        text = response.tool_calls[0].arguments if response.tool_calls else response.content or ""
        if response.finish_reason == "length":
            raise _CutOff(text, f"the answer was cut off at max_tokens={body.get('max_tokens')}")
        return text

    async def _repaired(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        params: dict[str, Any],
        capabilities: Capabilities,
        meter: Meter,
        parse: Callable[[str], T],
    ) -> T:
        """A parsed reply, with one repair round when the first is unusable (a cut-off reply is asked
        again with twice the token budget)."""
        text = ""
        try:
            text = await self._structured(messages, schema, params, capabilities, meter)
            return parse(text)
        except OutputProblem as problem:
            meter.repairs += 1
            shown = problem.text if isinstance(problem, _CutOff) else text
            if isinstance(problem, _CutOff):
                params = {**params, "max_tokens": 2 * int(params.get("max_tokens") or 256)}
            retry = [
                *messages,
                {"role": "assistant", "content": shown},
                {"role": "user", "content": repair_prompt(problem, self.labels)},
            ]
            return parse(await self._structured(retry, schema, params, capabilities, meter))

    async def _parsed(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        params: dict[str, Any],
        capabilities: Capabilities,
        meter: Meter,
    ) -> Answer:
        """An answer in the verdict schema (one repair round)."""
        return await self._repaired(messages, schema, params, capabilities, meter, self._normalize)

    def _normalize(self, text: str) -> Answer:
        raw = parse_answer(text)
        if self.strategy.self_assessment == "inline" and raw.self_assessment is None:
            raise OutputProblem("schema", "self_assessment: field required")
        return normalize_answer(
            raw, self.labels, scale=self.strategy.scale, topk=self.strategy.confidence == "topk"
        )

    async def _answer(
        self, messages: list[Message], capabilities: Capabilities, meter: Meter, extra: dict[str, Any]
    ) -> Answer:
        strategy = self.strategy
        if strategy.confidence == "logprob":
            return await self._logprob_answer(messages, capabilities, meter, extra)
        schema = answer_schema(
            self.labels,
            scale=strategy.scale,
            top_k=strategy.top_k,
            self_assessment=strategy.self_assessment == "inline",
            reasoning=strategy.reasoning,
            text_limit=strategy.text_limit,
        )
        if strategy.confidence != "votes":
            return await self._parsed(messages, schema, self._sampling(), capabilities, meter)
        answers: list[Answer] = []
        failures: list[str] = []
        for sample in range(strategy.samples):
            try:
                answers.append(
                    await self._parsed(messages, schema, self._sampling(sample), capabilities, meter)
                )
            except OutputProblem as problem:
                failures.append(str(problem))
        if not answers:
            raise OutputProblem("schema", f"no usable sample out of {strategy.samples}: {failures[-1]}")
        extra["samples"] = strategy.samples
        extra["failed_samples"] = len(failures)
        result, votes = vote(answers, self.labels)
        extra["votes"] = votes
        return result

    async def _logprob_answer(
        self, messages: list[Message], capabilities: Capabilities, meter: Meter, extra: dict[str, Any]
    ) -> Answer:
        """Label probabilities from the first answer token's top log-probabilities."""
        if not capabilities.logprobs:
            raise BackendError("the server returns no logprobs, which the logprob strategy needs")
        params = {**self._sampling(), "logprobs": True, "top_logprobs": self.top_logprobs}
        response = meter.add(await self.backend.chat(messages, params=params, tag=self.strategy.name))
        if not response.top_logprobs:
            raise BackendError("the server returned no logprobs for this answer")
        top = [(item.token, item.logprob) for item in response.top_logprobs[0]]
        mass = label_probabilities(top, self.labels)
        total = sum(mass.values())
        extra["label_mass"] = round(total, 6)
        extra["answer_token"] = response.content or ""
        if total <= 0.0:
            raise OutputProblem("label", f"none of the top {len(top)} first tokens starts a label")
        shares = {label: value / total for label, value in mass.items() if value > 0.0}
        order = sorted(shares, key=lambda label: (-shares[label], self.labels.labels.index(label)))
        return Answer(
            label=order[0],
            confidence=shares[order[0]],
            ranking=[LabelScore(label=label, confidence=shares[label]) for label in order],
            rationale=f"label-token probabilities (mass on labels {total:.3f})",
        )

    async def _grade(
        self,
        evidence: Sequence[Evidence],
        answer: Answer,
        capabilities: Capabilities,
        meter: Meter,
        extra: dict[str, Any],
    ) -> SelfAssessment:
        """The separate self-assessment call (one repair round, like any answer)."""
        strategy = self.strategy
        shown = {
            "label": answer.label,
            "confidence": round(answer.confidence * strategy.scale),
            "ranking": [item.label for item in answer.ranking[:3]],
            "rationale": answer.rationale,
        }
        messages = grader_messages(strategy, self.labels, self.modality, evidence, shown)
        schema = grade_schema(scale=strategy.scale, text_limit=strategy.text_limit)
        params = {**self._sampling(), "max_tokens": strategy.grader_max_tokens}
        return await self._repaired(
            messages, schema, params, capabilities, meter, lambda text: parse_grade(text, strategy.scale)
        )


def make_agents(
    backend: Backend,
    strategy: Strategy,
    labels: LabelSet,
    modalities: Sequence[str] = MODALITIES,
    *,
    joint: bool = False,
    **options: Any,
) -> dict[str, Agent]:
    """One agent per modality (plus the joint agent when asked), sharing one backend."""
    names = [*modalities, *([JOINT] if joint else [])]
    unknown = [name for name in names if name not in (*MODALITIES, JOINT)]
    if unknown:
        raise SaboteurError(f"unknown modality {unknown[0]!r}: use {', '.join(MODALITIES)}")
    return {name: Agent(name, backend, strategy, labels, **options) for name in names}


def verdict_summary(verdict: Verdict) -> str:
    """One line per verdict for logs and progress output."""
    if not verdict.ok:
        return f"{verdict.clip_id} {verdict.modality}: error: {verdict.error}"
    return f"{verdict.clip_id} {verdict.modality}: {verdict.label} ({verdict.confidence:.2f}) " + json.dumps(
        {"calls": verdict.usage.calls, "latency_s": round(verdict.usage.latency_s, 2)}
    )
