"""From a run directory to a VerdictTable: the one door every statistic comes in through."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from saboteur.errors import SaboteurError
from saboteur.eval.table import VerdictTable
from saboteur.labels import LabelSet, make_label_set
from saboteur.rundir import LoadReport, RunDir
from saboteur.schemas import Verdict


@dataclass(frozen=True)
class LoadedRun:
    """A run's verdicts as a table, with what reading the store reported."""

    table: VerdictTable
    report: LoadReport
    run: RunDir
    verdicts: list[Verdict] = field(default_factory=list)
    """Every verdict read (duplicates resolved), for studies that need fields the table drops."""


def run_label_set(run: RunDir) -> LabelSet:
    """The label set recorded in ``run.json``."""
    config = run.read_config()
    return make_label_set(config.labels, config.label_set)


def load_table(
    run: str | os.PathLike[str] | RunDir,
    *,
    agents: Sequence[str] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    labels: LabelSet | None = None,
) -> LoadedRun:
    """Read ``RUN/verdicts.jsonl`` and build the table (agents in the run's fusion order)."""
    run_dir = run if isinstance(run, RunDir) else RunDir(run)
    if not run_dir.path.exists():
        raise SaboteurError(f"run directory {run_dir.path} does not exist")
    config = run_dir.read_config()
    loaded = run_dir.load()
    if not loaded.verdicts:
        raise SaboteurError(f"run {run_dir.path} holds no verdicts yet")
    label_set = labels or run_label_set(run_dir)
    present = list(dict.fromkeys(v.modality for v in loaded.verdicts))
    order = list(agents) if agents else [m for m in config.modalities if m in present] or present
    order += [] if agents else [m for m in present if m not in order]
    table = VerdictTable.from_verdicts(
        loaded.verdicts, label_set, agents=order, strategy=strategy, model=model
    )
    return LoadedRun(table=table, report=loaded.report, run=run_dir, verdicts=loaded.verdicts)
