"""Optional on-screen text (OCR) with RapidOCR's ONNX models, which ship inside its PyPI wheel.

Off by default: reading text costs about 0.5 s per frame on two CPU cores and most clips show none. What it
reads is media content like the transcript, so it only ever reaches an agent inside the Evidence (the
delimited data blocks), never as an instruction.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.deps import require

if TYPE_CHECKING:
    from numpy.typing import NDArray

MIN_SCORE = 0.5
"""Recognitions less confident than this are dropped (mostly texture read as letters)."""

_LOCK = threading.Lock()
"""One recognition at a time on the shared engine."""


@functools.cache
def _engine() -> Any:
    module = require("rapidocr_onnxruntime", "on-screen text (--ocr)")
    return module.RapidOCR()


def read_text(images: list[NDArray[np.uint8]], times: list[float]) -> list[dict[str, Any]]:
    """Text lines found in RGB frames: ``[{"t", "text", "score"}]`` in time order, best first per frame."""
    found: list[dict[str, Any]] = []
    with _LOCK:
        engine = _engine()
        for image, t in zip(images, times, strict=True):
            # RapidOCR expects OpenCV's BGR order
            result, _ = engine(np.ascontiguousarray(image[..., ::-1]))
            lines = [
                {"t": round(t, 3), "text": str(text).strip(), "score": round(float(score), 4)}
                for _, text, score in result or []
                if float(score) >= MIN_SCORE and str(text).strip()
            ]
            found.extend(sorted(lines, key=lambda row: -row["score"]))
    return found
