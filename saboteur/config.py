"""Where saboteur keeps what it computes once and reuses forever (converted weights, perception caches).

``SABOTEUR_HOME`` overrides the location; otherwise it is the platform's per-user cache folder, found the
way ``platformdirs.user_cache_dir`` finds it (XDG on Linux, ``~/Library/Caches`` on macOS,
``%LOCALAPPDATA%`` on Windows) with only ``os`` and ``pathlib``, so that no dependency is needed for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

APP_NAME = "saboteur"


def user_cache_dir(app: str = APP_NAME) -> Path:
    """The platform's per-user cache folder for ``app`` (not created)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / app / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / app
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base_path = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base_path / app


def saboteur_home() -> Path:
    """``$SABOTEUR_HOME`` if set, else the user cache folder; created on first use."""
    configured = os.environ.get("SABOTEUR_HOME", "").strip()
    home = Path(configured).expanduser() if configured else user_cache_dir()
    home.mkdir(parents=True, exist_ok=True)
    return home


def models_dir() -> Path:
    """Converted model weights (e.g. Whisper checkpoints made from CTranslate2 copies)."""
    path = saboteur_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def perception_cache_dir() -> Path:
    """Default cache of perception tool results when no run directory is given."""
    path = saboteur_home() / "perception-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


class MediaLimits(BaseModel):
    """What a media file may be before the tools refuse it (a reason, never an out-of-memory crash)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: int = Field(default=4 * 1024**3, gt=0)
    """Largest file accepted, in bytes."""
    max_duration_s: float = Field(default=3 * 3600.0, gt=0)
    """Longest audio or video accepted, in seconds."""
    max_pixels: int = Field(default=8192 * 8192, gt=0)
    """Largest frame accepted (width x height)."""
    max_side: int = Field(default=16384, gt=0)
    """Largest frame side accepted, in pixels."""
