"""Label sets: the closed vocabularies agents must answer in, with the synonyms they tend to use.

A label set's order is canonical: it is the order of every label axis in every array, and the last
tie-breaker of fused rankings.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from saboteur.errors import SaboteurError

# Words agents use for the same emotion. A group maps onto whichever member the label set contains.
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("anger", "angry", "ang", "a"),
    ("disgust", "disgusted", "dis", "d"),
    ("fear", "fearful", "afraid", "scared", "fea", "f"),
    ("joy", "happy", "happiness", "joyful", "hap", "h"),
    ("sadness", "sad", "sorrow", "s"),
    ("surprise", "surprised", "sur"),
    ("neutral", "neutrality", "neu", "n"),
    ("worried", "worry", "anxious", "anxiety", "wor"),
    ("excited", "excitement", "exc"),
    ("frustration", "frustrated", "fru"),
    ("positive", "pos"),
    ("negative", "neg"),
)

_BUILTINS: dict[str, tuple[str, ...]] = {
    "meld": ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"),
    "iemocap": ("anger", "excited", "fear", "frustration", "happy", "neutral", "sadness", "surprise"),
    "mer": ("anger", "happy", "neutral", "sadness", "surprise", "worried"),
    "crema-d": ("anger", "disgust", "fear", "happy", "neutral", "sad"),
    "ekman": ("anger", "disgust", "fear", "happiness", "sadness", "surprise"),
    "sentiment": ("negative", "neutral", "positive"),
}


class LabelSet(BaseModel):
    """A task's closed set of labels, in canonical order, plus accepted synonyms."""

    name: str
    """Built-in name (``meld``, ``crema-d``, ...) or ``custom``."""
    labels: list[str]
    """Canonical lower-case labels; their order is the order of every label axis."""
    synonyms: dict[str, str] = Field(default_factory=dict)
    """Alias (lower-case) -> canonical label."""

    @property
    def size(self) -> int:
        """Number of labels K."""
        return len(self.labels)

    def index(self, label: str | None) -> int | None:
        """Position of ``label`` (after normalisation) in the set, or None when it is not in the set."""
        canonical = self.normalize(label)
        return None if canonical is None else self.labels.index(canonical)

    def normalize(self, label: str | None) -> str | None:
        """Canonical form of ``label``: case-insensitive match, then declared synonyms; None if unknown."""
        if label is None:
            return None
        key = label.strip().lower()
        if key in self.labels:
            return key
        return self.synonyms.get(key)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and self.normalize(label) is not None


def _synonyms_for(labels: Iterable[str]) -> dict[str, str]:
    members = set(labels)
    synonyms: dict[str, str] = {}
    for group in _SYNONYM_GROUPS:
        present = [word for word in group if word in members]
        if len(present) != 1:  # absent, or ambiguous (two members of one group are both labels)
            continue
        for word in group:
            # one-letter codes only where the set is small enough for them to be unambiguous
            if word not in members and (len(word) > 1 or len(members) <= 8):
                synonyms.setdefault(word, present[0])
    return synonyms


def make_label_set(labels: Iterable[str], name: str = "custom") -> LabelSet:
    """Build a label set from labels in the order given (lower-cased, duplicates dropped)."""
    ordered: list[str] = []
    for label in labels:
        key = label.strip().lower()
        if key and key not in ordered:
            ordered.append(key)
    if len(ordered) < 2:
        raise SaboteurError(f"a label set needs at least two labels, got {ordered or 'none'}")
    return LabelSet(name=name, labels=ordered, synonyms=_synonyms_for(ordered))


def builtin_label_sets() -> dict[str, LabelSet]:
    """All built-in label sets by name."""
    return {name: make_label_set(labels, name) for name, labels in _BUILTINS.items()}


def get_label_set(spec: str) -> LabelSet:
    """Resolve ``--labels``: a built-in name, or a comma-separated list of labels."""
    key = spec.strip().lower()
    if key in _BUILTINS:
        return make_label_set(_BUILTINS[key], key)
    if "," in key:
        return make_label_set(key.split(","))
    known = ", ".join(sorted(_BUILTINS))
    raise SaboteurError(f"unknown label set {spec!r}: use one of {known}, or a comma-separated list a,b,c")
