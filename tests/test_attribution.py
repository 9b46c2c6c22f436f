"""Attribution: hand-computed saboteurs, contributors, decisive flips and Shapley values; properties."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import verdict
from hypothesis import given, settings
from hypothesis import strategies as st

from saboteur.eval.attribution import attribute, coalition_correctness, shapley_values
from saboteur.eval.evaluate import evaluate
from saboteur.eval.fusion import fuse
from saboteur.eval.metrics import top_k_curve
from saboteur.eval.table import VerdictTable
from saboteur.labels import make_label_set

LABELS = make_label_set(["anger", "joy", "neutral", "sadness"])


def sabotaged_clip() -> VerdictTable:
    # T is right (joy .9); A and V are wrong (sadness .6, .5): fused sadness 1.1 > joy .9 -> wrong
    return VerdictTable.from_verdicts(
        [
            verdict("c", "T", [("joy", 0.9)], truth="joy"),
            verdict("c", "A", [("sadness", 0.6)], truth="joy"),
            verdict("c", "V", [("sadness", 0.5)], truth="joy"),
        ],
        LABELS,
    )


def test_hand_computed_shapley_and_decisive_flags() -> None:
    a = attribute(sabotaged_clip(), "confidence", tau=0.7)
    assert a.fused_correct.tolist() == [False]
    # v(T)=v(TA)=v(TV)=1, every other coalition 0 -> phi_T = 1/3 + 1/6 + 1/6 = 2/3, phi_A = phi_V = -1/3
    assert a.shapley[0].tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3])
    assert a.decisive_saboteur[0].tolist() == [False, True, True]
    assert a.decisive_contributor[0].tolist() == [False, False, False]
    assert a.contributor[0].tolist() == [False, False, False]  # T is right but the fusion is wrong
    # tau = 0.7: nobody wrong is that confident
    assert a.potential_saboteur[0].tolist() == [False, False, False]


def test_tau_edges() -> None:
    t = sabotaged_clip()
    at_06 = attribute(t, tau=0.6)
    assert at_06.potential_saboteur[0].tolist() == [False, True, False]  # 0.6 >= 0.6 counts
    assert at_06.successful_saboteur[0].tolist() == [False, True, False]  # sadness is the fused top-1
    above = attribute(t, tau=np.nextafter(0.6, 1.0))
    assert above.potential_saboteur[0].tolist() == [False, False, False]
    assert attribute(t, tau=0.0).potential_saboteur[0].tolist() == [False, True, True]


def test_potential_but_not_successful_saboteur() -> None:
    # A is confidently wrong (anger .8) but the fusion picks joy: potential, not successful
    t = VerdictTable.from_verdicts(
        [
            verdict("c", "T", [("joy", 0.9), ("anger", 0.1)], truth="joy"),
            verdict("c", "A", [("anger", 0.8)], truth="joy"),
            verdict("c", "V", [("joy", 0.5)], truth="joy"),
        ],
        LABELS,
    )
    a = attribute(t, tau=0.7)
    assert a.potential_saboteur[0].tolist() == [False, True, False]
    assert a.successful_saboteur[0].tolist() == [False, False, False]
    assert a.contributor[0].tolist() == [True, False, True]
    # removing T: anger .8 vs joy .5 -> wrong, so T is decisive; removing V: joy .9 vs anger .9, tie
    # broken by first-seen (T lists joy first) -> still right, so V is not decisive
    assert a.decisive_contributor[0].tolist() == [True, False, False]


def test_error_agents_get_no_flags_and_zero_shapley() -> None:
    t = VerdictTable.from_verdicts(
        [
            verdict("c", "T", [("joy", 0.9)], truth="joy"),
            verdict("c", "A", error="server error", truth="joy"),
        ],
        LABELS,
    )
    a = attribute(t, tau=0.0)
    assert a.shapley[0].tolist() == [1.0, 0.0]
    assert not a.potential_saboteur[0, 1] and not a.contributor[0, 1]


def test_counts_in_evaluation_are_integers() -> None:
    result = evaluate(sabotaged_clip(), "confidence", tau=0.5)
    a = result.per_modality["A"]
    assert (a.potential_saboteur, a.successful_saboteur, a.decisive_saboteur) == (1, 1, 1)
    assert result.per_modality["T"].shapley == pytest.approx(2 / 3)
    assert result.to_json()["per_modality"]["V"]["successful_saboteur"] == 1


@st.composite
def random_tables(draw: st.DrawFn) -> VerdictTable:
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 4))
    k = LABELS.size
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    levels = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])  # coarse values make ties common
    scores = levels[rng.integers(0, levels.size, (n, m, k))]
    order = np.argsort(-scores, axis=2, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(k)[None, None, :], axis=2)
    rank = np.where(scores > 0, rank, k)
    primary = np.where(scores.max(axis=2) > 0, order[:, :, 0], -1)
    return VerdictTable(
        clip_ids=[str(i) for i in range(n)],
        agents=[f"a{j}" for j in range(m)],
        labels=LABELS,
        scores=scores,
        rank=rank,
        primary=primary,
        confidence=scores.max(axis=2),
        quality=rng.random((n, m)),
        mask=rng.random((n, m)) < 0.85,
        truth=rng.integers(0, k, n),
    )


@settings(max_examples=60, deadline=None)
@given(random_tables(), st.sampled_from(["confidence", "quality", "primary", "majority", "uniform"]))
def test_properties(table: VerdictTable, rule: str) -> None:
    fused = fuse(table, rule)
    curve = top_k_curve(fused.truth_position(table.truth), table.n_labels)
    assert np.all(np.diff(curve) >= 0), "top-k coverage is non-decreasing in k"
    assert curve[0] == pytest.approx(np.mean(fused.top1 == table.truth))
    values = coalition_correctness(table, rule)
    phi = shapley_values(values)
    assert phi.sum(axis=1) == pytest.approx(values[-1].astype(float) - values[0].astype(float))
    a = attribute(table, rule, tau=0.5)
    assert not np.any(a.successful_saboteur & ~a.potential_saboteur)
    assert not np.any(a.contributor & ~a.correct)
    assert not np.any(a.decisive_contributor & a.decisive_saboteur)
    assert np.all(a.shapley[~a.available] == 0)
    # each ranking is a permutation of the labels
    assert np.all(np.sort(fused.ranking, axis=1) == np.arange(table.n_labels))
