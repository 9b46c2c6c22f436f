"""The response cache: every successful model call is stored under the run directory, keyed by what made it.

The key is a SHA-256 of the server identity, the model, the strategy tag, the messages and every request
parameter, so re-running the same agents on the same evidence costs no model calls, while changing any of
these (a new prompt, another temperature, another sample seed) asks the model again. One JSON file per
key, written atomically, so concurrent writers and crashes never leave a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def cache_key(
    server: str, model: str, tag: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> str:
    """Hex digest identifying one call: server, model, strategy tag, messages and parameters."""
    payload = {
        "server": server,
        "model": model,
        "tag": tag,
        "messages": list(messages),
        "params": dict(params),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """A folder of cached responses (``RUN/cache/llm`` in a run), one ``<key>.json`` per call."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.hits = 0
        """Lookups answered from the cache since this object was made."""
        self.misses = 0
        """Lookups that found nothing."""

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, or None (an unreadable entry counts as missing)."""
        path = self._path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(record, dict):
            self.misses += 1
            return None
        self.hits += 1
        return record

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` under ``key`` atomically (temporary file, then rename)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(dict(record), out, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*/*.json")) if self.folder.is_dir() else 0
