"""From a run's verdicts to the diagnostic's arrays: evidence, availability and every quality source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import verdict

from saboteur.errors import SaboteurError
from saboteur.eval.permutation import load_expert_data
from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig, Verdict


def with_extra(v: Verdict, **extra: object) -> Verdict:
    return v.model_copy(update={"extra": dict(extra)})


@pytest.fixture()
def small_run(tmp_path: Path) -> Path:
    """Three clips, agents a and b over labels x, y, z; clip c3 has no truth, b errs on c2."""
    run = RunDir(tmp_path / "run")
    run.create(RunConfig(label_set="custom", labels=["x", "y", "z"], modalities=["a", "b"]))
    run.append(
        [
            with_extra(verdict("c1", "a", [("x", 0.6), ("y", 0.2)], truth="x", quality=0.9), intensity=0.3),
            with_extra(verdict("c1", "b", [("y", 0.5)], truth="x", quality=0.4), intensity="0.4"),
            with_extra(verdict("c2", "a", [("z", 0.8), ("x", 0.8)], truth="z"), intensity="high"),
            verdict("c2", "b", truth="z", error="timeout"),
            verdict("c3", "a", [("x", 1.0)], quality=0.5),
            verdict("c3", "b", [("y", 1.0)], quality=0.5),
        ]
    )
    return run.path


def test_evidence_is_the_normalised_ranking_and_truthless_clips_are_dropped(small_run: Path) -> None:
    data = load_expert_data(small_run)
    assert data.clip_ids == ["c1", "c2"] and data.experts == ["a", "b"] and data.labels == ["x", "y", "z"]
    np.testing.assert_allclose(data.probs[0, 0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(data.probs[0, 1], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(data.probs[1, 0], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(data.probs[1, 1], 0.0)  # the error verdict: absent
    np.testing.assert_array_equal(data.mask, [[True, True], [True, False]])
    np.testing.assert_array_equal(data.truth, [0, 2])
    np.testing.assert_array_equal(data.full_rows, [True, False])
    np.testing.assert_array_equal(data.expert_correct, [[True, False], [False, False]])  # tie -> first label
    np.testing.assert_allclose(data.quality, [[0.9, 0.4], [np.nan, np.nan]])


def test_quality_from_confidence_and_verdict_fields(small_run: Path) -> None:
    conf = load_expert_data(small_run, quality="confidence")
    np.testing.assert_allclose(conf.quality, [[0.6, 0.5], [0.8, np.nan]])
    assert conf.quality_name == "confidence"
    inten = load_expert_data(small_run, quality="extra.intensity")
    np.testing.assert_allclose(inten.quality, [[0.3, 0.4], [np.nan, np.nan]])  # "high" is not a number
    with pytest.raises(SaboteurError, match="no verdict has it"):
        load_expert_data(small_run, quality="extra.nothing")
    with pytest.raises(SaboteurError, match="not numeric"):
        load_expert_data(small_run, quality="rationale")


def test_quality_from_a_csv_in_three_layouts(small_run: Path, tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text("clip_id,q_a,q_b,snr\nc1,0.1,0.2,5\nc2,0.3,0.4,7\nc9,1,1,1\n")
    data = load_expert_data(small_run, quality=f"CSV:{wide}:q_{{agent}}")
    np.testing.assert_allclose(data.quality, [[0.1, 0.2], [0.3, np.nan]])  # b is absent on c2
    shared = load_expert_data(small_run, quality=f"CSV:{wide}:snr")
    np.testing.assert_allclose(shared.quality, [[5.0, 5.0], [7.0, np.nan]])
    long = tmp_path / "long.csv"
    long.write_text("clip_id,agent,q\nc1,a,0.9\nc1,b,0.8\nc2,a,0.7\n")
    np.testing.assert_allclose(
        load_expert_data(small_run, quality=f"CSV:{long}:q").quality, [[0.9, 0.8], [0.7, np.nan]]
    )
    with pytest.raises(SaboteurError, match="missing for every verdict of agent b"):
        long.write_text("clip_id,agent,q\nc1,a,0.9\n")
        load_expert_data(small_run, quality=f"CSV:{long}:q")
    with pytest.raises(SaboteurError, match="no column nope"):
        load_expert_data(small_run, quality=f"CSV:{wide}:nope")
    with pytest.raises(SaboteurError, match="no such quality CSV"):
        load_expert_data(small_run, quality=f"CSV:{tmp_path / 'missing.csv'}:q")
    with pytest.raises(SaboteurError, match="CSV:path:column"):
        load_expert_data(small_run, quality="CSV:only")


def test_one_agent_is_not_enough(small_run: Path) -> None:
    with pytest.raises(SaboteurError, match="at least two experts"):
        load_expert_data(small_run, agents=["a"])
