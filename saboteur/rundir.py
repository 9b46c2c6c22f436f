"""The run directory: configuration, the append-only verdict store, and everything derived from it.

``verdicts.jsonl`` is the source of truth. Each verdict is one line, written with flush + fsync before the
writer moves on, so a crash loses at most the line being written. Reading tolerates (and reports) a torn
last line and malformed lines, and resolves duplicate agent calls deterministically: a valid verdict beats
an error verdict for the same (clip, agent, strategy, model), and among equals the earliest line wins.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field, ValidationError

from saboteur.errors import SaboteurError
from saboteur.schemas import RunConfig, Verdict

VERDICTS = "verdicts.jsonl"
RUN_JSON = "run.json"


class LoadReport(BaseModel):
    """What reading a verdict store found besides the verdicts themselves."""

    lines: int = 0
    """Non-empty lines read."""
    verdicts: int = 0
    """Verdicts kept after resolving duplicates."""
    malformed: int = 0
    """Lines that are not valid verdicts (skipped)."""
    malformed_lines: list[int] = Field(default_factory=list)
    """1-based numbers of the first malformed lines (at most 20)."""
    torn_tail: bool = False
    """True when the last line was cut off by a crash (no newline and not parseable)."""
    duplicates: int = 0
    """Verdicts dropped because another verdict for the same agent call won."""
    errors: int = 0
    """Kept verdicts that are error verdicts."""


class VerdictLoad(BaseModel):
    """Verdicts read from a store, in file order, with the report of what was skipped."""

    verdicts: list[Verdict]
    report: LoadReport


class RunDir:
    """A run directory on disk. Cheap to construct; nothing is read until asked."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- locations -------------------------------------------------------------------------------
    @property
    def verdicts_path(self) -> Path:
        """``RUN/verdicts.jsonl``."""
        return self.path / VERDICTS

    @property
    def config_path(self) -> Path:
        """``RUN/run.json``."""
        return self.path / RUN_JSON

    def subdir(self, name: str) -> Path:
        """A folder inside the run (``cache``, ``report``, ``logs``...), created on demand."""
        folder = self.path / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- configuration ---------------------------------------------------------------------------
    def exists(self) -> bool:
        """True when the directory holds a run (a run.json or a verdict store)."""
        return self.config_path.is_file() or self.verdicts_path.is_file()

    def create(self, config: RunConfig) -> None:
        """Create the directory and write ``run.json`` (refusing to clobber another run's config)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_config(config)

    def write_config(self, config: RunConfig) -> None:
        """Atomically replace ``run.json`` (write a temporary file, fsync, rename)."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(config.model_dump_json(indent=2))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.config_path)

    def read_config(self) -> RunConfig:
        """Read ``run.json``; a clear error when it is missing or broken."""
        if not self.config_path.is_file():
            raise SaboteurError(f"{self.path} is not a run directory (no {RUN_JSON})")
        try:
            return RunConfig.model_validate_json(self.config_path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise SaboteurError(
                f"{self.config_path} is not a valid run configuration: {_first_line(exc)}"
            ) from None

    def update_status(self, status: str) -> None:
        """Set ``status`` in ``run.json``."""
        config = self.read_config()
        config.status = status
        self.write_config(config)

    # -- the verdict store -----------------------------------------------------------------------
    def repair(self) -> bool:
        """Cut a torn last line (a crash mid-write) so that appends start on a fresh line.

        Returns True when something was cut. The cut bytes are kept in ``verdicts.jsonl.torn`` for audit.
        """
        path = self.verdicts_path
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 1))
            if handle.read(1) == b"\n":
                return False
            # walk back to the last newline
            position = size
            block = 65536
            last_newline = -1
            while position > 0 and last_newline < 0:
                start = max(0, position - block)
                handle.seek(start)
                chunk = handle.read(position - start)
                found = chunk.rfind(b"\n")
                if found >= 0:
                    last_newline = start + found
                position = start
            cut_from = last_newline + 1
            handle.seek(cut_from)
            torn = handle.read()
            if _parses(torn):  # a complete verdict that only lacks its newline: keep it
                handle.seek(0, os.SEEK_END)
                handle.write(b"\n")
                handle.flush()
                os.fsync(handle.fileno())
                return False
            with (self.path / (VERDICTS + ".torn")).open("ab") as keep:
                keep.write(torn + b"\n")
            handle.truncate(cut_from)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def open_writer(self) -> VerdictWriter:
        """An appender for verdicts (repairs a torn tail first). Use as a context manager."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.repair()
        return VerdictWriter(self.verdicts_path)

    def append(self, verdicts: Iterable[Verdict]) -> int:
        """Append a batch of verdicts (an import) with one fsync at the end; returns how many."""
        with self.open_writer() as writer:
            count = 0
            for verdict in verdicts:
                writer.write(verdict, sync=False)
                count += 1
            writer.sync()
        return count

    def iter_lines(self) -> Iterator[tuple[int, str, bool]]:
        """Yield (line number, text, ends with newline) for each non-empty line of the store."""
        with self.verdicts_path.open("r", encoding="utf-8", errors="replace", newline="\n") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line, line.endswith("\n")

    def load(self) -> VerdictLoad:
        """Read every verdict, tolerating a torn tail and malformed lines, resolving duplicates."""
        if not self.verdicts_path.is_file():
            if self.path.is_dir() or self.config_path.is_file():
                return VerdictLoad(verdicts=[], report=LoadReport())
            raise SaboteurError(f"{self.path} is not a run directory (no {VERDICTS})")
        report = LoadReport()
        parsed: list[Verdict] = []
        # Hundreds of thousands of small live objects make the cyclic GC rescan them over and over
        # (10x slower loads); nothing here creates cycles, so pause it while reading.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for number, line, complete in self.iter_lines():
                report.lines += 1
                try:
                    parsed.append(Verdict.model_validate_json(line))
                except ValidationError:
                    if not complete:
                        report.torn_tail = True
                        continue
                    report.malformed += 1
                    if len(report.malformed_lines) < 20:
                        report.malformed_lines.append(number)
        finally:
            if gc_was_enabled:
                gc.enable()
        verdicts, report.duplicates = resolve_duplicates(parsed)
        report.verdicts = len(verdicts)
        report.errors = sum(1 for verdict in verdicts if not verdict.ok)
        return VerdictLoad(verdicts=verdicts, report=report)

    def finished_keys(self) -> set[tuple[str, str, str, str]]:
        """Agent calls that already hold a valid verdict (what a resumed run must not repeat)."""
        return {verdict.key for verdict in self.load().verdicts if verdict.ok}


class VerdictWriter:
    """Appends verdict lines, flushed and fsynced before a write returns: a crash loses at most the lines
    of the write under way, whose verdicts no caller has yet been told are stored."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[str] | None = None

    def __enter__(self) -> VerdictWriter:
        self._handle = self._path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, verdict: Verdict, *, sync: bool = True) -> None:
        """Write one verdict; with ``sync`` (the default) it is durable before this returns."""
        self.write_all([verdict], sync=sync)

    def write_all(self, verdicts: Sequence[Verdict], *, sync: bool = True) -> None:
        """Write several verdicts; with ``sync`` they are durable, with one fsync, before this returns."""
        if self._handle is None:
            raise RuntimeError("VerdictWriter used outside its context")
        self._handle.write("".join(verdict.model_dump_json() + "\n" for verdict in verdicts))
        if sync:
            self.sync()

    def sync(self) -> None:
        """Flush and fsync what was written."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def resolve_duplicates(verdicts: list[Verdict]) -> tuple[list[Verdict], int]:
    """Keep one verdict per agent call: valid beats error, then the earliest line wins.

    Returns the kept verdicts in the order of their first appearance, and how many were dropped.
    """
    chosen: dict[tuple[str, str, str, str], int] = {}
    for position, verdict in enumerate(verdicts):
        previous = chosen.get(verdict.key)
        if previous is None or (verdict.ok and not verdicts[previous].ok):
            chosen[verdict.key] = position
    kept_positions = sorted(chosen.values())
    first_seen: dict[tuple[str, str, str, str], int] = {}
    for position, verdict in enumerate(verdicts):
        first_seen.setdefault(verdict.key, position)
    kept_positions.sort(key=lambda position: first_seen[verdicts[position].key])
    return [verdicts[position] for position in kept_positions], len(verdicts) - len(kept_positions)


def _parses(raw: bytes) -> bool:
    try:
        Verdict.model_validate(json.loads(raw.decode("utf-8")))
    except (ValueError, ValidationError, UnicodeDecodeError):
        return False
    return True


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
