"""Manifests: the clips of a run, read as a stream (CSV or JSONL), checked row by row.

A bad row never stops the others: it is reported (``ManifestIssue``) and skipped, or kept with the
problem recorded so that the agents see unavailable evidence and store an explained error verdict.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from saboteur.errors import SaboteurError
from saboteur.schemas import Clip

KNOWN_COLUMNS = {"clip_id", "media", "transcript", "audio_description", "visual_description", "label"}
PRECOMPUTED = {"transcript": "transcript", "audio": "audio_description", "frames": "visual_description"}
"""Modality -> manifest column whose text makes that agent skip its perception tools."""


class ManifestIssue(BaseModel):
    """A problem found in one manifest row."""

    row: int
    """1-based row number (the header of a CSV is row 1)."""
    clip_id: str | None
    problem: str
    skipped: bool
    """True when the row was dropped; False when the clip runs with the problem recorded."""


class ManifestClip(BaseModel):
    """A clip with its media resolved against the manifest's folder."""

    clip: Clip
    media_path: Path | None = None
    """Absolute path of the media file, when one is given."""
    problems: list[str] = Field(default_factory=list)
    """Problems the agents should know about (missing file, path outside the manifest folder)."""


class ManifestReader:
    """Iterates over a manifest's clips, collecting issues as it goes (never loads the file whole)."""

    def __init__(self, path: str | os.PathLike[str], max_media_bytes: int = 2 * 1024**3) -> None:
        self.path = Path(path)
        self.max_media_bytes = max_media_bytes
        self.issues: list[ManifestIssue] = []
        self.unknown_columns: set[str] = set()
        self._seen: set[str] = set()
        if not self.path.is_file():
            raise SaboteurError(f"manifest {self.path} does not exist")
        if self.path.suffix.lower() not in (".csv", ".jsonl", ".json", ".ndjson"):
            raise SaboteurError(f"manifest {self.path}: expected a .csv or .jsonl file")

    def __iter__(self) -> Iterator[ManifestClip]:
        for row_number, raw in self._rows():
            item = self._check(row_number, raw)
            if item is not None:
                yield item

    def count(self) -> int:
        """Number of data rows (a quick pass without validation, for progress bars)."""
        with self.path.open("rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        return max(0, lines - 1) if self.path.suffix.lower() == ".csv" else lines

    def _rows(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        try:
            with self.path.open("r", encoding="utf-8-sig", newline="") as handle:
                if self.path.suffix.lower() == ".csv":
                    reader = csv.DictReader(handle)
                    if not reader.fieldnames or "clip_id" not in reader.fieldnames:
                        raise SaboteurError(f"manifest {self.path}: the CSV header has no clip_id column")
                    self.unknown_columns = set(reader.fieldnames) - KNOWN_COLUMNS
                    for number, row in enumerate(reader, start=2):
                        yield number, dict(row)
                else:
                    for number, line in enumerate(handle, start=1):
                        if not line.strip():
                            continue
                        try:
                            data = json.loads(line)
                        except json.JSONDecodeError:
                            yield number, None
                            continue
                        if isinstance(data, dict):
                            self.unknown_columns |= set(data) - KNOWN_COLUMNS
                        yield number, data if isinstance(data, dict) else None
        except UnicodeDecodeError:
            raise SaboteurError(f"manifest {self.path} is not UTF-8 text") from None
        except csv.Error as exc:
            raise SaboteurError(f"manifest {self.path}: unreadable CSV ({exc})") from None

    def _issue(self, row: int, clip_id: str | None, problem: str, skipped: bool) -> None:
        self.issues.append(ManifestIssue(row=row, clip_id=clip_id, problem=problem, skipped=skipped))

    def _check(self, row: int, raw: dict[str, Any] | None) -> ManifestClip | None:
        if raw is None:
            self._issue(row, None, "unreadable row (not a JSON object)", skipped=True)
            return None
        values = {
            k: (str(v).strip() if v is not None else None) for k, v in raw.items() if k in KNOWN_COLUMNS
        }
        values = {k: v for k, v in values.items() if v}
        clip_id = values.get("clip_id")
        if not clip_id:
            self._issue(row, None, "no clip_id", skipped=True)
            return None
        if clip_id in self._seen:
            self._issue(row, clip_id, "duplicate clip_id (the first row with it is used)", skipped=True)
            return None
        self._seen.add(clip_id)
        try:
            clip = Clip.model_validate(values)
        except ValidationError as exc:
            self._issue(row, clip_id, f"invalid row: {exc.errors()[0]['msg']}", skipped=True)
            return None
        item = ManifestClip(clip=clip)
        if clip.media:
            media = Path(clip.media)
            resolved = (media if media.is_absolute() else self.path.parent / media).resolve()
            item.media_path = resolved
            if not resolved.is_relative_to(self.path.parent.resolve()):
                item.problems.append(f"media {clip.media} lies outside the manifest's folder")
                self._issue(row, clip_id, item.problems[-1] + " (allowed)", skipped=False)
            if not resolved.is_file():
                item.problems.append(f"media file {clip.media} not found")
                self._issue(row, clip_id, item.problems[-1], skipped=False)
            elif resolved.stat().st_size > self.max_media_bytes:
                item.problems.append(
                    f"media file {clip.media} is larger than the limit ({self.max_media_bytes} bytes)"
                )
                self._issue(row, clip_id, item.problems[-1], skipped=False)
        if not clip.media and not any(values.get(column) for column in PRECOMPUTED.values()):
            item.problems.append("no media and no precomputed perception text")
            self._issue(row, clip_id, item.problems[-1], skipped=False)
        return item
