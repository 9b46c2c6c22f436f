"""What an import did: counts, skipped records with reasons, labels outside the set."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from saboteur.labels import LabelSet
from saboteur.schemas import Verdict

_MAX_EXAMPLES = 20


class ImportReport(BaseModel):
    """Summary of one import, stored in ``run.json`` and printed by ``saboteur import``."""

    source: str = ""
    samples: int = 0
    """Samples (clips) read."""
    verdicts: int = 0
    """Verdicts written (error verdicts included)."""
    errors: int = 0
    """Error verdicts among them (agents that failed)."""
    skipped_samples: int = 0
    """Malformed samples skipped whole."""
    skipped_results: int = 0
    """Malformed agent results skipped inside otherwise good samples."""
    problems: list[str] = Field(default_factory=list)
    """The first problems found, "where: why"."""
    labels: list[str] = Field(default_factory=list)
    """The label set the run uses."""
    unknown_labels: dict[str, int] = Field(default_factory=dict)
    """Labels outside the label set (after case and synonym matching), with counts."""

    def skip_sample(self, where: str, why: str) -> None:
        """Record a malformed sample."""
        self.skipped_samples += 1
        self._problem(where, why)

    def skip_result(self, where: str, why: str) -> None:
        """Record a malformed agent result."""
        self.skipped_results += 1
        self._problem(where, why)

    def _problem(self, where: str, why: str) -> None:
        if len(self.problems) < _MAX_EXAMPLES:
            self.problems.append(f"{where}: {why}")

    def note_labels(self, verdicts: Iterable[Verdict], label_set: LabelSet) -> None:
        """Count labels (truths, primaries, ranked labels) that the label set does not know."""
        unknown: Counter[str] = Counter()
        for verdict in verdicts:
            used = [verdict.truth, verdict.label, *(item.label for item in verdict.ranking)]
            unknown.update(label for label in used if label is not None and label not in label_set)
        self.labels = list(label_set.labels)
        self.unknown_labels = dict(unknown.most_common())
