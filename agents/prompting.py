"""Turning a strategy, a label set and a clip's evidence into chat messages.

Media text (transcripts, descriptions, few-shot example texts, earlier answers) only ever goes into
``<data>`` blocks inside user messages (or tool results); the system message holds nothing but the
strategy's instructions, so text spoken in a clip cannot pose as instructions from saboteur.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from saboteur.agents.strategies import Example, Strategy, render
from saboteur.agents.tools import data_block
from saboteur.labels import LabelSet
from saboteur.schemas import Evidence

Message = dict[str, Any]

MODALITY_NOUNS = {
    "transcript": "transcript of what was said in a video clip",
    "audio": "description of a speaker's voice in a clip",
    "frames": "description of a video clip's frames",
    "joint": "video clip, given as its transcript and descriptions of its voice and frames",
}


def modality_noun(modality: str) -> str:
    """How templates name an agent's evidence (``$modality``)."""
    return MODALITY_NOUNS.get(modality, f"{modality} description of a clip")


def evidence_blocks(evidence: Sequence[Evidence]) -> str:
    """The clip's evidence as data blocks, one per modality (unavailable evidence says why)."""
    blocks = []
    for item in evidence:
        text = item.text if item.available else f"(unavailable: {item.reason or 'no evidence'})"
        blocks.append(data_block(item.modality, text))
    return "\n".join(blocks)


def _values(strategy: Strategy, labels: LabelSet, modality: str) -> dict[str, object]:
    scale = int(strategy.scale) if float(strategy.scale).is_integer() else strategy.scale
    return {
        "labels": ", ".join(labels.labels),
        "modality": modality_noun(modality),
        "scale": scale,
        "top_k": min(strategy.top_k, labels.size),
    }


def build_messages(
    strategy: Strategy,
    labels: LabelSet,
    modality: str,
    evidence: Sequence[Evidence],
    examples: Sequence[Example] = (),
) -> list[Message]:
    """System message, few-shot turns (``examples_as = "turns"``), and the user message with the data."""
    values = _values(strategy, labels, modality)
    messages: list[Message] = [{"role": "system", "content": render(strategy.system, **values)}]
    inline = ""
    if strategy.examples_as == "turns":
        for example in examples:
            shown = render(
                strategy.user, **values, evidence=data_block(example.modality, example.text), examples=""
            )
            messages.append({"role": "user", "content": shown})
            messages.append({"role": "assistant", "content": example.label})
    else:
        inline = "\n".join(f"{data_block(e.modality, e.text)}\nlabel: {e.label}" for e in examples)
    user = render(strategy.user, **values, evidence=evidence_blocks(evidence), examples=inline)
    messages.append({"role": "user", "content": user})
    return messages


def grader_messages(
    strategy: Strategy,
    labels: LabelSet,
    modality: str,
    evidence: Sequence[Evidence],
    answer: Mapping[str, Any],
) -> list[Message]:
    """The separate self-assessment call: the same evidence and the first answer, both as data."""
    values = _values(strategy, labels, modality)
    shown = data_block("answer", json.dumps(dict(answer), ensure_ascii=False))
    return [
        {"role": "system", "content": render(strategy.grader_system, **values)},
        {
            "role": "user",
            "content": render(
                strategy.grader_user, **values, evidence=evidence_blocks(evidence), answer=shown
            ),
        },
    ]


def with_schema_instruction(messages: Sequence[Message], schema: Mapping[str, Any]) -> list[Message]:
    """For servers without structured output: the last user message also spells out the JSON schema."""
    copied = [dict(message) for message in messages]
    note = "\n\nReply with only a JSON object that follows this JSON schema:\n" + json.dumps(schema)
    copied[-1]["content"] = str(copied[-1].get("content") or "") + note
    return copied


def tool_call_messages(calls: Sequence[tuple[str, str, str, str]]) -> list[Message]:
    """An assistant turn calling tools and their results: ``calls`` = (id, name, arguments, result)."""
    if not calls:
        return []
    assistant: Message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments, _ in calls
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": call_id, "content": data_block(f"tool:{name}", result)}
        for call_id, name, _, result in calls
    ]
    return [assistant, *results]
