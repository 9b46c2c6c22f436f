"""The audio description tool: prosody numbers + YAMNet sound tags -> features and one concise sentence.

The sentence is what the audio agent reads ("mid-pitched, monotone speech at a normal rate (2.6 words/s);
falling pitch at the end; sounds: speech 0.0-3.8 s, laughter 2.4-3.4 s"); the numbers stay in
``features`` for tools that want them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.prosody import SILENCE_DBFS, peak_dbfs, prosody_features
from saboteur.agents.perception.yamnet import clip_scores, load_yamnet, sound_events, sound_scores

if TYPE_CHECKING:
    from numpy.typing import NDArray

VERSION = "1"
"""Part of every cached audio description's key: bump when the output changes."""

TAG_THRESHOLD = 0.3


def _fmt_time(start: float, end: float) -> str:
    return f"{start:.1f}-{end:.1f} s"


def describe_voice(p: dict[str, float | None]) -> str:
    """A short phrase for the voice's prosody (empty when nothing was voiced)."""
    parts: list[str] = []
    median = p.get("pitch_median_hz")
    if median is not None:
        parts.append("low-pitched" if median < 110 else "high-pitched" if median > 200 else "mid-pitched")
    spread = p.get("pitch_std_st")
    if spread is not None:
        parts.append("monotone" if spread < 1.5 else "very expressive" if spread > 4.0 else "varied-pitch")
    loudness = p.get("loudness_dbfs")
    if loudness is not None:
        parts.append("quiet" if loudness < -35 else "loud" if loudness > -16 else "moderately loud")
    phrase = ", ".join(parts)
    wps = p.get("words_per_s")
    if wps is not None:
        pace = "slow" if wps < 2.0 else "fast" if wps > 3.5 else "normal-rate"
        phrase = f"{phrase} {pace} speech ({wps:.1f} words/s)" if phrase else f"{pace} speech"
    elif median is not None:
        phrase = f"{phrase} voice" if phrase else "voice"
    details: list[str] = []
    if (p.get("loudness_std_db") or 0.0) > 9.0:
        details.append("strong loudness changes")
    end = p.get("pitch_end_slope_st_per_s")
    if end is not None and abs(end) >= 4.0:
        details.append(f"{'rising' if end > 0 else 'falling'} pitch at the end")
    count = int(p.get("pause_count") or 0)
    if count:
        at = p.get("longest_pause_at_s")
        details.append(
            f"{count} pause{'s' if count > 1 else ''} (longest {p.get('longest_pause_s'):.1f} s"
            + (f" at {at:.1f} s)" if at is not None else ")")
        )
    if (p.get("spectral_flatness") or 0.0) > 0.3:
        details.append("breathy or noisy voice quality")
    return "; ".join([phrase, *details]) if phrase else "; ".join(details)


def describe_sounds(tags: list[dict[str, Any]]) -> str:
    """'sounds: speech 0.0-3.8 s, laughter 2.4-3.4 s' from YAMNet events (strongest run per label)."""
    best: dict[str, dict[str, Any]] = {}
    for tag in tags:
        if tag["label"] not in best or tag["score"] > best[tag["label"]]["score"]:
            best[tag["label"]] = tag
    ordered = sorted(best.values(), key=lambda t: (t["start"], -t["score"]))
    items = [f"{t['label'].lower()} {_fmt_time(t['start'], t['end'])}" for t in ordered[:6]]
    return "sounds: " + ", ".join(items) if items else ""


def audio_quality(p: dict[str, float | None]) -> float:
    """Trust in the description: full from -30 dBFS up, none at -55 dBFS; and at least 1 s of sound."""
    loudness = p.get("loudness_dbfs")
    if loudness is None:
        return 0.0
    level = float(np.clip((loudness + 55.0) / 25.0, 0.0, 1.0))
    length = float(np.clip((p.get("active_s") or 0.0) / 1.0, 0.0, 1.0))
    return round(level * length, 4)


def describe_audio(
    samples: NDArray[np.float32], sample_rate: int = 16_000, words: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``audio`` features of the Evidence contract: {prosody, tags, description} (+ clip-level tags)."""
    prosody = prosody_features(samples, sample_rate, words)
    scores = sound_scores(samples)
    labels = load_yamnet().labels
    tags = sound_events(scores, labels, threshold=TAG_THRESHOLD)
    silent = peak_dbfs(samples) < SILENCE_DBFS
    if silent:
        description = f"silence (peak level {prosody['peak_dbfs']:.0f} dBFS)"
    else:
        voice = describe_voice(prosody)
        sounds = describe_sounds(tags)
        description = "; ".join(part for part in (voice, sounds) if part) or "no distinct sound"
    return {
        "prosody": prosody,
        "tags": tags,
        "clip_tags": clip_scores(scores, labels),
        "description": description,
        "quality": 0.0 if silent else audio_quality(prosody),
    }
