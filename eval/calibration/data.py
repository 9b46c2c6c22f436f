"""The verdicts a calibration study scores, as flat arrays with the fields to group them by.

contract.md (``saboteur calibrate``): only valid verdicts of clips with a known truth count; per verdict,
confidence = primary confidence and correct = primary label equals truth (a label outside the label set
is wrong). A verdict is one agent's answer for one clip, so one row here is one (clip, agent) cell of a
VerdictTable. Grouping fields: ``agent``, ``strategy``, ``model``, ``label`` (the primary label),
``truth``, ``n_issues``, any other verdict field, or ``extra.KEY``. A numeric field with many distinct
values is cut into quartiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from saboteur.errors import SaboteurError
from saboteur.eval.calibration.scores import ranking_distribution
from saboteur.eval.table import BoolArray, FloatArray, IntArray, VerdictTable, as_int, conditions
from saboteur.labels import LabelSet
from saboteur.schemas import Verdict

StrArray = NDArray[np.str_]
BASE_FIELDS = ("agent", "strategy", "model")
_MAX_LEVELS = 12


@dataclass(frozen=True, eq=False)
class CalibrationData:
    """V scored verdicts as arrays, plus string-valued grouping fields."""

    confidence: FloatArray
    """[V] primary confidence."""
    correct: BoolArray
    """[V] primary label equals the truth."""
    quality: FloatArray
    """[V] self-assessment score (NaN where the agent gave none)."""
    probs: FloatArray
    """[V, K] the agent's ranking normalised to a distribution over the label set."""
    truth: IntArray
    """[V] true label index."""
    clip: IntArray
    """[V] index into ``clip_ids`` (cross-fitting keeps a clip's verdicts in one fold)."""
    clip_ids: list[str]
    labels: LabelSet
    fields: dict[str, StrArray] = field(default_factory=dict)
    """Grouping field -> [V] value of each verdict (always ``agent``, ``strategy``, ``model``)."""

    @property
    def size(self) -> int:
        """V."""
        return int(self.confidence.size)

    def subset(self, rows: IntArray) -> CalibrationData:
        """Only the verdicts at ``rows``."""
        return CalibrationData(
            confidence=self.confidence[rows],
            correct=self.correct[rows],
            quality=self.quality[rows],
            probs=self.probs[rows],
            truth=self.truth[rows],
            clip=self.clip[rows],
            clip_ids=self.clip_ids,
            labels=self.labels,
            fields={name: values[rows] for name, values in self.fields.items()},
        )

    def groups(self, by: Sequence[str]) -> list[tuple[dict[str, str], IntArray]]:
        """(key, rows) of every combination of ``by`` values present, in order of first appearance."""
        unknown = [name for name in by if name not in self.fields]
        if unknown:
            raise SaboteurError(
                f"cannot group by {', '.join(unknown)}: known fields are {', '.join(self.fields)}"
            )
        if not by:
            return [({}, as_int(np.arange(self.size)))]
        keys = np.stack([self.fields[name] for name in by], axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        out = []
        for group in np.argsort(first, kind="stable"):
            rows = as_int(np.flatnonzero(inverse == group))
            out.append(({name: str(self.fields[name][rows[0]]) for name in by}, rows))
        return out

    @classmethod
    def from_table(
        cls, table: VerdictTable, verdicts: Sequence[Verdict] | None = None, by: Sequence[str] = ()
    ) -> CalibrationData:
        """The scored verdicts of a table (one strategy and model); ``by`` fields read from ``verdicts``."""
        rows, cols = np.nonzero(table.mask & table.has_truth[:, None])
        fields: dict[str, StrArray] = {
            "agent": np.asarray(table.agents, dtype=np.str_)[cols],
            "strategy": np.full(rows.size, str(table.strategy)),
            "model": np.full(rows.size, str(table.model)),
        }
        extra = [name for name in by if name not in fields]
        if extra:
            if verdicts is None:
                raise SaboteurError(f"grouping by {', '.join(extra)} needs the verdicts")
            lookup = {(v.clip_id, v.modality): v for v in verdicts if v.ok}
            cells = [
                lookup.get((table.clip_ids[r], table.agents[c])) for r, c in zip(rows, cols, strict=True)
            ]
            for name in extra:
                fields[name] = _levels([None if v is None else field_value(v, name) for v in cells])
        return cls(
            confidence=table.confidence[rows, cols],
            correct=table.agent_correct[rows, cols],
            quality=table.quality[rows, cols],
            probs=ranking_distribution(table.scores[rows, cols]),
            truth=table.truth[rows],
            clip=as_int(rows),
            clip_ids=list(table.clip_ids),
            labels=table.labels,
            fields=fields,
        )

    @classmethod
    def from_verdicts(
        cls,
        verdicts: Sequence[Verdict],
        labels: LabelSet,
        by: Sequence[str] = (),
        agents: Sequence[str] | None = None,
    ) -> CalibrationData:
        """The scored verdicts of every strategy and model in ``verdicts`` (group by them with ``by``)."""
        parts = []
        for strategy, model in conditions(verdicts):
            chosen = [v for v in verdicts if v.strategy == strategy and v.model == model]
            table = VerdictTable.from_verdicts(chosen, labels, strategy=strategy, model=model)
            if agents:
                present = [name for name in agents if name in table.agents]
                if not present:
                    continue
                table = table.select_agents(present)
            parts.append(cls.from_table(table, chosen, by))
        if not parts:
            raise SaboteurError("no verdicts of the chosen agents")
        return concat(parts)


def concat(parts: Sequence[CalibrationData]) -> CalibrationData:
    """One dataset from several (clips are matched by id across parts)."""
    clip_ids = list(dict.fromkeys(cid for part in parts for cid in part.clip_ids))
    position = {cid: i for i, cid in enumerate(clip_ids)}
    names = list(dict.fromkeys(name for part in parts for name in part.fields))
    return CalibrationData(
        confidence=np.concatenate([p.confidence for p in parts]),
        correct=np.concatenate([p.correct for p in parts]),
        quality=np.concatenate([p.quality for p in parts]),
        probs=np.concatenate([p.probs for p in parts]),
        truth=np.concatenate([p.truth for p in parts]),
        clip=as_int(np.concatenate([as_int([position[c] for c in p.clip_ids])[p.clip] for p in parts])),
        clip_ids=clip_ids,
        labels=parts[0].labels,
        fields={
            name: np.concatenate([p.fields.get(name, np.full(p.size, "", dtype=np.str_)) for p in parts])
            for name in names
        },
    )


def check_field(name: str) -> str:
    """``name`` if it is a grouping field (see the module docstring); a clear error otherwise."""
    known = (*BASE_FIELDS, "n_issues")
    if name in known or (name.startswith("extra.") and len(name) > 6):
        return name
    if name in Verdict.model_fields and name not in ("ranking", "usage", "self_assessment"):
        return name
    raise SaboteurError(
        f"unknown grouping field {name!r}: use agent, strategy, model, label, truth, n_issues, "
        "another verdict field, or extra.KEY"
    )


def field_value(verdict: Verdict, name: str) -> Any:
    """A verdict's value for grouping field ``name`` (see the module docstring)."""
    check_field(name)
    if name == "agent":
        return verdict.modality
    if name == "n_issues":
        return len(verdict.self_assessment.issues) if verdict.self_assessment else 0
    if name.startswith("extra."):
        return verdict.extra.get(name.removeprefix("extra."))
    return getattr(verdict, name)


def _levels(values: Sequence[Any]) -> StrArray:
    """Group labels of a field: the values as text, or quartile ranges for a many-valued number."""
    numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numeric) == len(values) and len(set(numeric)) > _MAX_LEVELS:
        x = np.asarray(numeric, dtype=np.float64)
        edges = np.unique(np.quantile(x, [0.25, 0.5, 0.75]))
        quartile = np.searchsorted(edges, x, side="right")
        bounds = np.concatenate([[x.min()], edges, [x.max()]])
        names = [f"q{q + 1} [{bounds[q]:.3g}, {bounds[q + 1]:.3g}]" for q in range(edges.size + 1)]
        return np.asarray([names[q] for q in quartile], dtype=np.str_)
    return np.asarray(["(none)" if v is None else str(v) for v in values], dtype=np.str_)
