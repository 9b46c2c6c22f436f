"""Hand-computed fusion cases: ties, missing and error agents, each built-in rule."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import verdict

from saboteur.errors import SaboteurError
from saboteur.eval.fusion import FusionRule, fuse, fusion_rule, get_rule, rules
from saboteur.eval.table import VerdictTable
from saboteur.labels import make_label_set

LABELS = make_label_set(["anger", "joy", "neutral", "sadness"])


def table(*verdicts_: object, agents: list[str] | None = None) -> VerdictTable:
    return VerdictTable.from_verdicts(list(verdicts_), LABELS, agents=agents)  # type: ignore[arg-type]


def labels_of(indices: np.ndarray) -> list[str]:
    return [LABELS.labels[i] for i in indices]


def test_confidence_rule_sums_whole_rankings() -> None:
    t = table(
        verdict("c", "T", [("joy", 0.6), ("sadness", 0.3)], truth="sadness"),
        verdict("c", "A", [("sadness", 0.5), ("anger", 0.4)], truth="sadness"),
    )
    fused = fuse(t, "confidence")
    assert fused.scores[0].tolist() == pytest.approx([0.4, 0.6, 0.0, 0.8])
    assert labels_of(fused.ranking[0][:3]) == ["sadness", "joy", "anger"]
    assert fused.probabilities[0].sum() == pytest.approx(1.0)
    assert fused.probabilities[0][3] == pytest.approx(0.8 / 1.8)


def test_exact_tie_keeps_first_seen_order_of_agents_then_rank() -> None:
    # joy and sadness both sum to 1.1; T mentions joy first, so joy wins even though A lists sadness first
    t = table(
        verdict("c", "T", [("joy", 0.6), ("sadness", 0.5)]),
        verdict("c", "A", [("sadness", 0.6), ("joy", 0.5)]),
    )
    assert labels_of(fuse(t).ranking[0][:2]) == ["joy", "sadness"]
    # the same verdicts with the agents in the other order: sadness is seen first
    t2 = table(
        verdict("c", "T", [("joy", 0.6), ("sadness", 0.5)]),
        verdict("c", "A", [("sadness", 0.6), ("joy", 0.5)]),
        agents=["A", "T"],
    )
    assert labels_of(fuse(t2).ranking[0][:2]) == ["sadness", "joy"]


def test_float_rounding_does_not_break_an_exact_tie() -> None:
    # joy = 0.3 exactly; sadness = 0.1 + 0.2 = 0.30000000000000004 in floating point: still a tie
    t = table(
        verdict("c", "T", [("joy", 0.3)]),
        verdict("c", "A", [("sadness", 0.1)]),
        verdict("c", "V", [("sadness", 0.2)]),
    )
    assert 0.1 + 0.2 > 0.3
    assert labels_of(fuse(t).ranking[0][:2]) == ["joy", "sadness"]


def test_error_and_missing_agents_are_skipped() -> None:
    t = table(
        verdict("c1", "T", [("joy", 0.9)], truth="joy"),
        verdict("c1", "A", error="timeout", truth="joy"),
        verdict("c2", "A", [("anger", 0.8)], truth="anger"),  # no T verdict for c2 at all
    )
    assert t.mask.tolist() == [[True, False], [False, True]]
    fused = fuse(t)
    assert labels_of(fused.top1) == ["joy", "anger"]


def test_clip_with_no_usable_agent_has_no_prediction() -> None:
    t = table(verdict("c1", "T", [("joy", 0.9)], truth="joy"), verdict("c2", "T", error="x", truth="joy"))
    fused = fuse(t)
    assert fused.top1.tolist() == [1, -1]
    assert fused.truth_position(t.truth).tolist() == [0, LABELS.size]


def test_primary_rule_uses_primary_labels_and_primary_order() -> None:
    t = table(
        verdict("c", "T", [("joy", 0.6), ("sadness", 0.59)]),
        verdict("c", "A", [("anger", 0.6), ("joy", 0.5)]),
    )
    fused = fuse(t, "primary")
    assert fused.scores[0].tolist() == pytest.approx([0.6, 0.6, 0.0, 0.0])
    assert labels_of(fused.ranking[0][:2]) == ["joy", "anger"]  # tie: T's primary first


def test_quality_rule_weights_by_self_assessment() -> None:
    t = table(
        verdict("c", "T", [("joy", 0.9)], quality=0.1),
        verdict("c", "A", [("sadness", 0.5)], quality=0.9),
    )
    assert labels_of(fuse(t, "confidence").top1) == ["joy"]
    fused = fuse(t, "quality")
    assert fused.scores[0].tolist() == pytest.approx([0.0, 0.09, 0.0, 0.45])
    assert labels_of(fused.top1) == ["sadness"]


def test_quality_rule_treats_a_missing_score_as_half() -> None:
    t = table(verdict("c", "T", [("joy", 0.8)]), verdict("c", "A", [("sadness", 0.5)], quality=0.7))
    assert fuse(t, "quality").scores[0].tolist() == pytest.approx([0.0, 0.4, 0.0, 0.35])


def test_majority_max_confidence_uniform() -> None:
    t = table(
        verdict("c", "T", [("joy", 0.9), ("neutral", 0.1)]),
        verdict("c", "A", [("sadness", 0.6), ("neutral", 0.4)]),
        verdict("c", "V", [("sadness", 0.5), ("joy", 0.5)]),
    )
    assert labels_of(fuse(t, "majority").top1) == ["sadness"]
    assert fuse(t, "majority").scores[0].tolist() == [0.0, 1.0, 0.0, 2.0]
    assert labels_of(fuse(t, "max_confidence").top1) == ["joy"]
    uniform = fuse(t, "uniform").scores[0]
    assert uniform.tolist() == pytest.approx([0.0, (0.9 + 0.5) / 3, (0.1 + 0.4) / 3, (0.6 + 0.5) / 3])


def test_oracle_is_right_whenever_any_agent_is() -> None:
    t = table(
        verdict("c1", "T", [("joy", 0.9)], truth="sadness"),
        verdict("c1", "A", [("sadness", 0.2)], truth="sadness"),
        verdict("c2", "T", [("joy", 0.9)], truth="anger"),
        verdict("c2", "A", [("neutral", 0.8), ("anger", 0.1)], truth="anger"),
    )
    fused = fuse(t, "oracle")
    assert labels_of(fused.top1) == ["sadness", "neutral"]
    assert fused.truth_position(t.truth).tolist() == [0, 1]


def test_label_order_ties_override() -> None:
    t = table(verdict("c", "T", [("sadness", 0.5)]), verdict("c", "A", [("joy", 0.5)]))
    assert labels_of(fuse(t).top1) == ["sadness"]
    assert labels_of(fuse(t, ties="label").top1) == ["joy"]


def test_a_user_rule_is_one_registered_function() -> None:
    @fusion_rule("loudest_agent_only", description="only the last agent counts")
    def last(table: VerdictTable, mask: np.ndarray) -> np.ndarray:
        return table.scores[:, -1] * mask[:, -1:]

    try:
        t = table(verdict("c", "T", [("joy", 0.9)]), verdict("c", "A", [("anger", 0.1)]))
        assert labels_of(fuse(t, "loudest_agent_only").top1) == ["anger"]
        assert rules()["loudest_agent_only"].description == "only the last agent counts"
    finally:
        from saboteur.eval import fusion

        fusion._RULES.pop("loudest_agent_only")


def test_unknown_rule_and_bad_shape_are_clear_errors() -> None:
    with pytest.raises(SaboteurError, match="unknown fusion rule 'nope'"):
        get_rule("nope")

    @fusion_rule("bad_shape")
    def bad(table: VerdictTable, mask: np.ndarray) -> np.ndarray:
        return np.zeros(3)

    try:
        t = table(verdict("c", "T", [("joy", 0.9)]))
        with pytest.raises(SaboteurError, match="returned shape"):
            fuse(t, "bad_shape")
    finally:
        from saboteur.eval import fusion

        fusion._RULES.pop("bad_shape")


def test_builtin_rules_are_registered() -> None:
    expected = {"confidence", "primary", "quality", "majority", "max_confidence", "uniform", "oracle"}
    assert expected <= set(rules())
    rule: FusionRule = get_rule("confidence").func
    assert callable(rule)
