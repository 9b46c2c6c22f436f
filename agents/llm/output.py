"""What a model must answer, and how its answer becomes a verdict's label, confidence and ranking.

The answer schema (:func:`answer_schema`) is sent to the server (enforced where the server can, see
``probe``); whatever comes back is parsed and validated here again, because not every server enforces it.

Normalisation, as documented for users:

- Labels: case-insensitive match to the label set, then the set's declared synonyms (``happy`` -> ``joy``
  in MELD). An unknown *primary* label is a problem the agent gets one repair round for; unknown labels in
  the ranking are dropped and listed in ``extra["dropped_labels"]``.
- Verbalised numbers are on the strategy's scale (0-100 by default) and divided by it; a non-integer value
  below 1 on a 0-100 scale is read as a fraction already. Results are clipped into [0, 1].
- Ranking: duplicates keep their first mention; the primary label is first (added with the primary
  confidence when the model left it out, or given that confidence when it disagrees), the rest follow by
  descending confidence. Confidences need not sum to 1, except for ``topk`` answers (verbalised
  probabilities), which are divided by their sum when it exceeds 1.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from saboteur.labels import LabelSet
from saboteur.schemas import LabelScore, SelfAssessment


class OutputProblem(Exception):
    """The model's answer is unusable as given: ``kind`` is ``parse``, ``schema`` or ``label``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class RawScore(BaseModel):
    """One ranked label as the model wrote it."""

    label: str
    confidence: float


class RawSelfAssessment(BaseModel):
    """The self-assessment as the model wrote it (score on the strategy's scale)."""

    score: float
    issues: list[str] = Field(default_factory=list)
    rationale: str = ""


class RawAnswer(BaseModel):
    """A model's answer before normalisation (fields as in :func:`answer_schema`)."""

    reasoning: str = ""
    label: str
    confidence: float | None = None
    ranking: list[RawScore] = Field(default_factory=list)
    self_assessment: RawSelfAssessment | None = None
    rationale: str = ""


class Answer(BaseModel):
    """A normalised answer: everything a verdict needs from one model answer."""

    label: str
    confidence: float = Field(ge=0.0, le=1.0)
    ranking: list[LabelScore]
    self_assessment: SelfAssessment | None = None
    rationale: str = ""
    dropped_labels: list[str] = Field(default_factory=list)


def answer_schema(
    labels: LabelSet,
    *,
    scale: float = 100,
    ranking: bool = True,
    top_k: int = 3,
    self_assessment: bool = True,
    reasoning: bool = False,
    text_limit: int = 80,
) -> dict[str, Any]:
    """JSON schema of an answer. ``reasoning`` puts a free-text reasoning field first (chain of thought).

    String lengths and list sizes are bounded so that a grammar-enforcing server cannot ramble.
    """
    number = {"type": "number", "minimum": 0, "maximum": scale}
    label = {"type": "string", "enum": list(labels.labels)}
    properties: dict[str, Any] = {}
    if reasoning:
        properties["reasoning"] = {"type": "string", "maxLength": 2 * text_limit}
    properties["label"] = label
    properties["confidence"] = number
    if ranking:
        properties["ranking"] = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"label": label, "confidence": number},
                "required": ["label", "confidence"],
                "additionalProperties": False,
            },
            "minItems": 1,
            "maxItems": max(1, min(top_k, labels.size)),
        }
    if self_assessment:
        properties["self_assessment"] = grade_schema(scale=scale, text_limit=text_limit)
    properties["rationale"] = {"type": "string", "maxLength": text_limit}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def grade_schema(*, scale: float = 100, text_limit: int = 80) -> dict[str, Any]:
    """JSON schema of a self-assessment: reliability score, issues, rationale."""
    return {
        "type": "object",
        "properties": {
            "score": {"type": "number", "minimum": 0, "maximum": scale},
            "issues": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 2},
            "rationale": {"type": "string", "maxLength": text_limit},
        },
        "required": ["score", "issues", "rationale"],
        "additionalProperties": False,
    }


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in a model's reply: the whole reply, else the object starting at its first brace."""
    if not text or not text.strip():
        raise OutputProblem("parse", "the reply was empty")
    stripped = _FENCE.sub("", text.strip())
    decoder = json.JSONDecoder(strict=False)  # raw newlines inside strings: small models write them
    try:
        value = decoder.decode(stripped)
    except ValueError:
        # prose around the object: decode from its first brace only, so that a cut-off answer is an
        # error rather than one of its inner objects (a ranking item) taken for the answer
        start = stripped.find("{")
        try:
            value = decoder.raw_decode(stripped, start)[0] if start >= 0 else None
        except ValueError:
            raise OutputProblem("parse", "the reply was not a complete JSON object") from None
    if not isinstance(value, dict):
        raise OutputProblem("parse", "the reply was not a JSON object")
    return value


