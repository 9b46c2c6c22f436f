"""Tool results cached by media content hash + tool name + tool version + parameters.

Expensive once, cheap forever: a clip perceived again (same bytes, same tool version, same parameters)
costs a file read. Entries are JSON Evidence written atomically (temporary file + rename), so a crash
never leaves a torn entry; an unreadable entry is treated as a miss. Only available evidence is stored:
failures are cheap to reproduce, and a fixed environment (an installed package) must not stay failed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from saboteur.config import perception_cache_dir
from saboteur.schemas import Evidence


def cache_key(media_sha256: str, tool: str, version: str, params: dict[str, Any]) -> str:
    """Hex key of one tool result (parameters in canonical JSON, so their order does not matter)."""
    payload = json.dumps(
        {"media": media_sha256, "tool": tool, "version": version, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ToolCache:
    """A folder of cached Evidence: ``ROOT/<tool>/<key[:2]>/<key>.json``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else perception_cache_dir()

    def _path(self, tool: str, key: str) -> Path:
        return self.root / tool / key[:2] / f"{key}.json"

    def get(self, tool: str, key: str) -> Evidence | None:
        """The cached evidence, or None (missing or unreadable entry)."""
        path = self._path(tool, key)
        try:
            return Evidence.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, ValueError):
            return None

    def put(self, tool: str, key: str, evidence: Evidence) -> None:
        """Store available evidence atomically (unavailable evidence is not cached)."""
        if not evidence.available:
            return
        path = self._path(tool, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(evidence.model_dump_json())
        os.replace(tmp, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.rglob("*.json")) if self.root.is_dir() else 0
