"""The agents' tools: OpenAI function tools over one modality's :class:`~saboteur.schemas.Evidence`.

Each modality has a tool returning its whole evidence and finer tools over the structured features the
perception tools store (``Evidence.features``):

- transcript: ``{"text", "language", "segments": [{"start", "end", "text", ...}], "words": [...]}``
- audio: ``{"prosody": {...}, "tags": [{"label", "score", "start", "end"}], "description"}``
- frames: ``{"captions": [{"t", "caption"}], "expressions": [{"t", "face_found", "probs"}], "stats"}``

Precomputed perception text from a manifest is evidence with only ``text``: such evidence gets only the
whole-evidence tool. Tools marked ``prefetch`` are what the tools-first mode calls for a model that does
not call tools by itself. Tool results are data, and come back wrapped in the same delimiters as the
evidence in the user message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from saboteur.schemas import Evidence

_NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
_INDEX_ARGS: dict[str, Any] = {
    "type": "object",
    "properties": {"index": {"type": "integer", "minimum": 0, "description": "0-based position"}},
    "required": ["index"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Tool:
    """A function the model may call: name, description, JSON-schema parameters and the implementation."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any]], Any]
    prefetch: bool = False

    def spec(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def call(self, arguments: str | Mapping[str, Any]) -> str:
        """Run the tool on the model's arguments (JSON text or a mapping); errors become a result text."""
        try:
            args = json.loads(arguments or "{}") if isinstance(arguments, str) else dict(arguments)
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
            result = self.run(args)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            return f"error: {exc}"
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def data_block(kind: str, text: str) -> str:
    """Media text in delimiters the model is told are data (a closing tag inside is defused)."""
    safe = text.replace("</data>", "<\\/data>")
    return f'<data kind="{kind}">\n{safe}\n</data>'


def _whole(evidence: Evidence) -> Callable[[dict[str, Any]], Any]:
    def run(_: dict[str, Any]) -> Any:
        if not evidence.available:
            return {"available": False, "reason": evidence.reason or "unavailable"}
        return {"text": evidence.text, "quality": round(evidence.quality, 3)}

    return run


def _item(items: list[Any], what: str) -> Callable[[dict[str, Any]], Any]:
    def run(args: dict[str, Any]) -> Any:
        index = int(args["index"])
        if not 0 <= index < len(items):
            raise IndexError(f"{what} {index} does not exist (there are {len(items)})")
        return items[index]

    return run


def _transcript_tools(features: Mapping[str, Any]) -> list[Tool]:
    tools: list[Tool] = []
    segments = [s for s in features.get("segments") or [] if isinstance(s, dict)]
    if segments:
        duration = max(float(s.get("end", 0.0)) for s in segments)
        words = len(features.get("words") or []) or len(str(features.get("text", "")).split())
        overview = {
            "language": features.get("language"),
            "segments": len(segments),
            "duration_s": round(duration, 2),
            "words_per_s": round(words / duration, 2) if duration > 0 else None,
        }
        tools.append(
            Tool(
                "transcript_overview",
                "Language, number of segments, duration and speaking rate.",
                _NO_ARGS,
                lambda _: overview,
                prefetch=True,
            )
        )
        tools.append(
            Tool(
                "transcript_segment",
                f"One transcript segment (0-{len(segments) - 1}) with start/end times.",
                _INDEX_ARGS,
                _item(segments, "segment"),
            )
        )
    return tools


def _audio_tools(features: Mapping[str, Any]) -> list[Tool]:
    tools: list[Tool] = []
    prosody = features.get("prosody")
    if isinstance(prosody, dict) and prosody:
        tools.append(
            Tool(
                "audio_prosody",
                "Prosody measurements: pitch, energy, speaking rate, pauses, voice quality.",
                _NO_ARGS,
                lambda _: prosody,
                prefetch=True,
            )
        )
    tags = [t for t in features.get("tags") or [] if isinstance(t, dict)]
    if tags:
        ranked = sorted(tags, key=lambda t: -float(t.get("score", 0.0)))
        tools.append(
            Tool(
                "audio_tags",
                "Sound events heard (label, score, start, end), strongest first.",
                _NO_ARGS,
                lambda _: ranked[:10],
                prefetch=True,
            )
        )
    return tools


def _frames_tools(features: Mapping[str, Any]) -> list[Tool]:
    tools: list[Tool] = []
    captions = [c for c in features.get("captions") or [] if isinstance(c, dict)]
    if captions:
        tools.append(
            Tool(
                "frame_caption",
                f"The caption of one sampled frame (0-{len(captions) - 1}) and its time.",
                _INDEX_ARGS,
                _item(captions, "frame"),
            )
        )
    expressions = [e for e in features.get("expressions") or [] if isinstance(e, dict)]
    if expressions:
        timeline = [_top_expression(e) for e in expressions]
        tools.append(
            Tool(
                "expression_timeline",
                "Facial expression per sampled frame: time, face found, top expressions.",
                _NO_ARGS,
                lambda _: timeline,
                prefetch=True,
            )
        )
    stats = features.get("stats")
    if isinstance(stats, dict) and stats:
        tools.append(
            Tool("frame_stats", "Summary statistics over the sampled frames.", _NO_ARGS, lambda _: stats)
        )
    return tools


def _top_expression(entry: Mapping[str, Any]) -> dict[str, Any]:
    probs = entry.get("probs") or {}
    top = sorted(((str(k), float(v)) for k, v in probs.items()), key=lambda kv: -kv[1])[:3]
    return {
        "t": entry.get("t"),
        "face_found": entry.get("face_found"),
        "top": {k: round(v, 3) for k, v in top},
    }


_FINER = {"transcript": _transcript_tools, "audio": _audio_tools, "frames": _frames_tools}


def evidence_tools(evidence: Evidence) -> list[Tool]:
    """The tools over one modality's evidence: ``get_<modality>`` plus the finer ones its features allow."""
    whole = Tool(
        f"get_{evidence.modality}",
        f"The whole {evidence.modality} evidence of the clip (text and quality).",
        _NO_ARGS,
        _whole(evidence),
    )
    finer = _FINER.get(evidence.modality, lambda _: [])(evidence.features) if evidence.available else []
    return [whole, *finer]