def to_unit(value: float | None, scale: float) -> float:
    """A verbalised number on ``scale`` as a value in [0, 1] (fractions on a 0-100 scale are kept)."""
    if value is None or not math.isfinite(value):
        return 0.0
    unit = value if scale > 1 and 0 < value < 1 and value != int(value) else value / scale
    return min(1.0, max(0.0, unit))


def parse_answer(text: str | None) -> RawAnswer:
    """Parse and schema-check a reply; raises :class:`OutputProblem` (``parse`` or ``schema``)."""
    data = parse_json_object(text)
    try:
        return RawAnswer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        raise OutputProblem("schema", f"{where}: {first['msg']}") from None


def parse_grade(text: str | None, scale: float) -> SelfAssessment:
    """Parse a separate grading reply into a self-assessment in [0, 1]."""
    data = parse_json_object(text)
    try:
        raw = RawSelfAssessment.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OutputProblem("schema", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return SelfAssessment(score=to_unit(raw.score, scale), issues=raw.issues[:5], rationale=raw.rationale)


def normalize_answer(raw: RawAnswer, labels: LabelSet, *, scale: float = 100, topk: bool = False) -> Answer:
    """Normalise a parsed answer (see the module docstring); an unknown label raises ``OutputProblem``."""
    primary = labels.normalize(raw.label)
    if primary is None:
        raise OutputProblem("label", f"{raw.label!r} is not one of the labels")
    dropped: list[str] = []
    ranked: dict[str, float] = {}
    for item in raw.ranking:
        canonical = labels.normalize(item.label)
        if canonical is None:
            dropped.append(item.label)
        elif canonical not in ranked:
            ranked[canonical] = to_unit(item.confidence, scale)
    if raw.confidence is not None:
        confidence = to_unit(raw.confidence, scale)
    elif primary in ranked:
        confidence = ranked[primary]
    else:
        raise OutputProblem("schema", "confidence: the answer gives no confidence for its label")
    ranked[primary] = confidence
    if topk:
        total = sum(ranked.values())
        if total > 1.0:
            ranked = {label: value / total for label, value in ranked.items()}
            confidence = ranked[primary]
    others = sorted((label for label in ranked if label != primary), key=lambda label: -ranked[label])
    ranking = [LabelScore(label=label, confidence=ranked[label]) for label in [primary, *others]]
    assessment = None
    if raw.self_assessment is not None:
        assessment = SelfAssessment(
            score=to_unit(raw.self_assessment.score, scale),
            issues=raw.self_assessment.issues[:5],
            rationale=raw.self_assessment.rationale,
        )
    rationale = raw.rationale or raw.reasoning
    return Answer(
        label=primary,
        confidence=confidence,
        ranking=ranking,
        self_assessment=assessment,
        rationale=rationale,
        dropped_labels=dropped,
    )


def repair_prompt(problem: OutputProblem, labels: LabelSet) -> str:
    """The user message of the one repair round: what was wrong, and what a valid answer looks like."""
    allowed = ", ".join(labels.labels)
    if problem.kind == "label":
        return f"Your label {problem} Answer again with the same JSON fields, using one of: {allowed}."
    return (
        f"Your reply could not be used ({problem}). Reply again with only the JSON object; labels: {allowed}."
    )


def label_probabilities(top: list[tuple[str, float]], labels: LabelSet) -> dict[str, float]:
    """Probability mass per label from the first answer token's top candidates (not renormalised).

    A token counts for the labels it starts (case-insensitive, leading spaces ignored), or for the label
    it is a synonym of; a token that starts several labels (``s`` of sadness and surprise) is split evenly
    between them. Tokens that start no label are ignored.
    """
    mass = dict.fromkeys(labels.labels, 0.0)
    for token, logprob in top:
        piece = token.strip().lower()
        if not piece or not math.isfinite(logprob):
            continue
        matches = [label for label in labels.labels if label.startswith(piece)]
        if not matches:
            synonym = labels.normalize(piece)
            matches = [synonym] if synonym is not None and len(piece) > 1 else []
        for label in matches:
            mass[label] += math.exp(logprob) / len(matches)
    return mass
