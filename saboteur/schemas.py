"""The vocabulary every part of saboteur speaks: the records that cross a boundary.

A verdict line in ``RUN/verdicts.jsonl`` is a :class:`Verdict`; the run's configuration in ``RUN/run.json``
is a :class:`RunConfig`; what a perception tool hands an agent is :class:`Evidence`. Field names follow
``contract.md`` and must not be renamed: users' scripts read them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def utc_now() -> datetime:
    """Timestamp used for ``created_at`` fields (timezone-aware, UTC)."""
    return datetime.now(UTC)


class LabelScore(BaseModel):
    """One candidate label with the agent's confidence in it."""

    model_config = ConfigDict(extra="ignore")

    label: str
    """Label name, normalised to the task's label set where one is known."""
    confidence: float = Field(ge=0.0, le=1.0)
    """Confidence in [0, 1]; the confidences of a ranking need not sum to 1."""


class SelfAssessment(BaseModel):
    """The agent's own judgement of how reliable its evidence and answer are."""

    model_config = ConfigDict(extra="ignore")

    score: float = Field(ge=0.0, le=1.0)
    """Self-assessed reliability in [0, 1] (the paper's data-quality score / 100)."""
    issues: list[str] = Field(default_factory=list)
    """Problems the agent saw in its evidence ("limited context", "no face found", ...)."""
    rationale: str = ""
    """Why the agent gave that score."""


class Usage(BaseModel):
    """What producing a verdict cost."""

    model_config = ConfigDict(extra="ignore")

    prompt_tokens: int = 0
    """Prompt tokens over all calls made for this verdict."""
    completion_tokens: int = 0
    """Completion tokens over all calls made for this verdict."""
    latency_s: float = 0.0
    """Wall time spent waiting for the model, in seconds."""
    calls: int = 0
    """Number of model calls (0 for imported or cached verdicts)."""


class Verdict(BaseModel):
    """One agent's structured answer for one clip: a line of ``verdicts.jsonl``.

    An agent that failed still leaves a verdict, with ``error`` set and ``label`` null, so that nothing is
    silently dropped; statistics treat such an agent as absent for that clip.
    """

    model_config = ConfigDict(extra="ignore")

    clip_id: str
    """Identifier of the clip (manifest row)."""
    modality: str
    """Agent name: ``transcript``, ``audio``, ``frames``, ``joint``, or an imported one (``T``, ``voice``)."""
    strategy: str = "default"
    """Prompting strategy that produced the verdict (``zero_shot``, ``cot``, ..., or ``imported``)."""
    model: str = "unknown"
    """Model that produced the verdict."""
    label: str | None = None
    """Primary label, from the task's label set; null for error verdicts."""
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    """Confidence in the primary label, in [0, 1]."""
    ranking: list[LabelScore] = Field(default_factory=list)
    """Candidate labels, best first."""
    self_assessment: SelfAssessment | None = None
    """The agent's assessment of its own reliability; null when the agent gave none."""
    rationale: str = ""
    """The agent's reasoning for its answer."""
    truth: str | None = None
    """Ground-truth label of the clip, when known."""
    error: str | None = None
    """Why no valid answer was produced; null for a valid verdict."""
    usage: Usage = Field(default_factory=Usage)
    """Tokens, latency and calls spent on this verdict."""
    created_at: datetime = Field(default_factory=utc_now)
    """When the verdict was written."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Free-form metadata kept from importers or agents (e.g. the authors' fused prediction)."""

    @field_validator("ranking")
    @classmethod
    def _unique_ranking(cls, ranking: list[LabelScore]) -> list[LabelScore]:
        """Keep the first occurrence of each label: a ranking names a label at most once."""
        seen: set[str] = set()
        unique = []
        for item in ranking:
            if item.label not in seen:
                seen.add(item.label)
                unique.append(item)
        return unique

    @model_validator(mode="after")
    def _label_or_error(self) -> Verdict:
        if self.error is None and self.label is None:
            raise ValueError("a verdict without an error must have a label")
        return self

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of the agent call that produced this verdict: (clip, agent, strategy, model)."""
        return (self.clip_id, self.modality, self.strategy, self.model)

    @property
    def ok(self) -> bool:
        """True for a valid (non-error) verdict."""
        return self.error is None


class Evidence(BaseModel):
    """What a perception tool produced for one clip and modality, as the agent will see it."""

    model_config = ConfigDict(extra="ignore")

    modality: str
    """Which modality this evidence belongs to (``transcript``, ``audio``, ``frames``)."""
    text: str = ""
    """Text handed to the agent (transcript, audio description, frame captions)."""
    features: dict[str, Any] = Field(default_factory=dict)
    """Structured features behind the text (prosody numbers, expression probabilities, segments)."""
    quality: float = Field(default=1.0, ge=0.0, le=1.0)
    """How trustworthy the tool thinks its own output is, in [0, 1]."""
    available: bool = True
    """False when the tool could not produce evidence (no audio stream, corrupt file, ...)."""
    reason: str | None = None
    """Why the evidence is unavailable or degraded."""


class Clip(BaseModel):
    """One manifest row: what is known about a clip before any model runs."""

    model_config = ConfigDict(extra="ignore")

    clip_id: str
    """Unique identifier of the clip within the manifest."""
    media: str | None = None
    """Path to a video or audio file, relative to the manifest."""
    transcript: str | None = None
    """Precomputed transcript; the transcript agent then skips its tools."""
    audio_description: str | None = None
    """Precomputed description of the voice; the audio agent then skips its tools."""
    visual_description: str | None = None
    """Precomputed description of the frames; the frames agent then skips its tools."""
    label: str | None = None
    """Ground-truth label, when known."""


class RunConfig(BaseModel):
    """Configuration and status of a run, stored as ``RUN/run.json`` (never holds secrets)."""

    model_config = ConfigDict(extra="allow")

    label_set: str
    """Name of the label set (a built-in name or ``custom``)."""
    labels: list[str]
    """The labels themselves, in canonical order (this order breaks the last ties)."""
    modalities: list[str] = Field(default_factory=list)
    """Agents of the run, in fusion order (ties keep this order)."""
    strategies: list[str] = Field(default_factory=list)
    """Prompting strategies used (``imported`` for imported runs)."""
    models: list[str] = Field(default_factory=list)
    """Models used."""
    base_url: str | None = None
    """Backend URL without credentials."""
    source: str = "saboteur"
    """Where the verdicts came from: ``saboteur`` for agent runs, or an importer name."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Versions of saboteur and key dependencies at creation time."""
    status: str = "created"
    """``created``, ``running``, ``complete``, ``interrupted`` or ``imported``."""
    created_at: datetime = Field(default_factory=utc_now)
    """When the run directory was created."""
    notes: dict[str, Any] = Field(default_factory=dict)
    """Importer reports and other free-form facts about the run."""
