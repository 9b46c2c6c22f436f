"""Prompting strategies as data: a template file plus TOML metadata each, found in prompts/ folders.

A strategy is ``NAME.toml`` (how confidence is elicited, sampling parameters, few-shot examples) beside
``NAME.md`` (the template: a ``[system]`` and a ``[user]`` section, optionally ``[grader_system]`` and
``[grader_user]`` for a separate self-assessment call). A user adds one by dropping both files into the
package's ``prompts/`` folder or into a folder named in ``SABOTEUR_PROMPTS`` (``os.pathsep``-separated; a
user's file with a built-in's name replaces it). Templates use ``string.Template`` placeholders:

- ``$labels`` (comma-separated label set), ``$modality`` (what the evidence is), ``$scale`` (top of the
  confidence scale), ``$top_k``: allowed everywhere;
- ``$evidence`` (the clip's delimited data blocks), ``$examples`` (few-shot examples, themselves data
  blocks), ``$answer`` (the first answer, for graders): user sections only. Media text never goes into a
  system message: a system section naming one of these is refused when the strategy is loaded.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import tomllib
from collections.abc import Iterable, Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from saboteur.errors import SaboteurError
from saboteur.labels import LabelSet

ConfidenceMode = Literal["verbalized", "topk", "votes", "logprob"]
_SECTION = re.compile(r"^\[(system|user|grader_system|grader_user)\]\s*$", re.MULTILINE)
_USER_ONLY = {"evidence", "examples", "answer"}
_ALLOWED = {"labels", "modality", "scale", "top_k"} | _USER_ONLY
_GRADER_FILE = "_grader.md"


class Sampling(BaseModel):
    """Sampling parameters of every call a strategy makes."""

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    """Base seed; sample i of a multi-sample strategy uses seed + i."""


class Strategy(BaseModel):
    """A prompting strategy: templates plus how it elicits confidence and self-assessment."""

    name: str
    description: str = ""
    confidence: ConfidenceMode = "verbalized"
    """``verbalized`` (a number per label), ``topk`` (top-k verbalised probabilities), ``votes`` (vote
    shares over ``samples`` answers), ``logprob`` (the label tokens' probabilities)."""
    self_assessment: Literal["inline", "separate"] = "inline"
    """Inline in the answer, or from a second call that grades the first answer."""
    reasoning: bool = False
    """Ask for free-text reasoning before the label (chain of thought)."""
    examples: int = Field(default=0, ge=0)
    """Few-shot examples taken from the label set's pool (``prompts/pools/<label set>.jsonl``)."""
    examples_as: Literal["inline", "turns"] = "inline"
    """Examples inside the user message, or as earlier user/assistant turns."""
    samples: int = Field(default=1, ge=1)
    """Answers drawn per clip (``votes``)."""
    top_k: int = Field(default=3, ge=1)
    """Candidate labels asked for in the ranking."""
    scale: float = Field(default=100.0, gt=0.0)
    """Top of the verbalised confidence scale."""
    text_limit: int = Field(default=80, ge=20)
    """Longest rationale (characters) the answer schema allows."""
    sampling: Sampling = Field(default_factory=Sampling)
    grader_max_tokens: int = Field(default=96, ge=16)
    """Token budget of the separate grading call."""
    system: str
    user: str
    grader_system: str = ""
    grader_user: str = ""
    source: str = ""
    """File the strategy was loaded from."""


class Example(BaseModel):
    """One few-shot example of a pool."""

    text: str
    label: str
    modality: str = "transcript"
    source: str = ""


def builtin_dir() -> Path:
    """The package's own ``prompts/`` folder."""
    with as_file(files("saboteur.prompts")) as path:
        return Path(path)


def strategy_dirs(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Folders searched for strategies, lowest priority first: built-ins, ``SABOTEUR_PROMPTS``, ``extra``."""
    folders = [builtin_dir()]
    env = os.environ.get("SABOTEUR_PROMPTS", "")
    folders += [Path(item) for item in env.split(os.pathsep) if item]
    folders += [Path(item) for item in extra]
    return folders


def _sections(text: str, path: Path, required: tuple[str, str] = ("system", "user")) -> dict[str, str]:
    parts = _SECTION.split(text)
    found = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if any(name not in found for name in required):
        raise SaboteurError(f"{path}: a template needs a {required[0]} and a {required[1]} section")
    return found


def _check_placeholders(name: str, section: str, template: str) -> None:
    used = {m[1] or m[2] for m in string.Template.pattern.findall(template) if m[1] or m[2]}
    unknown = used - _ALLOWED
    if unknown:
        raise SaboteurError(
            f"strategy {name}: unknown placeholder ${sorted(unknown)[0]} in its {section} section"
        )
    if section.endswith("system") and used & _USER_ONLY:
        raise SaboteurError(
            f"strategy {name}: ${sorted(used & _USER_ONLY)[0]} may not appear in its {section} section "
            "(media text goes in the user message only)"
        )


def load_strategy(meta_path: Path) -> Strategy:
    """Read one ``NAME.toml`` and its template; a clear error for anything malformed."""
    name = meta_path.stem
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SaboteurError(f"{meta_path}: {exc}") from None
    template_path = meta_path.parent / str(meta.pop("template", f"{name}.md"))
    if not template_path.is_file():
        raise SaboteurError(f"strategy {name}: template {template_path} is missing")
    sections = _sections(template_path.read_text(encoding="utf-8"), template_path)
    if "grader_system" not in sections:
        grader = meta_path.parent / _GRADER_FILE
        grader = grader if grader.is_file() else builtin_dir() / _GRADER_FILE
        graders = _sections(grader.read_text(encoding="utf-8"), grader, ("grader_system", "grader_user"))
        sections.update({key: value for key, value in graders.items() if key.startswith("grader")})
    for section, text in sections.items():
        _check_placeholders(name, section, text)
    try:
        return Strategy.model_validate({**meta, **sections, "name": name, "source": str(meta_path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SaboteurError(f"{meta_path}: {where}: {first['msg']}") from None


def load_strategies(extra: Iterable[str | os.PathLike[str]] = ()) -> dict[str, Strategy]:
    """Every strategy in the strategy folders, by name (later folders override earlier ones)."""
    found: dict[str, Strategy] = {}
    for folder in strategy_dirs(extra):
        for meta_path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            if not meta_path.name.startswith("_"):
                found[meta_path.stem] = load_strategy(meta_path)
    return dict(sorted(found.items()))


def get_strategy(name: str, extra: Iterable[str | os.PathLike[str]] = ()) -> Strategy:
    """One strategy by name; the error lists the known ones."""
    strategies = load_strategies(extra)
    if name not in strategies:
        raise SaboteurError(f"unknown strategy {name!r}: use one of {', '.join(strategies)}")
    return strategies[name]


def load_pool(labels: LabelSet, extra: Iterable[str | os.PathLike[str]] = ()) -> list[Example]:
    """The few-shot pool of a label set (``pools/<name>.jsonl``, the last folder that has one wins)."""
    path = None
    for folder in strategy_dirs(extra):
        candidate = folder / "pools" / f"{labels.name}.jsonl"
        if candidate.is_file():
            path = candidate
    if path is None:
        raise SaboteurError(
            f"no few-shot pool for label set {labels.name!r}: add pools/{labels.name}.jsonl to prompts/"
        )
    pool: list[Example] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            example = Example.model_validate(json.loads(line))
        except (ValueError, ValidationError):
            raise SaboteurError(f"{path}:{number}: not a pool entry {{text, label}}") from None
        canonical = labels.normalize(example.label)
        if canonical is None:
            raise SaboteurError(f"{path}:{number}: label {example.label!r} is not in {labels.name}")
        pool.append(example.model_copy(update={"label": canonical}))
    return pool


def pick_examples(pool: Sequence[Example], labels: LabelSet, count: int, modality: str) -> list[Example]:
    """``count`` examples for ``modality``, label-balanced (round robin over labels, pool order within a
    label), then shuffled with a fixed seed so that no label is always last."""
    by_label = {
        label: [e for e in pool if e.label == label and e.modality == modality] for label in labels.labels
    }
    chosen: list[Example] = []
    depth = 0
    while len(chosen) < count and any(len(items) > depth for items in by_label.values()):
        for label in labels.labels:
            if len(chosen) < count and len(by_label[label]) > depth:
                chosen.append(by_label[label][depth])
        depth += 1
    if count and not chosen:
        raise SaboteurError(f"the {labels.name} few-shot pool has no {modality} examples")
    random.Random(0).shuffle(chosen)
    return chosen


def render(template: str, **values: object) -> str:
    """Fill a template's placeholders (all validated at load time)."""
    return (
        string.Template(template).safe_substitute({key: str(value) for key, value in values.items()}).strip()
    )
